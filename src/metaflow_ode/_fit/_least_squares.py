"""Maximum likelihood by least squares (optimistix), standard errors, profile likelihood."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pandas as pd
import scipy.stats
import xarray as xr

from .._interventions import check_interventions
from .._model import Model
from .._resolution import Colonies, Lumped
from ._data import measurements
from ._noise import AbstractNoise
from ._problem import Problem, forward_gradient, make_problem

__all__ = ["FitResult", "Profile", "fit", "profile_likelihood"]

_SUCCESS = optx.RESULTS.successful


def _status(code) -> str:
    if int(code) == int(_SUCCESS._value):
        return "successful"
    return optx.RESULTS._index_to_message[int(code)]


@eqx.filter_jit
def _fit_starts(problem: Problem, u0, optimiser, max_steps: int):
    """Run `optimiser` from every row of `u0` (one vmap): best point, objective, status."""

    def one(u):
        if isinstance(optimiser, optx.AbstractLeastSquaresSolver):
            sol = optx.least_squares(
                lambda u, _: problem.residuals(u),
                optimiser,
                u,
                options={"jac": "fwd"},
                max_steps=max_steps,
                throw=False,
            )
        else:
            objective = forward_gradient(problem.nll)
            sol = optx.minimise(
                lambda u, _: objective(u), optimiser, u, max_steps=max_steps, throw=False
            )
        return sol.value, problem.nll(sol.value), sol.result._value, sol.stats["num_steps"]

    return jax.vmap(one)(u0)


@eqx.filter_jit
def _gradients(problem: Problem, points):
    """The exact gradient of the negative log-likelihood (forward mode) at each row."""
    return jax.vmap(jax.jacfwd(problem.nll))(points)


def _hessian(problem: Problem, u, step: float = 1e-4):
    """Hessian of the negative log-likelihood at `u` in fitting coordinates: central
    differences of the exact (automatic-differentiation) gradient, symmetrised. Also returns
    the gradient at `u`."""
    n = u.shape[0]
    eye = np.eye(n) * step
    points = np.concatenate([u[None], u + eye, u - eye])
    grads = np.asarray(_gradients(problem, jnp.asarray(points)))
    hessian = (grads[1 : n + 1] - grads[n + 1 :]) / (2.0 * step)
    return 0.5 * (hessian + hessian.T), grads[0]


class FitResult:
    """The result of [`fit`][metaflow_ode.fit].

    **Attributes:**

    - `values`: `{path: estimate}` in the parameters' own units.
    - `table`: a `pandas.DataFrame` indexed by path: `value`, `standard_error` (delta method
      from the Hessian), `lower` and `upper` (95 % Wald interval in fitting coordinates, i.e.
      log space for positive parameters, mapped back), `initial`, `units`, `scale` (the
      fitting coordinate: log, logit or identity; bounded ones noted).
    - `model`: the model with the estimates set.
    - `objective`: the negative log-likelihood at the estimate (natural log units).
    - `converged`: the best start's optimiser reported success.
    - `status`: the optimiser's message for the best start.
    - `starts`: a `pandas.DataFrame`, one row per start: `objective`, `status`, `steps`, and
      the value each parameter reached.
    - `covariance`: covariance of the estimates in natural units (`pandas.DataFrame`),
      `covariance_fitting` the same in fitting coordinates (numpy).
    - `gradient`: gradient of the objective at the estimate in fitting coordinates.
    - `hessian`: the Hessian of the objective there (numpy).
    - `n_observations`, `aic`, `bic`.
    """

    def __init__(self, problem, u, table, starts, objective, status, hessian, gradient, cov_u, jac):
        self._problem = problem
        self._u = np.asarray(u)
        self.table = table
        self.starts = starts
        self.objective = float(objective)
        self.status = status
        self.converged = status == "successful"
        self.hessian = hessian
        self.gradient = gradient
        self.covariance_fitting = cov_u
        theta = np.asarray(table["value"])
        cov = cov_u * np.outer(jac, jac)  # delta method: jac = d theta / d u at the estimate
        self.covariance = pd.DataFrame(cov, index=table.index, columns=table.index)
        self.values = dict(zip(table.index, theta.tolist(), strict=True))
        self.model = problem.model.with_parameters(self.values)
        self.n_observations = problem.n_observations
        k = len(theta)
        self.aic = 2.0 * self.objective + 2.0 * k
        self.bic = 2.0 * self.objective + k * math.log(max(self.n_observations, 1))

    def __repr__(self) -> str:
        lines = [
            f"FitResult({self.status}; objective {self.objective:.6g}, "
            f"{self.n_observations} observations, {len(self.starts)} starts)",
            self.table[["value", "standard_error", "lower", "upper", "units"]].to_string(),
        ]
        return "\n".join(lines)


def _check_free(model: Model, free, caller: str) -> tuple[str, ...]:
    if isinstance(free, str) or not isinstance(free, Sequence) or not free:
        raise TypeError(
            f"`{caller}(free=...)` must be a non-empty list of parameter paths, e.g. "
            '["breast.growth.rate", "breast.emission.coefficient"].'
        )
    free = tuple(free)
    entries = model._parameter_entries()
    for path in free:
        if path not in entries:
            raise ValueError(
                f"`{caller}(free=...)`: unknown parameter {path!r}; `mfo.parameters(model)` "
                "lists every path."
            )
    if len(set(free)) != len(free):
        raise ValueError(f"`{caller}(free=...)` names a parameter twice.")
    return free


def build_problem(
    model,
    data,
    free,
    *,
    noise,
    bounds,
    t1,
    t0,
    resolution,
    solver,
    rtol,
    atol,
    max_steps,
    interventions,
    adjoint,
    caller: str = "fit",
):
    """Validate every argument of `fit`/`sample_posterior` and build the [`Problem`][]."""
    if not isinstance(model, Model):
        raise TypeError(f"`{caller}(model, ...)` takes a `mfo.Model`, got {type(model).__name__}.")
    if not isinstance(resolution, (Lumped, Colonies)):
        raise TypeError(
            f"`{caller}(resolution=...)` must be `mfo.Lumped(...)` or `mfo.Colonies(...)`."
        )
    free = _check_free(model, free, caller)
    data = measurements(
        data, model, noise=noise, colonies=isinstance(resolution, Colonies), t0=float(t0)
    )
    if t1 is None:
        has_events = any(g.observable.event for g in data.groups)
        t1 = t0 + (data.latest - t0) * (2.0 if has_events else 1.0)
        if t1 <= t0:
            t1 = t0 + 1.0
    else:
        events = [float(g.value.max()) for g in data.groups if g.observable.event]
        if data.latest > t1 or (events and max(events) >= t1):
            raise ValueError(
                f"`{caller}(t1=...)` = {t1} d is not after the latest time in the data "
                f"({data.latest} d); simulate beyond it (with event times, well beyond: an "
                "event the model does not reach by t1 is placed at t1)."
            )
    interventions = check_interventions(model, interventions, float(t0))
    return make_problem(
        model,
        data,
        free,
        bounds=bounds,
        t1=float(t1),
        t0=float(t0),
        resolution=resolution,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        interventions=interventions,
        adjoint=adjoint,
    ), data


def _starting_points(problem: Problem, starts: int, spread: float, seed: int) -> np.ndarray:
    theta0 = jnp.asarray([problem.model.parameter_values()[p] for p in problem.free])
    u0 = np.asarray(problem.transforms.fitting(theta0))
    if starts == 1:
        return u0[None]
    rng = np.random.default_rng(seed)
    draws = u0 + spread * rng.standard_normal((starts - 1, u0.size))
    # Bounded parameters: uniform over the interval (logistic of a uniform in (0, 1)).
    for i, bounded in enumerate(problem.transforms.bounded):
        if bounded:
            s = rng.uniform(0.02, 0.98, starts - 1)
            draws[:, i] = np.log(s) - np.log1p(-s)
    return np.concatenate([u0[None], draws])


def fit(
    model: Model,
    data,
    free: Sequence[str],
    *,
    noise: Mapping[str, AbstractNoise] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    starts: int = 1,
    start_spread: float = 1.0,
    seed: int = 0,
    optimiser: optx.AbstractLeastSquaresSolver | optx.AbstractMinimiser | None = None,
    max_steps: int = 256,
    t1: float | None = None,
    t0: float = 0.0,
    resolution: Lumped | Colonies = Lumped(),
    solver: dfx.AbstractSolver | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    ode_max_steps: int = 16_384,
    interventions=(),
) -> FitResult:
    """Fit the `free` parameters of `model` to `data` by maximum likelihood.

    The likelihood is built from the observables in `data` and their noise models; its deviance
    residuals are minimised by Levenberg-Marquardt (`optimistix`) with Jacobians by
    forward-mode differentiation through the diffrax solve, which is maximum likelihood for
    every noise model (log-normal, counts, censored values, event times). Positive parameters
    are fitted in log space, fractions as logits, bounded ones through a logistic map.

    **Arguments:**

    - `model`: the [`Model`][metaflow_ode.Model]; its current values are the first start.
    - `data`: a tidy table (pandas DataFrame or xarray Dataset), one row per measurement:
      `time` (days on the simulation clock, from `t0`), `observable` (`ENTITY.QUANTITY`, e.g.
      `"primary.volume"`, `"liver.burden"`, `"brain.visible_lesions"`, `"blood.ctc_per_7_5ml"`,
      `"liver.failure_time"`, `"whole_body.death_time"`, `"lung.p_metastasis"`), `value` (in
      the observable's units: cells, mL, mm, counts, days), optional `patient` and
      `censoring` (`"none"`, `"left"`, `"right"`). Event observables (`*_time`) read the event
      or censoring time from `value`; their `time` is ignored. Patients share the parameters
      here (pooled data); patient-level random effects are in
      [`sample_posterior`][metaflow_ode.sample_posterior]. See "Fitting" in the docs.
    - `free`: parameter paths to estimate (see [`parameters`][metaflow_ode.parameters]).
    - `noise`: `{observable: noise model}` from [`metaflow_ode.noise`][]; defaults by quantity:
      log-normal (sigma 0.1) for burdens, volumes and diameters, Poisson for counts and
      circulating tumour cells, Bernoulli for `p_metastasis`, log-normal event times (sigma
      0.1) for failure and death times.
    - `bounds`: `{path: (lower, upper)}` in the parameter's units.
    - `starts`: number of starts (the model's values, then `starts - 1` random ones, drawn
      normally with standard deviation `start_spread` in fitting coordinates, or, for a
      bounded parameter, uniformly over the middle 96 % of its bounds in the base coordinate:
      log-uniformly for a positive parameter); all run in one `vmap`.
    - `seed`: seed of the random starts.
    - `optimiser`: an optimistix least-squares solver (default
      `optx.LevenbergMarquardt(rtol=1e-8, atol=1e-8)`) or minimiser (e.g. `optx.BFGS`, which
      minimises the negative log-likelihood; its gradient is computed by forward mode).
    - `max_steps`: optimiser steps per start.
    - `t1`: simulated horizon in days (default: the latest time in the data; with event
      times, twice as far from `t0`). An event the model does not reach by `t1` is placed at
      `t1`: exact for right-censored rows (the model says "not yet"), but for an observed
      event it only bounds the likelihood, with no gradient: keep `t1` well beyond the data.
    - `t0`, `resolution`, `solver`, `rtol`, `atol`, `interventions`: as in
      [`simulate`][metaflow_ode.simulate]; `ode_max_steps` is its `max_steps` per segment
      (lower than `simulate`'s default: an optimiser's trial point with extreme values that the
      solver cannot finish costs that many steps before it is rejected).

    **Returns:** a [`FitResult`][metaflow_ode.FitResult].
    """
    if optimiser is None:
        optimiser = optx.LevenbergMarquardt(rtol=1e-8, atol=1e-8)
    if not isinstance(optimiser, (optx.AbstractLeastSquaresSolver, optx.AbstractMinimiser)):
        raise TypeError(
            "`fit(optimiser=...)` must be an optimistix least-squares solver or minimiser, "
            f"e.g. `optx.LevenbergMarquardt(rtol=1e-8, atol=1e-8)`; got {optimiser!r}."
        )
    for name, value in (("starts", starts), ("max_steps", max_steps), ("seed", seed)):
        low = 0 if name == "seed" else 1
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"`fit({name}=...)` must be an integer >= {low}, got {value!r}.")
    if not (isinstance(start_spread, (int, float)) and start_spread > 0):
        raise ValueError(f"`fit(start_spread=...)` must be > 0, got {start_spread!r}.")
    problem, _ = build_problem(
        model,
        data,
        free,
        noise=noise,
        bounds=bounds,
        t1=t1,
        t0=t0,
        resolution=resolution,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=ode_max_steps,
        interventions=interventions,
        # Jacobians and gradients by forward mode through the solve (few parameters).
        adjoint=dfx.ForwardMode(),
    )
    u0 = _starting_points(problem, starts, float(start_spread), seed)
    return _finish(problem, u0, optimiser, max_steps)


def _finish(problem: Problem, u0, optimiser, max_steps: int) -> FitResult:
    u, objective, codes, steps = jax.device_get(
        _fit_starts(problem, jnp.asarray(u0), optimiser, max_steps)
    )
    objective = np.where(np.isfinite(objective), objective, np.inf)
    ok = codes == int(_SUCCESS._value)
    # The best successful start; if none succeeded, the best finite one.
    order = np.lexsort((objective, ~ok))
    best = int(order[0])
    if not np.isfinite(objective[best]):
        raise RuntimeError(
            "`fit`: no start reached a finite likelihood (every solve failed). Check the "
            "starting values and bounds, or loosen the ODE tolerances."
        )
    theta_all = np.asarray(jax.vmap(problem.transforms.natural)(jnp.asarray(u)))
    starts_table = pd.DataFrame(theta_all, columns=list(problem.free))
    starts_table.insert(0, "steps", steps)
    starts_table.insert(0, "status", [_status(c) for c in codes])
    starts_table.insert(0, "objective", objective)
    starts_table.index.name = "start"

    hessian, gradient = _hessian(problem, u[best])
    try:
        positive = np.all(np.linalg.eigvalsh(hessian) > 0)
    except np.linalg.LinAlgError:
        positive = False
    if positive:
        cov_u = np.linalg.inv(hessian)
    else:
        cov_u = np.full_like(hessian, np.nan)
        warnings.warn(
            "`fit`: the Hessian of the objective is not positive definite at the estimate, so "
            "no standard errors: some parameters are not identifiable from these data (run "
            "`mfo.profile_likelihood` to see which).",
            stacklevel=3,
        )
    se_u = np.sqrt(np.diag(cov_u))
    z = scipy.stats.norm.ppf(0.975)
    natural = problem.transforms.natural
    theta = np.asarray(natural(jnp.asarray(u[best])))
    lower = np.asarray(natural(jnp.asarray(u[best] - z * se_u)))
    upper = np.asarray(natural(jnp.asarray(u[best] + z * se_u)))
    jac = np.diag(np.asarray(jax.jacfwd(natural)(jnp.asarray(u[best]))))
    entries = problem.model._parameter_entries()
    values0 = problem.model.parameter_values()
    table = pd.DataFrame(
        {
            "value": theta,
            "standard_error": np.abs(jac) * se_u,
            "lower": np.minimum(lower, upper),
            "upper": np.maximum(lower, upper),
            "initial": [float(np.asarray(values0[p])) for p in problem.free],
            "units": [entries[p].field.metadata["units"] for p in problem.free],
            "scale": [
                k + (" (bounded)" if b else "")
                for k, b in zip(problem.transforms.kinds, problem.transforms.bounded, strict=True)
            ],
        },
        index=pd.Index(problem.free, name="parameter"),
    )
    return FitResult(
        problem, u[best], table, starts_table, objective[best], _status(codes[best]),
        hessian, gradient, cov_u, jac,
    )  # fmt: skip


# --- profile likelihood ------------------------------------------------------------------


@eqx.filter_jit
def _profile_points(problem: Problem, u_start, index, fixed, optimiser, max_steps: int):
    """Re-optimise every free parameter except `index`, held at `fixed`, for each row."""

    def one(u0, i, value):
        mask = jnp.arange(u0.shape[0]) == i
        if u0.shape[0] == 1:  # nothing left to re-fit: the likelihood on the grid
            u = jnp.where(mask, value, u0)
            return u, problem.nll(u), jnp.asarray(_SUCCESS._value)

        def residuals(u, _):
            return problem.residuals(jnp.where(mask, value, u))

        sol = optx.least_squares(
            residuals, optimiser, u0, options={"jac": "fwd"}, max_steps=max_steps, throw=False
        )
        u = jnp.where(mask, value, sol.value)
        return u, problem.nll(u), sol.result._value

    return jax.vmap(one)(u_start, index, fixed)


class Profile:
    """Profile likelihood of some fitted parameters (from
    [`profile_likelihood`][metaflow_ode.profile_likelihood]).

    **Attributes:**

    - `dataset`: an `xarray.Dataset` on dims (`parameter`, `point`): `value` (the profiled
      parameter's value, its units), `objective` (negative log-likelihood with the others
      re-optimised), `delta_objective` (minus the best fit's), `status`, and
      `estimates(parameter, point, free)`: every free parameter's value along the profile.
    - `intervals`: a `pandas.DataFrame` indexed by parameter: `value` (the estimate),
      `lower`, `upper` (NaN where no crossing was found on that side), `identifiable` (both
      bounds found), `note` (why a bound is missing: "flat on the lower side" when every
      re-fit on that side stayed below the threshold, the practical non-identifiability of
      Raue et al.; "re-fit failed ..." when failed re-fits leave it undecided),
      `failed_points` and `max_delta_objective`.
    - `threshold`: the rise of the negative log-likelihood that bounds the interval,
      `chi2.ppf(level, 1) / 2` (1.92 for 95 %).
    """

    def __init__(self, dataset, intervals, threshold, level):
        self.dataset = dataset
        self.intervals = intervals
        self.threshold = threshold
        self.level = level

    def __repr__(self) -> str:
        return f"Profile(level={self.level})\n{self.intervals.to_string()}"


def _crossing(x, y, threshold, centre, side):
    """Where `y` (the rise of the objective) first exceeds `threshold` walking from `centre`
    to one side; NaN if it never does. Interpolates the signed root `sqrt(2 y)`, which is
    linear in a parameter whose likelihood is Gaussian, so a coarse grid suffices."""
    idx = range(centre, len(x)) if side > 0 else range(centre, -1, -1)
    root, target = np.sqrt(2.0 * np.maximum(y, 0.0)), math.sqrt(2.0 * threshold)
    prev = None
    for i in idx:
        if not np.isfinite(y[i]):
            continue
        if prev is not None and y[i] >= threshold:
            j = prev
            if root[i] == root[j]:
                return float(x[i])
            return float(x[j] + (target - root[j]) * (x[i] - x[j]) / (root[i] - root[j]))
        prev = i
    return math.nan


def profile_likelihood(
    result: FitResult,
    parameters: Sequence[str] | None = None,
    *,
    points: int = 15,
    span: float | Mapping[str, float] | None = None,
    level: float = 0.95,
    optimiser: optx.AbstractLeastSquaresSolver | None = None,
    max_steps: int = 256,
) -> Profile:
    """Profile the likelihood of fitted parameters: for each, scan a grid of values, re-fit
    every other free parameter at each (all points of all parameters in one `vmap`), and read
    the confidence interval off where the negative log-likelihood rises by
    `chi2.ppf(level, 1) / 2` (Venzon & Moolgavkar 1988; Raue et al., Bioinformatics 2009;
    25:1923, who also define practical non-identifiability as a profile that stays below the
    threshold on one side).

    **Arguments:**

    - `result`: a [`FitResult`][metaflow_ode.FitResult].
    - `parameters`: paths to profile (default: every free parameter).
    - `points`: grid points per parameter (odd, so the estimate is one of them).
    - `span`: half-width of the grid in fitting coordinates (natural-log units for positive
      parameters: 0.7 is a factor 2 each way); default 4 standard errors (at most ln 10), or
      ln 10 where there is no standard error. One number or `{path: span}`.
    - `level`: confidence level (default 0.95).
    - `optimiser`, `max_steps`: as in [`fit`][metaflow_ode.fit].

    **Returns:** a [`Profile`][metaflow_ode.Profile].
    """
    if not isinstance(result, FitResult):
        raise TypeError("`profile_likelihood(result)` takes the `FitResult` of `mfo.fit`.")
    problem = result._problem
    free = list(problem.free)
    parameters = free if parameters is None else list(parameters)
    unknown = [p for p in parameters if p not in free]
    if unknown:
        raise ValueError(f"`profile_likelihood`: {unknown} were not fitted (free: {free}).")
    if isinstance(points, bool) or not isinstance(points, int) or points < 3 or points % 2 == 0:
        raise ValueError(
            f"`profile_likelihood(points=...)` must be an odd integer >= 3, got {points!r}."
        )
    if not 0 < level < 1:
        raise ValueError(f"`profile_likelihood(level=...)` must be in (0, 1), got {level!r}.")
    optimiser = optimiser or optx.LevenbergMarquardt(rtol=1e-8, atol=1e-8)
    u_hat = result._u
    se_u = np.sqrt(np.diag(result.covariance_fitting))
    spans = []
    for p in parameters:
        i = free.index(p)
        if isinstance(span, Mapping):
            w = span.get(p)
        else:
            w = span
        if w is None:
            w = (
                float(np.clip(4.0 * se_u[i], 1e-6, math.log(10.0)))
                if np.isfinite(se_u[i])
                else math.log(10.0)
            )
        if not (isinstance(w, (int, float)) and w > 0):
            raise ValueError(f"`profile_likelihood(span=...)` must be > 0, got {w!r}.")
        spans.append(float(w))
    offsets = np.linspace(-1.0, 1.0, points)
    index = np.repeat([free.index(p) for p in parameters], points)
    fixed = np.concatenate(
        [u_hat[free.index(p)] + w * offsets for p, w in zip(parameters, spans, strict=True)]
    )
    u_start = np.tile(u_hat, (index.size, 1))
    u, nll, codes = jax.device_get(
        _profile_points(problem, jnp.asarray(u_start), jnp.asarray(index), jnp.asarray(fixed),
                        optimiser, max_steps)
    )  # fmt: skip
    theta = np.asarray(jax.vmap(problem.transforms.natural)(jnp.asarray(u)))
    shape = (len(parameters), points)
    nll = np.where(codes == int(_SUCCESS._value), nll, np.nan).reshape(shape)
    best = min(result.objective, np.nanmin(nll)) if np.isfinite(nll).any() else result.objective
    delta = nll - best
    values = theta[np.arange(index.size), index].reshape(shape)
    threshold = float(scipy.stats.chi2.ppf(level, 1) / 2.0)
    rows = []
    centre = points // 2
    for k, p in enumerate(parameters):
        x, y = values[k], delta[k]
        bounds, notes = [], []
        for side, name in ((-1, "lower"), (+1, "upper")):
            half = y[: centre + 1] if side < 0 else y[centre:]
            bound = _crossing(x, y, threshold, centre, side) if np.isfinite(y[centre]) else math.nan
            if np.isfinite(bound):
                notes.append("")
            elif not np.isfinite(y[centre]):
                notes.append("re-fit failed at the estimate")
            elif np.isnan(half).any():
                # Failed re-fits on this side: undecided, not a flat profile.
                notes.append(f"re-fit failed before the {name} crossing")
            else:
                notes.append(f"flat on the {name} side")
            bounds.append(bound)
        note = "; ".join(n for n in notes if n)
        rows.append(
            {
                "parameter": p,
                "value": result.values[p],
                "lower": bounds[0],
                "upper": bounds[1],
                "identifiable": bool(np.all(np.isfinite(bounds))),
                "note": note,
                "failed_points": int(np.isnan(y).sum()),
                "max_delta_objective": float(np.nanmax(y)) if np.isfinite(y).any() else math.nan,
            }
        )
    intervals = pd.DataFrame(rows).set_index("parameter")
    dataset = xr.Dataset(
        {
            "value": (("parameter", "point"), values),
            "objective": (("parameter", "point"), nll),
            "delta_objective": (("parameter", "point"), delta),
            "status": (
                ("parameter", "point"),
                np.array([_status(c) for c in codes], dtype=object).reshape(shape),
            ),
            "estimates": (("parameter", "point", "free"), theta.reshape(*shape, len(free))),
        },
        coords={"parameter": parameters, "point": np.arange(points), "free": free},
        attrs={"threshold": threshold, "level": level},
    )
    dataset["objective"].attrs.update(units="1", long_name="negative log-likelihood")
    dataset["delta_objective"].attrs.update(
        units="1", long_name="rise of the negative log-likelihood over the best fit"
    )
    flat = [p for p, n in intervals["note"].items() if "flat" in n]
    failed = [p for p, n in intervals["note"].items() if "failed" in n]
    if flat:
        warnings.warn(
            f"`profile_likelihood`: {flat} are not identifiable from these data: the profile "
            f"stays within {threshold:.3g} of the optimum on at least one side of the scanned "
            "range (a flat profile). Add data that inform them, fix them, or widen `span` to "
            "check.",
            stacklevel=2,
        )
    if failed:
        warnings.warn(
            f"`profile_likelihood`: re-fits failed along the profile of {failed} before it "
            "crossed the threshold (see `dataset.status`), so their intervals are undecided, "
            "not flat; raise `max_steps`, narrow `span` or loosen the ODE tolerances.",
            stacklevel=2,
        )
    return Profile(dataset, intervals, threshold, level)
