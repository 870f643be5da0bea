"""Matplotlib helpers for simulation datasets.

Needs the `plot` extra: `pip install metaflow_ode[plot]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

__all__ = ["burden"]


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
