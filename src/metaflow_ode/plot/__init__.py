"""Matplotlib helpers for simulation datasets.

Needs the `plot` extra: `pip install metaflow_ode[plot]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

__all__ = ["burden", "stage_timeline"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "metaflow_ode.plot needs matplotlib: `pip install metaflow_ode[plot]`."
        ) from error
    return plt


def burden(
    ds: xr.Dataset,
    organs: Sequence[str] | None = None,
    *,
    ax=None,
    floor: float = 1.0,
    years: bool = True,
):
    """Plot tumour burden per organ over time on a log scale, with failure thresholds.

    Each organ's burden (cells) is a solid line; its failure burden (`failure_burden`, the
    cells at which it fails) a dashed line of the same colour; the whole-body burden a thick
    black line with the lethal burden dashed; the time of death a vertical grey line. Values
    below `floor` cells are not drawn.

    **Arguments:**

    - `ds`: a dataset from [`simulate`][metaflow_ode.simulate].
    - `organs`: organs to draw; default every organ whose burden reaches `floor`.
    - `ax`: a matplotlib `Axes`; default a new figure.
    - `floor`: lowest burden drawn, in cells (default 1 cell).
    - `years`: time axis in years (default) rather than days.

    **Returns:** the `Axes`.
    """
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    scale = 365.25 if years else 1.0
    t = ds.time.values / scale
    if organs is None:
        peak = ds.burden.max("time")
        organs = [str(o) for o in ds.organ.values if float(peak.sel(organ=o)) >= floor]
    colours = plt.get_cmap("tab20").colors
    for i, organ in enumerate(organs):
        y = ds.burden.sel(organ=organ).values
        (line,) = ax.plot(
            t, np.where(y >= floor, y, np.nan), label=organ, color=colours[i % len(colours)]
        )
        threshold = float(ds.failure_burden.sel(organ=organ))
        if np.isfinite(threshold):
            ax.axhline(threshold, color=line.get_color(), linestyle="--", linewidth=0.8)
    total = ds.burden.sum("organ").values
    ax.plot(t, np.where(total >= floor, total, np.nan), color="black", lw=2, label="whole body")
    if "lethal_burden" in ds and np.isfinite(float(ds.lethal_burden)):
        ax.axhline(float(ds.lethal_burden), color="black", linestyle="--", linewidth=1.0)
    death = float(ds.death_time)
    if np.isfinite(death):
        cause = str(ds.cause_of_death.values)
        ax.axvline(death / scale, color="0.4", linewidth=1.0)
        ax.annotate(
            f" death ({cause})",
            (death / scale, 1.0),
            xycoords=("data", "axes fraction"),
            va="top",
            color="0.3",
        )
    ax.set_yscale("log")
    ax.set_xlabel("time (years)" if years else "time (days)")
    ax.set_ylabel("tumour burden (cells)")
    ax.set_title(ds.attrs.get("title", ""), fontsize="medium")
    ax.legend(ncols=2, fontsize="small", loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return ax


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

    - `datasets`: one staged dataset or a sequence of them (one bar each, top to bottom).
    - `labels`: a label per dataset; default `patient 1`, `patient 2`, ...
    - `ax`: a matplotlib `Axes`; default a new figure.
    - `years`: time axis in years (default) rather than days.

    **Returns:** the `Axes`.
    """
    plt = _pyplot()
    from matplotlib.patches import Patch

    if isinstance(datasets, xr.Dataset):
        datasets = [datasets]
    datasets = list(datasets)
    if labels is None:
        labels = [f"patient {i + 1}" for i in range(len(datasets))]
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
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 1.0 + 0.6 * len(datasets)), layout="constrained")
    scale = 365.25 if years else 1.0
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
    ax.set_xlabel("time (years)" if years else "time (days)")
    handles = [Patch(color=c, label=s.replace("_", " ")) for s, c in STAGE_COLOURS.items()]
    ax.legend(handles=handles, fontsize="x-small", ncols=3, loc="upper left")
    return ax
