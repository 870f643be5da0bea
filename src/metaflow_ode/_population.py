"""Population summaries of a virtual cohort: survival curves, causes of death, time to
visible metastasis.

Runs outside `jit`, on the `xarray.Dataset` of a cohort: the variables of
[`simulate`][metaflow_ode.simulate] with a leading `patient` dimension. Times are in days on
the simulation's clock (the `time` coordinate), not since each patient's start.

Censoring, the same in every function:

- follow-up ends at `follow_up` (default: the last save time); a patient without the event
  by then is right-censored there, and events after it are not counted;
- a patient whose solver failed (`solver_status` other than `"successful"`) is censored at
  the last save time at which their trajectory is finite, unless the event came before;
- organ endpoints (organ failure, visible metastasis) are cause-specific: death censors
  them, so an organ failure or a lesion reached after death does not count.
"""

from __future__ import annotations

import json
import math
import numbers
import warnings

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from ._resolution.colonies import sphere_cells

__all__ = ["cause_of_death_shares", "kaplan_meier", "time_to_visible"]

KAPLAN_MEIER_1958 = (
    "Kaplan EL, Meier P. Nonparametric estimation from incomplete observations. J Am Stat "
    "Assoc 1958; 53:457-481"
)
GREENWOOD_1926 = (
    "Greenwood M. The natural duration of cancer. Reports on Public Health and Medical "
    "Subjects 1926; 33:1-26"
)
KALBFLEISCH_PRENTICE = (
    "Kalbfleisch JD, Prentice RL. The Statistical Analysis of Failure Time Data, 2nd ed. "
    "Wiley 2002, section 4.3 (log-log confidence interval)"
)
BROOKMEYER_CROWLEY_1982 = (
    "Brookmeyer R, Crowley J. A confidence interval for the median survival time. Biometrics "
    "1982; 38:29-41"
)
WILSON_1927 = (
    "Wilson EB. Probable inference, the law of succession, and statistical inference. J Am "
    "Stat Assoc 1927; 22:209-212"
)

SURVIVAL_SOURCES = (
    f"{KAPLAN_MEIER_1958}. {GREENWOOD_1926}. {KALBFLEISCH_PRENTICE}. {BROOKMEYER_CROWLEY_1982}."
)
"""Citations behind [`kaplan_meier`][metaflow_ode.kaplan_meier] and
[`time_to_visible`][metaflow_ode.time_to_visible]."""

CENSORING = (
    "right-censored at the end of follow-up; a patient whose solver failed is censored at "
    "their last finite save time; organ endpoints (failure, visible metastasis) are "
    "cause-specific: death censors them"
)

# Expected visible lesions (colonies fidelity) from which `stage` counts one lesion: it rounds
# the expected count to the nearest whole lesion, half up.
VISIBLE_LESIONS = 0.5

_DEFAULT_CELL_DENSITY = 1e9  # cells/mL, the default of `Model(cell_density=...)`, as in `stage`


# --- Validation -------------------------------------------------------------------------------


def _check_cohort(cohort, function: str) -> None:
    if not isinstance(cohort, xr.Dataset):
        raise TypeError(
            f"`{function}(cohort)` needs the `xarray.Dataset` of a cohort (variables with a "
            f"leading `patient` dimension), got {type(cohort).__name__}."
        )
    if "patient" not in cohort.dims:
        raise ValueError(
            f"`{function}(cohort)`: the dataset has no `patient` dimension. Pass the dataset "
            "of a cohort; a single simulation can be wrapped as a cohort of one with "
            '`dataset.expand_dims("patient")`.'
        )
    if cohort.sizes["patient"] < 1:
        raise ValueError(f"`{function}(cohort)`: the cohort has no patients.")
    if "time" not in cohort.coords:
        raise ValueError(
            f"`{function}(cohort)`: the dataset has no `time` coordinate (save times in days)."
        )
    times = np.asarray(cohort["time"].values, dtype=float)
    if times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times)):
        raise ValueError(f"`{function}(cohort)`: `time` must be 1-D, finite and non-empty.")
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"`{function}(cohort)`: `time` must be strictly increasing.")


