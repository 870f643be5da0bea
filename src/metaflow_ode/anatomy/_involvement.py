"""Organ involvement at death: the model-side quantity compared with autopsy frequencies."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from .._model import Model
from .._resolution import Colonies, Lumped
from .._simulate import at, simulate
from ._reference import SITES

__all__ = ["involvement", "site_organs"]


def site_organs(site: str, model: Model | None = None) -> tuple[str, ...]:
    """The organs of an autopsy site (`"bone"`: every bone compartment; `"peritoneum"`: the
    peritoneum and its Meyers pooling sites; else the organ itself), restricted to the organs
    of `model` when given."""
    organs = SITES.get(site, (site,))
    if model is not None:
        organs = tuple(o for o in organs if o in model.organ_names)
    return organs


def involvement(
    model: Model,
    sites: Iterable[str],
    *,
    horizon: float = 7300.0,
    resolution: Lumped | Colonies = Lumped(eliminate_carriers=True),
    **simulate_options,
) -> pd.Series:
    """Probability that each site holds at least one metastasis at death.

    The model is simulated until death (its first organ failure or the whole-body lethal
    burden) or `horizon` days, whichever comes first; a site is involved with the Poisson
    probability `1 - exp(-N)` of at least one colony, `N` the colonies founded in its organs
    (primary and secondary origin). This is what an autopsy series reports as the share of
    patients with metastases in the site. Two solves: one to find the death time, one that
    saves at it (same shapes, so the second does not recompile).

    **Arguments:**

    - `model`: a [`Model`][metaflow_ode.Model], e.g. from
      [`reference_model`][metaflow_ode.anatomy.reference_model].
    - `sites`: site names: organs of the model, or `"bone"` for all bone compartments.
    - `horizon`: latest time considered, in days (default 20 years).
    - `resolution`, `**simulate_options`: passed to [`simulate`][metaflow_ode.simulate].

    **Returns:** a `pandas.Series` of probabilities (dimensionless) indexed by site, with
    `attrs["time"]` the time of evaluation (days) and `attrs["cause_of_death"]`.
    """
    sites = list(sites)
    for site in sites:
        if not site_organs(site, model):
            raise ValueError(
                f"`involvement(sites=...)`: site {site!r} needs organ(s) "
                f"{list(site_organs(site))} that the model does not have."
            )
    if "saveat" in simulate_options or "t0" in simulate_options:
        raise TypeError(
            "`involvement(...)` chooses the save time itself (the death) and starts at t0 = 0; "
            "do not pass `saveat` or `t0`."
        )
    first = simulate(
        model, horizon, saveat=at([horizon]), resolution=resolution, **simulate_options
    )
    death = float(first.death_time)
    when = death if math.isfinite(death) else horizon
    if when <= 0.0:
        raise ValueError(
            "`involvement(...)`: the model is dead at t = 0 (a failure criterion or the lethal "
            "burden is already reached); there is no time of death to evaluate."
        )
    ds = simulate(model, when, saveat=at([when]), resolution=resolution, **simulate_options)
    colonies = ds.colonies.sum("origin").isel(time=-1)
    values = []
    for site in sites:
        n = float(colonies.sel(organ=list(site_organs(site, model))).sum())
        values.append(-np.expm1(-n))
    out = pd.Series(values, index=pd.Index(sites, name="site"), name="involvement")
    out.attrs["time"] = when
    out.attrs["cause_of_death"] = str(first.cause_of_death.values) if math.isfinite(death) else ""
    return out
