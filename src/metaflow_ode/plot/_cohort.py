"""Plots of a cohort: Kaplan-Meier curves and the shares of the causes of death."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .._population import cause_of_death_shares, kaplan_meier
from ._common import axes, check_dataset, check_organs, pyplot, time_scale


def survival(
    cohort: xr.Dataset,
    *,
    organs: Sequence[str] | None = None,
    confidence: float = 0.95,
    ax=None,
    years: bool = True,
):
    """Plot Kaplan-Meier curves of a cohort with their confidence bands.

    The curves of [`kaplan_meier`][metaflow_ode.kaplan_meier]: overall survival (black) and the
    failure-free survival of each chosen organ (cause-specific: death from another cause
    censors it), as steps, each with its pointwise confidence band (log-log interval on
    Greenwood's variance) shaded. The legend gives each curve's number of events.

    **Arguments:**

    - `cohort`: the dataset of a cohort, from [`simulate_cohort`][metaflow_ode.simulate_cohort]
      (a `patient` dimension, `death_time` and `failure_time`).
    - `organs`: organs whose failure-free survival is drawn; default every organ that fails in
      at least one patient. `[]` draws overall survival alone.
    - `confidence`: confidence level of the bands, in (0, 1) (default 0.95).
    - `ax`: a matplotlib `Axes`; default a new figure.
    - `years`: time axis in years (default) rather than days.

    **Returns:** the `Axes`.

    **Raises:** `TypeError` if `cohort` is not an `xarray.Dataset`; `ValueError` for a single
    simulation (no `patient` dimension) or an organ not in the cohort, and as
    [`kaplan_meier`][metaflow_ode.kaplan_meier].
    """
    plt = pyplot()
    check_dataset(cohort, "survival", ["death_time", "failure_time"], cohort=True)
    km = kaplan_meier(cohort, confidence=confidence)
    if organs is None:
        organs = [
            str(o)
            for o, n in zip(km.endpoint_organ.values, km.n_events.values, strict=True)
            if o != "" and n > 0
        ]
    else:
        organs = check_organs(cohort, organs, "survival")
    ax = axes(ax, (7, 4.5))
    scale, xlabel = time_scale(years)
    t = km.time.values / scale
    colours = plt.get_cmap("tab10").colors
    endpoints = [("death", "overall survival", "black")] + [
        (f"failure:{o}", f"{o} failure-free", colours[i % len(colours)])
        for i, o in enumerate(organs)
    ]
    for endpoint, label, colour in endpoints:
        curve = km.sel(endpoint=endpoint)
        events = int(curve.n_events)
        ax.step(
            t,
            curve.survival.values,
            where="post",
            color=colour,
            label=f"{label} ({events} events)",
            zorder=3 if endpoint == "death" else 2,  # on top of an organ it coincides with
        )
        ax.fill_between(
            t,
            curve.survival_lower.values,
            curve.survival_upper.values,
            step="post",
            color=colour,
            alpha=0.15,
            linewidth=0,
        )
    ax.set_ylim(0.0, 1.05)
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("survival probability")
    level = km.attrs["confidence_level"]
    ax.set_title(
        f"Kaplan-Meier, {km.attrs['n_patients']} patients ({level:.0%} pointwise bands)",
        fontsize="medium",
    )
    ax.legend(fontsize="small", loc="lower left")
    ax.grid(True, alpha=0.3)
    return ax


def causes_of_death(
    cohort: xr.Dataset, *, confidence: float = 0.95, follow_up: float | None = None, ax=None
):
    """Plot the share of a cohort's patients dying of each cause, with confidence intervals.

    One horizontal bar per row of [`cause_of_death_shares`][metaflow_ode.cause_of_death_shares]
    (the lethal organs, `whole_body`, then `alive` and, if any, `solver_failed`), top to bottom
    in its order, with the Wilson score interval as an error bar and the count of patients
    written at the end of each bar. Bars of causes of death are red, `alive` green and
    `solver_failed` grey.

    **Arguments:**

    - `cohort`: the dataset of a cohort, from [`simulate_cohort`][metaflow_ode.simulate_cohort]
      (a `patient` dimension, `death_time` and `cause_of_death`).
    - `confidence`: confidence level of the intervals, in (0, 1) (default 0.95).
    - `follow_up`: end of follow-up in days (default the last save time); deaths after it
      count as alive.
    - `ax`: a matplotlib `Axes`; default a new figure.

    **Returns:** the `Axes`.

    **Raises:** `TypeError` if `cohort` is not an `xarray.Dataset`; `ValueError` for a single
    simulation (no `patient` dimension), and as
    [`cause_of_death_shares`][metaflow_ode.cause_of_death_shares].
    """
    check_dataset(cohort, "causes_of_death", ["death_time", "cause_of_death"], cohort=True)
    table = cause_of_death_shares(cohort, confidence=confidence, follow_up=follow_up)
    ax = axes(ax, (7, 1.2 + 0.4 * len(table)))
    y = np.arange(len(table))
    share = table["share"].to_numpy()
    error = np.stack([share - table["lower"].to_numpy(), table["upper"].to_numpy() - share])
    special = {"alive": "#4daf4a", "solver_failed": "#999999"}
    colours = [special.get(str(cause), "#e41a1c") for cause in table.index]
    ax.barh(y, share, xerr=np.maximum(error, 0.0), color=colours, capsize=3, height=0.6)
    n = table.attrs["n_patients"]
    for row, (k, upper) in enumerate(zip(table["patients"], table["upper"], strict=True)):
        ax.text(upper + 0.01, row, f"{k}/{n}", va="center", fontsize="small")
    ax.set_yticks(y, [str(c).replace("_", " ") for c in table.index])
    ax.invert_yaxis()
    ax.set_xlim(0.0, 1.12)
    ax.set_xlabel(f"share of patients ({table.attrs['confidence_level']:.0%} Wilson interval)")
    ax.set_title(
        f"cause of death by day {table.attrs['follow_up']:g}, {n} patients", fontsize="medium"
    )
    ax.grid(True, axis="x", alpha=0.3)
    return ax
