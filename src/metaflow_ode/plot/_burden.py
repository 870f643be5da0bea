"""Plots of one simulation: organ burden over time and colony size distributions."""

from __future__ import annotations

import json
import numbers
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ._common import axes, check_dataset, check_organs, pyplot, time_scale


def _warning_fraction(ds: xr.Dataset, organ: str) -> float:
    """The organ's `Failure(warning=...)`, from the dataset's attrs (NaN: none or unknown)."""
    try:
        value = json.loads(ds.attrs.get("parameters", "{}")).get(f"{organ}.failure.warning")
    except (TypeError, ValueError):
        return np.nan
    return float(value) if isinstance(value, (int, float)) else np.nan


def _on_curve(t: np.ndarray, y: np.ndarray, when: float) -> float:
    """The burden at time `when`, interpolated log-linearly between save times."""
    with np.errstate(divide="ignore"):
        log_y = np.log(np.maximum(y, 1e-300))
    return float(np.exp(np.interp(when, t, log_y)))


def burden(
    ds: xr.Dataset,
    organs: Sequence[str] | None = None,
    *,
    ax=None,
    floor: float = 1.0,
    years: bool = True,
):
    """Plot tumour burden per organ over time on a log scale, with failure and warning levels
    and the events of the simulation.

    Each organ's burden (cells) is a solid line; its failure burden (`failure_burden`, the
    cells at which it fails) a dashed line of the same colour and its warning burden (the
    failure burden times the organ's `Failure(warning=...)` fraction) a dotted one. The
    organ's warning (`warning_time`) is marked on its curve with an open circle and its failure
    (`failure_time`) with a cross, whatever the mechanism that reached it. The whole-body
    burden is a thick black line with the lethal burden dashed; the time of death a vertical
    grey line, named with its cause. Values below `floor` cells are not drawn.

    **Arguments:**

    - `ds`: the dataset of one simulation, from [`simulate`][metaflow_ode.simulate] (for a
      cohort, select a patient first: `cohort.isel(patient=0)`).
    - `organs`: organs to draw; default every organ whose burden reaches `floor`.
    - `ax`: a matplotlib `Axes`; default a new figure.
    - `floor`: lowest burden drawn, in cells (> 0; default 1 cell).
    - `years`: time axis in years (default) rather than days.

    **Returns:** the `Axes`.

    **Raises:** `TypeError` if `ds` is not an `xarray.Dataset`; `ValueError` for a cohort, an
    organ not in the dataset or a `floor` that is not positive.
    """
    plt = pyplot()
    from matplotlib.lines import Line2D

    check_dataset(ds, "burden", ["burden", "failure_burden"])
    if isinstance(floor, bool) or not isinstance(floor, numbers.Real):
        raise TypeError(
            f"`plot.burden(floor=...)` must be a number of cells, got {type(floor).__name__}."
        )
    if not np.isfinite(floor) or floor <= 0:
        raise ValueError(
            f"`plot.burden(floor=...)` must be a positive number of cells, got {floor!r}."
        )
    if organs is None:
        peak = ds.burden.max("time")
        organs = [str(o) for o in ds.organ.values if float(peak.sel(organ=o)) >= floor]
    else:
        organs = check_organs(ds, organs, "burden")
    ax = axes(ax, (9, 5.5))
    scale, xlabel = time_scale(years)
    days = ds.time.values
    t = days / scale
    # 20 distinct colours: one per organ of the whole-body presets
    colours = plt.get_cmap("tab20").colors
    for i, organ in enumerate(organs):
        y = ds.burden.sel(organ=organ).values
        colour = colours[i % len(colours)]
        ax.plot(t, np.where(y >= floor, y, np.nan), label=organ, color=colour)
        threshold = float(ds.failure_burden.sel(organ=organ))
        if np.isfinite(threshold):
            ax.axhline(threshold, color=colour, linestyle="--", linewidth=0.8)
            warning = threshold * _warning_fraction(ds, organ)
            if np.isfinite(warning):
                ax.axhline(warning, color=colour, linestyle=":", linewidth=0.8)
        for name, marker, face in (("warning_time", "o", "none"), ("failure_time", "X", colour)):
            when = float(ds[name].sel(organ=organ)) if name in ds else np.nan
            if np.isfinite(when):
                ax.plot(
                    when / scale,
                    max(_on_curve(days, y, when), floor),
                    marker=marker,
                    markersize=8,
                    markeredgecolor=colour,
                    markerfacecolor=face,
                    linestyle="none",
                    label=f"_{name} {organ}",
                )
    total = ds.burden.sum("organ").values
    ax.plot(t, np.where(total >= floor, total, np.nan), color="black", lw=2, label="whole body")
    if "lethal_burden" in ds and np.isfinite(float(ds.lethal_burden)):
        ax.axhline(float(ds.lethal_burden), color="black", linestyle="--", linewidth=1.0)
    death = float(ds.death_time) if "death_time" in ds else np.nan
    if np.isfinite(death):
        cause = str(ds.cause_of_death.values) if "cause_of_death" in ds else ""
        ax.axvline(death / scale, color="0.4", linewidth=1.0, label="_death")
        ax.annotate(
            f" death ({cause})" if cause else " death",
            (death / scale, 1.0),
            xycoords=("data", "axes fraction"),
            va="top",
            color="0.3",
        )
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tumour burden (cells)")
    ax.set_title(ds.attrs.get("title", ""), fontsize="medium")
    handles, _ = ax.get_legend_handles_labels()
    grey = dict(color="0.3", linewidth=0.8)
    handles += [
        Line2D([], [], linestyle="--", label="failure level", **grey),
        Line2D([], [], linestyle=":", label="warning level", **grey),
        Line2D([], [], marker="o", markerfacecolor="none", ls="none", label="warning", **grey),
        Line2D([], [], marker="X", ls="none", label="organ failure", **grey),
    ]
    ax.legend(handles=handles, ncols=2, fontsize="small", loc="upper left")
    ax.grid(True, which="major", alpha=0.3)
    return ax


