"""Swimmer plot of the stages of one or many simulations."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ._common import axes, time_scale

STAGE_COLOURS = {
    "localised": "#4daf4a",
    "oligometastatic": "#a6d854",
    "polymetastatic": "#ffd92f",
    "organ_function_threatened": "#fc8d62",
    "organ_failure": "#e41a1c",
    "end_of_life": "#7f7f7f",
}
"""Colour of each stage of [`STAGES`][metaflow_ode.STAGES] in the stage timeline."""


def stage_timeline(
    datasets: xr.Dataset | Sequence[xr.Dataset],
    labels: Sequence[str] | None = None,
    *,
    ax=None,
    years: bool = True,
):
    """Swimmer plot: one bar per simulation, coloured by stage over time.

    Each bar shows the stage of the Bio Therapeutic Goals of Cancer Care model (the `stage`
    variable of [`simulate`][metaflow_ode.simulate] or [`stage`][metaflow_ode.stage]) on the
    save grid, the stage at each save holding until the next. Jump interventions
    (`intervention_time`) are marked with a black triangle and named; death with a cross.

    **Arguments:**

    - `datasets`: one staged dataset or a sequence of them (one bar each, top to bottom), or
      one dataset with a `patient` dimension and a staged `stage` (patient, time) variable
      (one bar per patient).
    - `labels`: a label per bar; default `patient 1`, `patient 2`, ... (for a cohort,
      `patient <coordinate>`).
    - `ax`: a matplotlib `Axes`; default a new figure.
    - `years`: time axis in years (default) rather than days.

    **Returns:** the `Axes`.
    """
    from matplotlib.patches import Patch

    default_labels = None
    if isinstance(datasets, xr.Dataset) and "patient" in datasets.dims:
        if "stage" not in datasets:
            raise ValueError(
                "`plot.stage_timeline`: a cohort from `mfo.simulate_cohort` is not staged; stage "
                "each patient: `[mfo.stage(cohort.isel(patient=i)) for i in range(n)]`."
            )
        default_labels = [f"patient {p}" for p in datasets["patient"].values]
        datasets = [datasets.isel(patient=i) for i in range(datasets.sizes["patient"])]
    elif isinstance(datasets, xr.Dataset):
        datasets = [datasets]
    if isinstance(datasets, (str, bytes)) or not isinstance(datasets, Sequence):
        raise TypeError(
            "`plot.stage_timeline(datasets)` takes a staged dataset, a sequence of them or a "
            f"staged cohort, got {type(datasets).__name__}."
        )
    datasets = list(datasets)
    if not datasets or not all(isinstance(ds, xr.Dataset) for ds in datasets):
        raise TypeError(
            "`plot.stage_timeline(datasets)` needs at least one dataset, each an "
            "`xarray.Dataset` from `mfo.simulate` or `mfo.stage`."
        )
    if labels is None:
        labels = default_labels or [f"patient {i + 1}" for i in range(len(datasets))]
    if len(labels) != len(datasets):
        raise ValueError(
            f"`stage_timeline(labels=...)` needs one label per dataset: got {len(labels)} "
            f"labels for {len(datasets)} datasets."
        )
    for ds in datasets:
        if "stage" not in ds:
            raise ValueError(
                "`stage_timeline` needs staged datasets: simulate with the default `staging` "
                "or call `mfo.stage(dataset)` first."
            )
    ax = axes(ax, (9, 1.0 + 0.6 * len(datasets)))
    scale, xlabel = time_scale(years)
    for row, ds in enumerate(datasets):
        y = len(datasets) - 1 - row
        t = ds.time.values / scale
        stages = [str(s) for s in ds.stage.values]
        start = 0
        for i in range(1, len(t) + 1):
            if i == len(t) or stages[i] != stages[start]:
                end = t[min(i, len(t) - 1)]
                ax.barh(
                    y, end - t[start], left=t[start], height=0.6, color=STAGE_COLOURS[stages[start]]
                )
                start = i
        if "intervention_time" in ds:
            marks: dict[float, list[str]] = {}
            for j, name in enumerate(ds.intervention.values):
                for when in np.atleast_1d(ds.intervention_time.isel(intervention=j).values):
                    if np.isfinite(when):
                        kind = str(name).split("(")[0]
                        names = marks.setdefault(float(when), [])
                        if kind not in names:
                            names.append(kind)
            for when, names in marks.items():
                ax.plot(when / scale, y + 0.38, "v", color="black", markersize=6)
                ax.annotate(
                    ", ".join(names),
                    (when / scale, y + 0.45),
                    fontsize="x-small",
                    ha="center",
                    va="bottom",
                )
        death = float(ds.death_time)
        if np.isfinite(death):
            ax.plot(death / scale, y, "x", color="black", markersize=9, markeredgewidth=2)
    ax.set_yticks(range(len(datasets)), list(labels)[::-1])
    ax.set_ylim(-0.6, len(datasets) + 0.9)  # room for the legend above the bars
    ax.set_xlabel(xlabel)
    handles = [Patch(color=c, label=s.replace("_", " ")) for s, c in STAGE_COLOURS.items()]
    ax.legend(handles=handles, fontsize="x-small", ncols=3, loc="upper left")
    return ax
