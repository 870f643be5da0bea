"""Fit diagnostics: measurements against the prediction bands of a fitted model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .._fit._data import _as_frame
from .._fit._noise import LogNormal
from .._fit._observables import QUANTITIES, sphere_diameter
from ._common import axes, time_scale

# marker, filled, legend label of each kind of censoring of the measurement table
_CENSORING = {
    "none": ("o", True, "data"),
    "left": ("v", False, "data, left-censored (true value at most)"),
    "right": ("^", False, "data, right-censored (true value at least)"),
}


def _band(bands: xr.Dataset, observable: str, entity: str, quantity: str) -> xr.DataArray:
    """The quantiles (quantile, time) of a time-course observable, in its units."""
    hint = f"compute the bands with `mfo.prediction_bands(..., variables=[..., {quantity!r}])`"
    if entity == "primary" and quantity == "burden":
        if "primary_burden" not in bands:
            raise ValueError(
                f"`plot.fit_diagnostics(bands)`: no band for {observable!r}; compute the bands "
                "with `mfo.prediction_bands(..., variables=[..., 'primary_burden'])`."
            )
        return bands["primary_burden"]
    if entity in ("primary", "whole_body"):
        raise ValueError(
            f"`plot.fit_diagnostics`: no band for {observable!r}: prediction bands are "
            "quantiles per organ or carrier, and quantiles do not add up across organs."
        )
    name = quantity
    if quantity == "diameter" and "diameter" not in bands:
        name = "volume"  # the diameter is monotone in the volume: so are its quantiles
    if name not in bands:
        raise ValueError(
            f"`plot.fit_diagnostics(bands)`: no band for {observable!r}; {hint}. The bands "
            f"hold {sorted(str(v) for v in bands.data_vars)}."
        )
    var = bands[name]
    for dim in ("organ", "carrier"):
        if dim in var.dims:
            known = [str(x) for x in var[dim].values]
            if entity not in known:
                raise ValueError(
                    f"`plot.fit_diagnostics`: {entity!r} of {observable!r} is not among the "
                    f"{dim}s of the bands, {known}."
                )
            var = var.sel({dim: entity})
    if name != quantity:
        var = sphere_diameter(var, np.cbrt)
    return var


def fit_diagnostics(
    data,
    bands: xr.Dataset,
    *,
    observable: str | None = None,
    patient: str | None = None,
    ax=None,
    years: bool = True,
):
    """Plot measurements of one observable against the model's prediction bands.

    For a time-course observable (e.g. `liver.burden`, `blood.ctc_per_7_5ml`) each pair of
    quantiles of `bands` symmetric about the median (e.g. 0.025 and 0.975) is a shaded band
    labelled with its coverage, the middle quantile (e.g. the median) a line, and the
    measurements points: filled circles when exact, open downward triangles when
    left-censored (the true value is at most `value`, e.g. below a detection limit), open
    upward triangles when right-censored (at least `value`). Observables in cells, mL or mm
    are drawn on a log scale.

    For an event-time observable (`liver.failure_time`, `whole_body.death_time`) the line is
    the share of the draws with the event by each time (`failure_probability`,
    `warning_probability` or `death_probability` of `bands`) and each measurement a mark on
    the time axis: a cross at an observed event time, an open right-pointing triangle where
    no event was seen by `value` (right-censored).

    **Arguments:**

    - `data`: the measurement table given to [`fit`][metaflow_ode.fit]: a `pandas.DataFrame`
      (or `xarray.Dataset`) in long form with the columns `time` (days), `observable`
      (`ENTITY.QUANTITY`), `value` (in the observable's units) and optionally `patient` and
      `censoring` (`"none"`, `"left"`, `"right"`).
    - `bands`: the dataset of [`prediction_bands`][metaflow_ode.prediction_bands] (the
      `quantile` and `time` coordinates, one variable per output, e.g. `burden(quantile,
      time, organ)`), for the model and patient of the measurements.
    - `observable`: the observable to draw; may be left out when `data` has only one.
    - `patient`: draw only this patient's measurements (the `patient` column); default all.
    - `ax`: a matplotlib `Axes`; default a new figure.
    - `years`: time axis in years (default) rather than days.

    **Returns:** the `Axes`.

    **Raises:** `TypeError` if `data` is not a table or `bands` not an `xarray.Dataset`;
    `ValueError` for a missing column, an observable or patient not in `data`, an observable
    whose entity does not have its quantity (e.g. `liver.death_time`), a left-censored event
    time, or an observable that `bands` has no prediction for (the message says which
    `variables=` to compute, or which organs the bands hold).
    """
    frame = _as_frame(data)
    if not isinstance(bands, xr.Dataset) or "quantile" not in bands.coords:
        raise TypeError(
            "`plot.fit_diagnostics(bands)` takes the dataset returned by "
            f"`mfo.prediction_bands` (with a `quantile` coordinate), got {type(bands).__name__}"
            + (" without `quantile`." if isinstance(bands, xr.Dataset) else ".")
        )
    names = list(dict.fromkeys(frame["observable"].astype(str)))
    if observable is None:
        if len(names) != 1:
            raise ValueError(
                f"`plot.fit_diagnostics(observable=...)`: `data` has {len(names)} observables, "
                f"choose one of {names}."
            )
        observable = names[0]
    if observable not in names:
        raise ValueError(
            f"`plot.fit_diagnostics(observable=...)`: {observable!r} is not in `data`; it has "
            f"{names}."
        )
    rows = frame[frame["observable"].astype(str) == observable]
    if patient is not None:
        if "patient" not in rows:
            raise ValueError(
                "`plot.fit_diagnostics(patient=...)`: `data` has no `patient` column; leave "
                "`patient` out."
            )
        known = list(dict.fromkeys(rows["patient"].astype(str)))
        if str(patient) not in known:
            raise ValueError(
                f"`plot.fit_diagnostics(patient=...)`: no {observable!r} measurements of "
                f"patient {patient!r}; the patients measured are {known}."
            )
        rows = rows[rows["patient"].astype(str) == str(patient)]
    entity, _, quantity = observable.rpartition(".")
    if quantity not in QUANTITIES or not entity:
        raise ValueError(
            f"`plot.fit_diagnostics`: {observable!r} is not an observable `ENTITY.QUANTITY`; "
            f"quantities: {', '.join(QUANTITIES)}."
        )
    spec = QUANTITIES[quantity]
    if entity in ("primary", "whole_body"):
        fits = entity in spec.entities
    else:  # an organ or a carrier: which one, the bands (or the branches below) check
        fits = bool({"organ", "carrier"} & set(spec.entities))
    if not fits:
        raise ValueError(
            f"`plot.fit_diagnostics`: {observable!r} is not an observable: {quantity!r} is "
            f"defined for {' and '.join(spec.entities)}, not for {entity!r}."
        )
    censoring = (
        rows["censoring"]
        .fillna("none")
        .astype(str)
        .str.lower()
        .replace({"": "none", "false": "none"})
        if "censoring" in rows
        else pd.Series("none", index=rows.index)
    )
    unknown = sorted(set(censoring) - set(_CENSORING))
    if unknown:
        raise ValueError(f"`data['censoring']` has {unknown}: use 'none', 'left' or 'right'.")
    if spec.event and (censoring == "left").any():
        raise ValueError(
            f"`data['censoring']`: {observable!r} is an event time, which cannot be "
            "left-censored; use 'none' (the event happened at `value`) or 'right' (no event "
            "by `value`)."
        )
    ax = axes(ax, (7, 4.5))
    scale, xlabel = time_scale(years)
    t = bands["time"].values / scale
    value = pd.to_numeric(rows["value"], errors="coerce").to_numpy(float)
    if spec.event:
        event = quantity.removesuffix("_time")
        name = f"{event}_probability"
        if name not in bands:
            raise ValueError(
                f"`plot.fit_diagnostics(bands)`: no {name} for {observable!r}; compute the bands "
                f"with `mfo.prediction_bands(..., variables=[..., {quantity!r}])`."
            )
        share = bands[name]
        if "organ" in share.dims:
            known = [str(x) for x in share["organ"].values]
            if entity not in known:
                raise ValueError(
                    f"`plot.fit_diagnostics`: {entity!r} of {observable!r} is not among the "
                    f"organs of the bands, {known}."
                )
            share = share.sel(organ=entity)
        ax.step(t, share.values, where="post", color="C0", label=f"predicted P({event} by t)")
        seen = (censoring != "right").to_numpy()
        marks = (
            (seen, "x", "black", f"observed {event}"),
            (~seen, ">", "none", f"no {event} by this time (censored)"),
        )
        for chosen, marker, face, label in marks:
            if chosen.any():
                ax.plot(
                    value[chosen] / scale,
                    np.zeros(chosen.sum()),
                    marker,
                    color="black",
                    markerfacecolor=face,
                    markersize=8,
                    clip_on=False,
                    linestyle="none",
                    label=label,
                )
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(f"probability of {event.replace('_', ' ')} by time")
    else:
        band = _band(bands, observable, entity, quantity).transpose("quantile", "time")
        q = np.sort(band["quantile"].values)
        for i in range(len(q) // 2):
            lo, hi = q[i], q[-1 - i]
            ax.fill_between(
                t,
                band.sel(quantile=lo).values,
                band.sel(quantile=hi).values,
                color="C0",
                alpha=0.15 + 0.15 * i,
                linewidth=0,
                label=f"{hi - lo:.0%} prediction band",
            )
        if len(q) % 2:
            middle = q[len(q) // 2]
            ax.plot(
                t,
                band.sel(quantile=middle).values,
                color="C0",
                label="median" if middle == 0.5 else f"{middle:.0%} quantile",
            )
        when = pd.to_numeric(rows["time"], errors="coerce").to_numpy(float) / scale
        for kind, (marker, filled, label) in _CENSORING.items():
            chosen = (censoring == kind).to_numpy()
            if chosen.any():
                ax.plot(
                    when[chosen],
                    value[chosen],
                    marker,
                    color="black",
                    markerfacecolor="black" if filled else "none",
                    linestyle="none",
                    label=label,
                )
        if spec.noise is LogNormal:
            ax.set_yscale("log")
        ax.set_ylabel(f"{observable} ({spec.units})")
    ax.set_xlabel(xlabel)
    ax.set_title(f"{observable}: data and prediction", fontsize="medium")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return ax