def _colonies_dataset(ds, function: str) -> None:
    check_dataset(ds, function, ["burden"])
    if "size_distribution" not in ds or "size_lower" not in ds.coords:
        raise ValueError(
            f"`plot.{function}` needs a size distribution, which only the colonies fidelity "
            "computes: simulate with `resolution=mfo.Colonies(...)`."
        )


def size_distribution(
    ds: xr.Dataset,
    organ: str,
    *,
    times: Sequence[float] | None = None,
    ax=None,
    years: bool = True,
):
    """Plot the size distribution of an organ's colonies on log-log axes, one curve per time.

    Each curve is the expected number of colonies in each size bin (`size_distribution`,
    colonies per bin, the bins bounded by `size_lower` and `size_upper`) against the geometric
    centre of the bin (`size`, cells), at one save time. Empty bins are not drawn.

    **Arguments:**

    - `ds`: the dataset of one simulation with the colonies fidelity, from
      [`simulate`][metaflow_ode.simulate] with `resolution=mfo.Colonies(...)`.
    - `organ`: the organ whose colonies are drawn.
    - `times`: save times to draw, in days (each the nearest save time is used); default up
      to five save times spread over those with colonies.
    - `ax`: a matplotlib `Axes`; default a new figure.
    - `years`: times in the legend in years (default) rather than days.

    **Returns:** the `Axes`.

    **Raises:** `TypeError` if `ds` is not an `xarray.Dataset`; `ValueError` for a lumped
    dataset (no size distribution), a cohort, an organ not in the dataset, or times outside
    the save times.
    """
    plt = pyplot()
    _colonies_dataset(ds, "size_distribution")
    if not isinstance(organ, str):
        raise TypeError(
            "`plot.size_distribution(organ=...)` must be one organ name, got "
            f"{type(organ).__name__}."
        )
    (organ,) = check_organs(ds, [organ], "size_distribution", "organ")
    counts = ds.size_distribution.sel(organ=organ)
    saved = ds.time.values
    if times is None:
        populated = saved[(counts > 0).any("size").values]
        if populated.size == 0:
            raise ValueError(
                f"`plot.size_distribution`: organ {organ!r} has no colonies at any save time; "
                f"choose another organ of {[str(o) for o in ds.organ.values]}."
            )
        pick = np.unique(np.round(np.linspace(0, populated.size - 1, min(5, populated.size))))
        times = populated[pick.astype(int)]
    else:
        times = np.atleast_1d(np.asarray(times, dtype=float))
        outside = times[(times < saved[0]) | (times > saved[-1]) | ~np.isfinite(times)]
        if times.ndim != 1 or times.size == 0 or outside.size:
            raise ValueError(
                f"`plot.size_distribution(times=...)` must be save times in days within "
                f"[{saved[0]}, {saved[-1]}]; got {times.tolist()}."
            )
    ax = axes(ax, (7, 4.5))
    scale, unit = time_scale(years)
    unit = unit.removeprefix("time (").removesuffix(")")
    colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, len(times)))
    size = ds["size"].values
    for when, colour in zip(times, colours, strict=True):
        y = counts.sel(time=when, method="nearest")
        actual = float(y.time)
        values = y.values
        ax.plot(
            size,
            np.where(values > 0, values, np.nan),
            "o-",
            color=colour,
            markersize=3,
            label=f"t = {actual / scale:.3g} {unit}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("colony size (cells)")
    ax.set_ylabel("expected colonies per size bin")
    ax.set_title(f"colonies in {organ}", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(True, which="major", alpha=0.3)
    return ax
