"""Measurement tables in tidy long form, validated and laid out for the compiled likelihood.

One row per measurement, in the spirit of the PEtab measurement table: `patient` (optional),
`time` (days), `observable` (`ENTITY.QUANTITY`), `value` (in the observable's units) and
`censoring` (optional: "none", "left" = the true value is at most `value`, "right" = at least
`value`; for event times, "right" = no event seen by `value`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from .._model import Model
from ._noise import CENSORING, AbstractNoise
from ._observables import Observable, parse_observable

REQUIRED = ("time", "observable", "value")


@dataclasses.dataclass(frozen=True)
class Group:
    """The measurements of one observable (host arrays, one entry per row)."""

    observable: Observable
    noise: AbstractNoise
    patient: np.ndarray  # int index into Measurements.patients
    time: np.ndarray  # int index into Measurements.times (0 for event observables)
    value: np.ndarray
    censoring: np.ndarray  # 0 none, 1 left, 2 right


@dataclasses.dataclass(frozen=True)
class Measurements:
    table: pd.DataFrame  # the normalised table
    patients: tuple[str, ...]
    times: np.ndarray  # save times (days) of the non-event measurements, sorted, unique
    groups: tuple[Group, ...]

    @property
    def latest(self) -> float:
        """The latest time in the data (days): measurement times and event/censoring times."""
        latest = float(self.times[-1]) if self.times.size else 0.0
        for g in self.groups:
            if g.observable.event:
                latest = max(latest, float(np.max(g.value)))
        return latest


def _as_frame(data) -> pd.DataFrame:
    if isinstance(data, xr.Dataset):
        frame = data.to_dataframe()
        frame = frame.reset_index(drop=not any(n in REQUIRED for n in frame.index.names))
    elif isinstance(data, pd.DataFrame):
        frame = data.reset_index(drop=isinstance(data.index, pd.RangeIndex))
    else:
        raise TypeError(
            "`data` must be a pandas DataFrame or an xarray Dataset in long form with columns "
            f"`time`, `observable`, `value` (and optional `patient`, `censoring`); got "
            f"{type(data).__name__}."
        )
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(
            f"`data` lacks the column(s) {missing}: give one row per measurement with columns "
            "`time` (days), `observable` (e.g. 'liver.burden'), `value`, and optionally "
            "`patient` and `censoring` ('none', 'left', 'right')."
        )
    if len(frame) == 0:
        raise ValueError("`data` has no rows.")
    return frame


def measurements(
    data,
    model: Model,
    *,
    noise: Mapping[str, AbstractNoise] | None,
    colonies: bool,
    t0: float,
) -> Measurements:
    """Validate `data` against `model` and lay it out by observable."""
    frame = _as_frame(data)
    out = pd.DataFrame(
        {
            "patient": (frame["patient"].astype(str) if "patient" in frame else "0"),
            "time": pd.to_numeric(frame["time"], errors="coerce").astype(np.float64),
            "observable": frame["observable"].astype(str),
            "value": pd.to_numeric(frame["value"], errors="coerce").astype(np.float64),
        }
    )
    if "censoring" in frame:
        censoring = frame["censoring"].fillna("none").astype(str).str.lower()
        censoring = censoring.replace({"": "none", "false": "none"})
        unknown = sorted(set(censoring) - set(CENSORING))
        if unknown:
            raise ValueError(
                f"`data['censoring']` has {unknown}: use 'none', 'left' (true value at most "
                "`value`) or 'right' (at least `value`; for event times, no event by `value`)."
            )
        out["censoring"] = censoring.to_numpy()
    else:
        out["censoring"] = "none"
    noise = dict(noise or {})
    if not all(isinstance(k, str) for k in noise):
        raise TypeError("`noise` maps observable names (str) to noise models.")
    for name, model_ in noise.items():
        if not isinstance(model_, AbstractNoise):
            raise TypeError(
                f"`noise[{name!r}]` must be a noise model such as `mfo.noise.LogNormal(sigma="
                f"0.1)`, got {type(model_).__name__}."
            )
    unused = sorted(set(noise) - set(out["observable"]))
    if unused:
        raise ValueError(f"`noise` names observables that are not in the data: {unused}.")

    names = list(dict.fromkeys(out["observable"]))
    observables = {n: parse_observable(n, model, colonies=colonies) for n in names}
    events = out["observable"].map(lambda n: observables[n].event).to_numpy(bool)
    bad_time = ~events & ~np.isfinite(out["time"].to_numpy())
    if bad_time.any():
        row = int(np.flatnonzero(bad_time)[0])
        raise ValueError(f"`data['time']` must be a finite number of days (row {row}).")
    early = ~events & (out["time"].to_numpy() < t0)
    if early.any():
        row = int(np.flatnonzero(early)[0])
        raise ValueError(
            f"`data['time']` = {out['time'].iloc[row]} (row {row}) is before the simulation "
            f"start t0 = {t0} d: times are days on the simulation clock and cannot precede t0 "
            "(negative times are not allowed with the default t0 = 0)."
        )
    bad_event = events & ~(out["value"].to_numpy() > t0)
    if bad_event.any():
        row = int(np.flatnonzero(bad_event)[0])
        raise ValueError(
            f"`data`: the event time {out['value'].iloc[row]} (row {row}, "
            f"{out['observable'].iloc[row]!r}) must be after t0 = {t0} d."
        )

    patients = tuple(dict.fromkeys(out["patient"]))
    times = np.unique(out["time"].to_numpy()[~events])
    patient_index = out["patient"].map({p: i for i, p in enumerate(patients)}).to_numpy()
    groups = []
    for name in names:
        rows = (out["observable"] == name).to_numpy()
        obs = observables[name]
        chosen = noise.get(name, obs.default_noise())
        value, censoring = chosen.prepare(
            out["value"].to_numpy()[rows],
            out["censoring"].map(CENSORING).to_numpy()[rows],
            name,
        )
        time_index = (
            np.zeros(rows.sum(), int)
            if obs.event
            else np.searchsorted(times, out["time"].to_numpy()[rows])
        )
        groups.append(Group(obs, chosen, patient_index[rows], time_index, value, censoring))
    return Measurements(out, patients, times, tuple(groups))