def _array(cohort: xr.Dataset, name: str, dims: tuple[str, ...], function: str) -> np.ndarray:
    if name not in cohort.variables:
        raise ValueError(
            f"`{function}(cohort)`: the dataset has no variable `{name}` (dimensions {dims}); "
            "pass the dataset of a simulated cohort."
        )
    var = cohort[name]
    if set(var.dims) != set(dims):
        raise ValueError(
            f"`{function}(cohort)`: `{name}` has dimensions {var.dims}, expected {dims}."
        )
    return var.transpose(*dims).values


def _floats(cohort: xr.Dataset, name: str, dims: tuple[str, ...], function: str) -> np.ndarray:
    return np.asarray(_array(cohort, name, dims, function), dtype=float)


def _strings(cohort: xr.Dataset, name: str, function: str) -> np.ndarray:
    values = _array(cohort, name, ("patient",), function)
    return np.array([str(v) for v in values], dtype=object)


def _check_confidence(confidence, function: str) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
        raise TypeError(
            f"`{function}(confidence=...)` must be a number in (0, 1), e.g. 0.95, got "
            f"{type(confidence).__name__}."
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(
            f"`{function}(confidence=...)` must lie strictly between 0 and 1, e.g. 0.95, got "
            f"{confidence!r}."
        )
    return float(confidence)


def _follow_up(cohort: xr.Dataset, follow_up, function: str) -> float:
    times = np.asarray(cohort["time"].values, dtype=float)
    if follow_up is None:
        return float(times[-1])
    if isinstance(follow_up, bool) or not isinstance(follow_up, numbers.Real):
        raise TypeError(
            f"`{function}(follow_up=...)` must be a time in days or None, got "
            f"{type(follow_up).__name__}."
        )
    follow_up = float(follow_up)
    if not times[0] <= follow_up <= times[-1]:
        raise ValueError(
            f"`{function}(follow_up=...)` must lie within the saved times [{times[0]:g}, "
            f"{times[-1]:g}] day, got {follow_up!r}."
        )
    return follow_up


def _grid(cohort: xr.Dataset, times, follow_up: float, function: str) -> np.ndarray:
    if times is None:
        grid = np.asarray(cohort["time"].values, dtype=float)
        return grid[grid <= follow_up]
    try:
        grid = np.array(times, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{function}(times=...)` must be a 1-D array of times in days.") from None
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(
            f"`{function}(times=...)` must be a non-empty 1-D array of times in days, got shape "
            f"{grid.shape}."
        )
    if not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError(f"`{function}(times=...)` must be finite and strictly increasing.")
    return grid


def _observed_until(
    cohort: xr.Dataset, follow_up: float, function: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per patient, the time up to which they are observed, and which solvers failed."""
    n = cohort.sizes["patient"]
    if "solver_status" in cohort.variables:
        failed = _strings(cohort, "solver_status", function) != "successful"
    else:
        failed = np.zeros(n, dtype=bool)
    until = np.full(n, follow_up)
    if failed.any():
        name = next((v for v in ("burden", "metastatic_burden") if v in cohort.variables), None)
        if name is None:
            raise ValueError(
                f"`{function}(cohort)`: {int(failed.sum())} patients' solvers failed, and the "
                "dataset has no `burden` (patient, time, organ) to find the last time they "
                "were followed."
            )
        trajectory = _floats(cohort, name, ("patient", "time", "organ"), function)
        times = np.asarray(cohort["time"].values, dtype=float)
        finite = np.isfinite(trajectory).all(axis=2)
        for p in np.flatnonzero(failed):
            last = np.flatnonzero(finite[p])
            until[p] = min(follow_up, times[last[-1]] if last.size else times[0])
    return until, failed


def _endpoint(
    event: np.ndarray, until: np.ndarray, follow_up: float, competing: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Observed times and event flags of one endpoint.

    `event`: time of the event per patient (NaN: none); `until`: end of observation;
    `competing`: time of a competing event that censors this one (death), NaN for none.
    """
    censor = until if competing is None else np.fmin(until, competing)
    # An event found before a solver failure counts even after the last finite save time.
    observed = np.isfinite(event) & (event <= follow_up)
    if competing is not None:
        observed &= ~(competing < event)  # NaN (no death) compares False
    return np.where(observed, event, censor), observed


# --- Kaplan-Meier -----------------------------------------------------------------------------


def _product_limit(
    time: np.ndarray, observed: np.ndarray, grid: np.ndarray, follow_up: float, confidence: float
) -> dict[str, np.ndarray | float]:
    """Kaplan-Meier estimate, its log-log interval and the risk table on `grid`."""
    data = stats.CensoredData(uncensored=time[observed], right=time[~observed])
    sf = stats.ecdf(data).sf
    with warnings.catch_warnings():
        # scipy warns where the log-log interval is undefined (estimate 0 or 1); handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        band = sf.confidence_interval(confidence_level=confidence, method="log-log")

    def tidy(s, low, high):
        low = np.where(s == 1.0, 1.0, np.where(s == 0.0, 0.0, low))
        high = np.where(s == 1.0, 1.0, high)
        return low, high

    survival = sf.evaluate(grid)
    lower, upper = tidy(survival, band.low.evaluate(grid), band.high.evaluate(grid))
    after = grid > follow_up
    for a in (survival, lower, upper):
        a[after] = np.nan

    # Median and its interval (Brookmeyer & Crowley 1982): the first step times at which the
    # estimate and the interval's bounds reach 0.5.
    steps = sf.quantiles
    s = sf.probabilities
    low, high = tidy(s, band.low.probabilities, band.high.probabilities)

    def first(values):
        hit = np.flatnonzero(values <= 0.5 + 1e-12)  # 3/6 computed as 5/6 * 4/5 * 3/4
        return float(steps[hit[0]]) if hit.size else math.nan

    at = time[None, :]
    return {
        "survival": survival,
        "lower": lower,
        "upper": upper,
        "at_risk": (at >= grid[:, None]).sum(axis=1),
        "events": ((at <= grid[:, None]) & observed[None, :]).sum(axis=1),
        "censored": ((at <= grid[:, None]) & ~observed[None, :]).sum(axis=1),
        "n_events": int(observed.sum()),
        "median": first(s),
        # the lower band reaches 0.5 first: it gives the lower end of the median's interval
        "median_lower": first(np.nan_to_num(low, nan=1.0)),
        "median_upper": first(np.nan_to_num(high, nan=1.0)),
    }


def _survival_dataset(
    endpoints: list[tuple[str, str, str, np.ndarray, np.ndarray]],
    grid: np.ndarray,
    follow_up: float,
    confidence: float,
    n_failed: int,
    n_patients: int,
) -> xr.Dataset:
    fits = [_product_limit(t, o, grid, follow_up, confidence) for *_, t, o in endpoints]

    def stack(key):
        return np.stack([f[key] for f in fits])

    def column(key):
        return np.array([f[key] for f in fits])

    level = f"{confidence:.0%}" if round(confidence * 100, 9).is_integer() else f"{confidence}"
    et = ("endpoint", "time")
    variables = {
        "survival": (et, stack("survival"), "1", "Kaplan-Meier estimate of event-free survival"),
        "survival_lower": (
            et,
            stack("lower"),
            "1",
            f"lower bound of the pointwise {level} confidence interval of `survival` (log-log, "
            "Greenwood variance; NaN where undefined)",
        ),
        "survival_upper": (
            et,
            stack("upper"),
            "1",
            f"upper bound of the pointwise {level} confidence interval of `survival` (log-log, "
            "Greenwood variance; NaN where undefined)",
        ),
        "at_risk": (et, stack("at_risk"), "patients", "patients at risk at the time"),
        "events": (et, stack("events"), "patients", "events up to and including the time"),
        "censored": (
            et,
            stack("censored"),
            "patients",
            "patients censored up to and including the time",
        ),
        "n_events": (
            ("endpoint",),
            column("n_events"),
            "patients",
            "events by the end of follow-up",
        ),
        "median_time": (
            ("endpoint",),
            column("median"),
            "day",
            "median event-free survival time: first time the estimate is <= 0.5 (NaN: not reached)",
        ),
        "median_time_lower": (
            ("endpoint",),
            column("median_lower"),
            "day",
            f"lower bound of the {level} confidence interval of `median_time` (Brookmeyer & "
            "Crowley; NaN: not reached)",
        ),
        "median_time_upper": (
            ("endpoint",),
            column("median_upper"),
            "day",
            f"upper bound of the {level} confidence interval of `median_time` (Brookmeyer & "
            "Crowley; NaN: not reached)",
        ),
    }
    coords = {
        "endpoint": xr.Variable(
            ("endpoint",),
            np.array([e[0] for e in endpoints], dtype=object),
            attrs={"long_name": "endpoint: death, failure:<organ> or visible:<organ>"},
        ),
        "event": xr.Variable(
            ("endpoint",),
            np.array([e[1] for e in endpoints], dtype=object),
            attrs={"long_name": "event of the endpoint: death, failure or visible"},
        ),
        "endpoint_organ": xr.Variable(
            ("endpoint",),
            np.array([e[2] for e in endpoints], dtype=object),
            attrs={"long_name": "organ of the endpoint ('' for death, 'any' for any organ)"},
        ),
        "time": xr.Variable(("time",), grid, attrs={"units": "day", "long_name": "time"}),
    }
    out = xr.Dataset(
        {
            name: xr.Variable(dims, values, attrs={"units": units, "long_name": long})
            for name, (dims, values, units, long) in variables.items()
        },
        coords=coords,
    )
    out.attrs = {
        "confidence_level": confidence,
        "follow_up": follow_up,
        "n_patients": n_patients,
        "n_solver_failed": n_failed,
        "censoring": CENSORING,
        "citations": SURVIVAL_SOURCES,
    }
    return out


def kaplan_meier(
    cohort: xr.Dataset, *, confidence: float = 0.95, times=None, follow_up: float | None = None
) -> xr.Dataset:
    """Kaplan-Meier survival of a cohort: overall survival and each organ's failure-free
    survival, with pointwise confidence intervals.

    The product-limit estimate (Kaplan & Meier, J Am Stat Assoc 1958; 53:457-481) of
    `P(event time > t)` for each endpoint, computed by `scipy.stats.ecdf` on right-censored
    data, with the pointwise log-log confidence interval on Greenwood's variance (Greenwood
    1926; Kalbfleisch & Prentice 2002, section 4.3; `method="log-log"` in scipy). At tied
    times events come before censoring. Endpoints:

    - `"death"`: the event is `death_time`; patients alive at the end of follow-up are
      censored there;
    - `"failure:<organ>"` for every organ: the event is the organ's `failure_time`,
      cause-specific: a patient who dies first (of another organ or the whole-body burden) is
      censored at death, so the curve estimates failure-free survival in a world without the
      competing deaths (under independent censoring). `1 - survival` is therefore not the
      fraction of patients whose organ fails; for that use the counts `events`.

    A patient whose solver failed (`solver_status` other than `"successful"`) keeps the
    events found before the failure and is otherwise censored at their last save time with a
    finite `burden`. Their number is in the attribute `n_solver_failed`; to exclude them
    instead, select first: `cohort.isel(patient=cohort.solver_status == "successful")`.
    Censoring at a solver failure assumes it is unrelated to the patient's prognosis, which
    need not hold (stiff, fast-growing disease fails more often).

    **Arguments:**

    - `cohort`: the `xarray.Dataset` of a cohort, with a `patient` dimension, the `time`
      (day) and `organ` coordinates, `death_time` (patient; day, NaN: alive) and
      `failure_time` (patient, organ; day, NaN: no failure); `solver_status` (patient) and
      `burden` (patient, time, organ) are read when present.
    - `confidence`: confidence level of the intervals, in (0, 1) (default 0.95).
    - `times`: times in days at which to report the curves (strictly increasing); default:
      the save times up to `follow_up`.
    - `follow_up`: end of follow-up in days, within the save times (default: the last save
      time). Events after it are not counted.

    **Returns:** an `xarray.Dataset` on the dimensions `endpoint` (coordinate: `"death"`,
    then `"failure:<organ>"` in the order of `organ`; with the coordinates `event`,
    `"death"` or `"failure"`, and `endpoint_organ`, the organ or `""`) and `time` (day):

    - `survival` (endpoint, time): the Kaplan-Meier estimate; `survival_lower`,
      `survival_upper`: its pointwise confidence interval (1 before the first event; NaN
      where the log-log interval is undefined, e.g. the upper bound where the estimate is 0);
      all NaN at times after `follow_up`;
    - `at_risk` (endpoint, time; patients): patients whose event or censoring time is at or
      after the time; `events`, `censored` (endpoint, time; patients): events and censorings
      up to and including the time; `n_events` (endpoint): events by the end of follow-up;
    - `median_time` (endpoint; day): the first time the estimate is <= 0.5, NaN if not
      reached; `median_time_lower`, `median_time_upper`: its confidence interval, the first
      times the lower and the upper bound of `survival` are <= 0.5, NaN if not reached
      (Brookmeyer & Crowley, Biometrics 1982; 38:29-41);
    - attributes `confidence_level`, `follow_up` (day), `n_patients`, `n_solver_failed`,
      `censoring` and `citations`.

    **Raises:** `TypeError` if `cohort` is not an `xarray.Dataset` or an argument has the
    wrong type; `ValueError` if the cohort has no `patient` dimension or lacks a variable,
    or for a `confidence` outside (0, 1), unsorted `times` or a `follow_up` outside the saved
    times.
    """
    function = "kaplan_meier"
    _check_cohort(cohort, function)
    confidence = _check_confidence(confidence, function)
    follow_up = _follow_up(cohort, follow_up, function)
    grid = _grid(cohort, times, follow_up, function)
    death = _floats(cohort, "death_time", ("patient",), function)
    failure = _floats(cohort, "failure_time", ("patient", "organ"), function)
    until, failed = _observed_until(cohort, follow_up, function)
    organs = [str(o) for o in cohort["organ"].values]
    endpoints = [("death", "death", "", *_endpoint(death, until, follow_up))]
    for k, organ in enumerate(organs):
        observed = _endpoint(failure[:, k], until, follow_up, death)
        endpoints.append((f"failure:{organ}", "failure", organ, *observed))
    return _survival_dataset(
        endpoints, grid, follow_up, confidence, int(failed.sum()), cohort.sizes["patient"]
    )


# --- Causes of death --------------------------------------------------------------------------


def cause_of_death_shares(
    cohort: xr.Dataset, *, confidence: float = 0.95, follow_up: float | None = None
) -> pd.DataFrame:
    """Share of the patients of a cohort dying of each cause by the end of follow-up, with
    binomial confidence intervals.

    Each patient falls in exactly one row: the organ whose failure killed them or
    `"whole_body"` (the lethal whole-body burden), as in `cause_of_death`, when `death_time`
    is at or before `follow_up`; `"alive"` otherwise; `"solver_failed"` when their solver
    failed before any death was found (their fate is unknown). The shares are over all
    patients and sum to 1. The interval of each share is Wilson's score interval (Wilson, J Am
    Stat Assoc 1927; 22:209-212; `scipy.stats.binomtest(...).proportion_ci(method="wilson")`),
    which keeps its coverage for small counts and shares near 0 or 1.

    The rows are the organs whose failure can be lethal (`failure_lethal`; every organ when
    the dataset lacks it), in the order of `organ`, then `"whole_body"` when the model has a
    finite `lethal_burden` or a patient died of it, then any other cause found, then
    `"alive"`, then `"solver_failed"` when a solver failed. Causes with no deaths are kept:
    their interval bounds how common they could be.

    **Arguments:**

    - `cohort`: the `xarray.Dataset` of a cohort, with a `patient` dimension, the `time`
      coordinate, `death_time` (patient; day, NaN: alive) and `cause_of_death` (patient;
      organ name, `"whole_body"`, or `""` if alive); `solver_status`, `failure_lethal` and
      `lethal_burden` are read when present.
    - `confidence`: confidence level of the intervals, in (0, 1) (default 0.95).
    - `follow_up`: end of follow-up in days, within the save times (default: the last save
      time); deaths after it count as alive.

    **Returns:** a `pandas.DataFrame` indexed by `cause` with the columns `patients` (count),
    `share` (count / patients in the cohort), `lower` and `upper` (the interval of the share);
    `DataFrame.attrs` holds `confidence_level`, `follow_up` (day), `n_patients`, `method` and
    `citation`.

    **Raises:** `TypeError` if `cohort` is not an `xarray.Dataset` or an argument has the
    wrong type; `ValueError` if the cohort has no `patient` dimension, lacks a variable, has
    a death without a cause (or a cause without a death), or for a `confidence` outside
    (0, 1) or a `follow_up` outside the saved times.
    """
    function = "cause_of_death_shares"
    _check_cohort(cohort, function)
    confidence = _check_confidence(confidence, function)
    follow_up = _follow_up(cohort, follow_up, function)
    death = _floats(cohort, "death_time", ("patient",), function)
    cause = _strings(cohort, "cause_of_death", function)
    mismatch = np.flatnonzero(np.isfinite(death) != (cause != ""))
    if mismatch.size:
        p = int(mismatch[0])
        raise ValueError(
            f"`{function}(cohort)`: patient {cohort['patient'].values[p]} has death_time "
            f"{float(death[p])!r} but cause_of_death {cause[p]!r}; a patient has a cause of death "
            "exactly when death_time is finite."
        )
    n = len(death)
    _, failed = _observed_until(cohort, follow_up, function)
    dead = np.isfinite(death) & (death <= follow_up)
    label = np.where(dead, cause, np.where(failed & ~np.isfinite(death), "solver_failed", "alive"))

    organs = [str(o) for o in cohort["organ"].values] if "organ" in cohort.coords else []
    if "failure_lethal" in cohort.variables and organs:
        flags = cohort["failure_lethal"]
        lethal = flags.any(dim=[d for d in flags.dims if d != "organ"]).values
        rows = [o for o, flag in zip(organs, lethal, strict=True) if flag]
    else:
        rows = list(organs)
    whole_body = "lethal_burden" in cohort.variables and bool(
        np.isfinite(np.asarray(cohort["lethal_burden"].values, dtype=float)).any()
    )
    if whole_body or "whole_body" in label:
        rows.append("whole_body")
    rows += sorted({c for c in label if c not in rows and c not in ("alive", "solver_failed")})
    rows.append("alive")
    if "solver_failed" in label:
        rows.append("solver_failed")

    table = []
    for row in rows:
        k = int((label == row).sum())
        interval = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
        table.append(
            {
                "cause": row,
                "patients": k,
                "share": k / n,
                "lower": float(interval.low),
                "upper": float(interval.high),
            }
        )
    out = pd.DataFrame(table).set_index("cause")
    out.attrs = {
        "confidence_level": confidence,
        "follow_up": follow_up,
        "n_patients": n,
        "method": "Wilson score interval",
        "citation": WILSON_1927,
    }
    return out


# --- Time to visible metastasis ---------------------------------------------------------------


def _first_crossing(
    times: np.ndarray, values: np.ndarray, threshold: np.ndarray, *, log: bool
) -> np.ndarray:
    """First time each (patient, :, organ) series reaches `threshold` (patient, 1), linearly
    interpolated between save times (in `log` of the value where both are positive); NaN if
    never. `values` is (patient, time, organ)."""
    level = threshold[:, None, None] * np.ones_like(values)
    above = values >= level  # NaN: False
    hit = above.any(axis=1)
    i = np.argmax(above, axis=1)  # (patient, organ)
    prev = np.maximum(i - 1, 0)
    take = lambda a, idx: np.take_along_axis(a, idx[:, None, :], axis=1)[:, 0, :]  # noqa: E731
    x0, x1 = take(values, prev), take(values, i)
    thr = take(level, i)
    t0, t1 = times[prev], times[i]
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = (thr - x0) / (x1 - x0)
        logarithmic = np.log(thr / x0) / np.log(x1 / x0)
    fraction = np.where(log & (x0 > 0), logarithmic, linear)
    fraction = np.where(np.isfinite(fraction), np.clip(fraction, 0.0, 1.0), 1.0)
    crossing = np.where(i == 0, times[0], t0 + fraction * (t1 - t0))
    return np.where(hit, crossing, np.nan)


def _cell_density(cohort: xr.Dataset, function: str) -> tuple[np.ndarray, str]:
    """Cells/mL per patient: sampled per patient, else the model's, else the default."""
    n = cohort.sizes["patient"]
    if "parameter_value" in cohort.variables and "parameter" in cohort.coords:
        paths = [str(p) for p in cohort["parameter"].values]
        if "cell_density" in paths:
            values = cohort["parameter_value"].isel(parameter=paths.index("cell_density"))
            density = _floats(
                values.to_dataset(name="cell_density"), "cell_density", ("patient",), function
            )
            return density, "each patient's sampled `cell_density`"
    if "cell_density" in cohort.variables:
        density = _floats(cohort, "cell_density", ("patient",), function)
        return density, "each patient's `cell_density`"
    try:
        parameters = json.loads(cohort.attrs.get("parameters", "{}"))
    except (TypeError, ValueError):
        parameters = {}
    value = parameters.get("cell_density") if isinstance(parameters, dict) else None
    if isinstance(value, numbers.Real) and math.isfinite(value) and value > 0:
        return np.full(n, float(value)), "the model's `cell_density`"
    return np.full(n, _DEFAULT_CELL_DENSITY), "the default cell density (1e9 cells/mL)"


def time_to_visible(
    cohort: xr.Dataset,
    *,
    visible_diameter: float | None = None,
    confidence: float = 0.95,
    times=None,
    follow_up: float | None = None,
) -> xr.Dataset:
    """First time each patient has a visible metastasis in each organ, and its Kaplan-Meier
    summary per organ.

    Visibility is decided as in [`stage`][metaflow_ode.stage], so the two agree: the first
    save time at or after `visible_time` is the first one that `stage` counts a visible
    lesion in the organ.

    - Colonies fidelity (the cohort has `visible_lesions`): an organ has a visible metastasis
      once its expected count of lesions at or above the visible size reaches 0.5 (`stage`
      rounds the expected count to the nearest whole lesion). The crossing is linearly
      interpolated between save times.
    - Lumped fidelity: once the organ's `metastatic_burden` reaches the cells of one sphere of
      `visible_diameter` at the model's cell density (`pi / 6 * (d / 10 mm)^3 * cell_density`,
      6.5e7 cells for 5 mm at 1e9 cells/mL). The crossing is interpolated linearly in the log
      of the burden (exact for exponential growth between save times). The cell density is
      each patient's when it was sampled (`parameter_value` at the `parameter`
      `"cell_density"`, as `simulate_cohort` stores it, or a `cell_density` (patient)
      variable), else the model's (`cell_density` in the `parameters` attribute), else 1e9
      cells/mL.

    An organ already visible at the first save time gets that time. The primary tumour is
    never counted; metastases seeded back into its organ are.

    The survival summary has one endpoint per organ, `"visible:<organ>"`, and
    `"visible:any"`, the first visible metastasis in any organ (metastasis-free survival on
    imaging). They are censored as the organ endpoints of
    [`kaplan_meier`][metaflow_ode.kaplan_meier]: at the end of follow-up, at death (a lesion
    reached after death does not count) and at a solver failure.

    **Arguments:**

    - `cohort`: the `xarray.Dataset` of a cohort, with a `patient` dimension, the `time`
      (day) and `organ` coordinates, `visible_lesions` (patient, time, organ; colonies
      fidelity) or `metastatic_burden` (patient, time, organ; cells), and `death_time`
      (patient; day); `solver_status` is read when present.
    - `visible_diameter`: diameter in mm from which a lesion is visible. Default: the
      `visible_diameter` the colonies fidelity counted lesions at (from the `options`
      attribute), else 5 mm (the default of [`StagingRules`][metaflow_ode.StagingRules]).
      With the colonies fidelity it must equal the simulation's.
    - `confidence`, `times`, `follow_up`: as in [`kaplan_meier`][metaflow_ode.kaplan_meier].

    **Returns:** the `xarray.Dataset` of [`kaplan_meier`][metaflow_ode.kaplan_meier] for the
    endpoints `"visible:<organ>"` and `"visible:any"` (`event` `"visible"`,
    `endpoint_organ` the organ or `"any"`), with in addition `visible_time` (patient, organ;
    day): the first time a metastasis is visible, NaN if never within the saved trajectory
    (reported even after death or follow-up; only the survival summary censors), and the
    attributes `visible_diameter` (mm) and `visibility` (the rule used).

    **Raises:** `TypeError` for arguments of the wrong type; `ValueError` if the cohort has
    no `patient` dimension or lacks a variable, for a `visible_diameter` that is not a
    positive number of mm or differs from the one the colonies fidelity counted lesions at,
    and as [`kaplan_meier`][metaflow_ode.kaplan_meier].
    """
    function = "time_to_visible"
    _check_cohort(cohort, function)
    confidence = _check_confidence(confidence, function)
    follow_up = _follow_up(cohort, follow_up, function)
    grid = _grid(cohort, times, follow_up, function)
    try:
        options = json.loads(cohort.attrs.get("options", "{}"))
    except (TypeError, ValueError):
        options = {}
    counted_at = options.get("visible_diameter") if isinstance(options, dict) else None
    if visible_diameter is None:
        visible_diameter = 5.0 if counted_at is None else float(counted_at)
    if isinstance(visible_diameter, bool) or not isinstance(visible_diameter, numbers.Real):
        raise TypeError(
            f"`{function}(visible_diameter=...)` must be a diameter in mm or None, got "
            f"{type(visible_diameter).__name__}."
        )
    visible_diameter = float(visible_diameter)
    if not math.isfinite(visible_diameter) or visible_diameter <= 0:
        raise ValueError(
            f"`{function}(visible_diameter=...)` must be a finite diameter > 0 mm, got "
            f"{visible_diameter!r}."
        )
    save_times = np.asarray(cohort["time"].values, dtype=float)
    dims = ("patient", "time", "organ")
    n = cohort.sizes["patient"]
    if "visible_lesions" in cohort.variables:
        if counted_at is not None and not math.isclose(
            float(counted_at), visible_diameter, rel_tol=1e-12
        ):
            raise ValueError(
                f"`{function}(visible_diameter=...)` is {visible_diameter} mm, but the colonies "
                f"fidelity counted `visible_lesions` at {counted_at} mm. Leave it out, or "
                f"simulate again with `mfo.Colonies(visible_diameter={visible_diameter})`."
            )
        values = _floats(cohort, "visible_lesions", dims, function)
        visible = _first_crossing(save_times, values, np.full(n, VISIBLE_LESIONS), log=False)
        rule = (
            f"expected lesions at or above {visible_diameter:g} mm (`visible_lesions`) reach "
            f"{VISIBLE_LESIONS} (one lesion when rounded, as in `stage`), interpolated linearly "
            "between save times"
        )
    else:
        if "metastatic_burden" not in cohort.variables:
            raise ValueError(
                f"`{function}(cohort)`: the dataset has neither `visible_lesions` (colonies "
                "fidelity) nor `metastatic_burden` (patient, time, organ)."
            )
        values = _floats(cohort, "metastatic_burden", dims, function)
        density, density_source = _cell_density(cohort, function)
        threshold = sphere_cells(visible_diameter, density)
        visible = _first_crossing(save_times, values, threshold, log=True)
        rule = (
            f"`metastatic_burden` reaches the cells of one {visible_diameter:g} mm sphere at "
            f"{density_source} (lumped fidelity), interpolated linearly in log burden between "
            "save times"
        )
    death = _floats(cohort, "death_time", ("patient",), function)
    until, failed = _observed_until(cohort, follow_up, function)
    organs = [str(o) for o in cohort["organ"].values]
    endpoints = [
        (f"visible:{organ}", "visible", organ, *_endpoint(visible[:, k], until, follow_up, death))
        for k, organ in enumerate(organs)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: never visible
        first = np.nanmin(visible, axis=1) if organs else np.full(n, np.nan)
    endpoints.append(("visible:any", "visible", "any", *_endpoint(first, until, follow_up, death)))
    out = _survival_dataset(endpoints, grid, follow_up, confidence, int(failed.sum()), n)
    out = out.assign_coords(
        patient=cohort["patient"].variable,
        organ=xr.Variable(("organ",), np.array(organs, dtype=object), attrs={"long_name": "organ"}),
    )
    out["visible_time"] = xr.Variable(
        ("patient", "organ"),
        visible,
        attrs={
            "units": "day",
            "long_name": f"first time a metastasis is visible in the organ (NaN: never): {rule}",
        },
    )
    out.attrs["visible_diameter"] = visible_diameter
    out.attrs["visibility"] = rule
    return out
