"""Matplotlib helpers for simulation datasets, cohorts, models and fits.

Needs the `plot` extra: `pip install metaflow_ode[plot]`. Every function takes its data
first, draws on the `ax=` it is given (default: a new figure), returns the `Axes` and never
calls `plt.show()`.
"""

from ._burden import burden as burden
from ._burden import size_distribution as size_distribution
from ._cohort import causes_of_death as causes_of_death
from ._cohort import survival as survival
from ._fit import fit_diagnostics as fit_diagnostics
from ._graph import ROUTE_COLOURS as ROUTE_COLOURS
from ._graph import model_graph as model_graph
from ._timeline import STAGE_COLOURS as STAGE_COLOURS
from ._timeline import stage_timeline as stage_timeline

__all__ = [
    "ROUTE_COLOURS",
    "STAGE_COLOURS",
    "burden",
    "causes_of_death",
    "fit_diagnostics",
    "model_graph",
    "size_distribution",
    "stage_timeline",
    "survival",
]
