"""The estimation problem: free parameters in fitting coordinates, one compiled likelihood.

Fitting coordinates `u` are unconstrained: a positive parameter is fitted as `log(theta)`, a
fraction as `logit(theta)`, a real one as itself; a parameter with bounds `(lo, hi)` maps the
same base coordinate onto the interval through a logistic function. Everything that is a number
(the model's values, the data, the noise parameters, the bounds) is a traced array, so new data
or new starting values of the same layout never recompile.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._model import Model
from .._params import Domain
from .._simulate import _OK, _options, _solve
from ._data import Measurements
from ._noise import AbstractNoise
from ._observables import Observable

LOG, LOGIT, IDENTITY = "log", "logit", "identity"


def forward_gradient(f):
    """`f` (a scalar function of one vector) with its derivative computed by forward mode:
    one `jvp` per coordinate, vmapped, through diffrax's `ForwardMode` adjoint.

    Reverse-mode users (optimistix minimisers, which linearise and transpose; numpyro's NUTS)
    then never differentiate the solver's while loop backwards: the linearisation is the
    gradient times the tangent, which transposes trivially. With a handful of parameters this
    is cheaper than checkpointed reverse mode (one forward solve per parameter, no backward
    pass; `benchmarks/fit.py` times the fits that use it).
    """

    @jax.custom_jvp
    def wrapped(u):
        return f(u)

    @wrapped.defjvp
    def _jvp(primals, tangents):
        (u,), (du,) = primals, tangents
        basis = jnp.eye(u.shape[0], dtype=u.dtype)
        values, slopes = jax.vmap(lambda e: jax.jvp(f, (u,), (e,)))(basis)
        return values[0], jnp.dot(slopes, du)

    # `f` is closed over: differentiate `wrapped` inside the same `jit` that calls it.
    return wrapped


def _base_kind(domain: Domain) -> str:
    if domain in (Domain.POSITIVE, Domain.NONNEGATIVE):
        return LOG
    if domain is Domain.FINITE:
        return IDENTITY
    return LOGIT


def _to_base(kind: str, x):
    if kind == LOG:
        return jnp.log(x)
    if kind == LOGIT:
        return jnp.log(x) - jnp.log1p(-x)
    return x


def _from_base(kind: str, b):
    if kind == LOG:
        return jnp.exp(b)
    if kind == LOGIT:
        return jax.nn.sigmoid(b)
    return b


class Transforms(eqx.Module):
    """Maps between natural parameter values `theta` and fitting coordinates `u`."""

    kinds: tuple[str, ...] = eqx.field(static=True)
    bounded: tuple[bool, ...] = eqx.field(static=True)
    lower: Float[Array, " n"]  # in base coordinates (NaN: unbounded)
    upper: Float[Array, " n"]

    def natural(self, u):
        out = []
        for i, (kind, bounded) in enumerate(zip(self.kinds, self.bounded, strict=True)):
            b = u[i]
            if bounded:
                b = self.lower[i] + (self.upper[i] - self.lower[i]) * jax.nn.sigmoid(b)
            out.append(_from_base(kind, b))
        return jnp.stack(out)

    def fitting(self, theta):
        out = []
        for i, (kind, bounded) in enumerate(zip(self.kinds, self.bounded, strict=True)):
            b = _to_base(kind, theta[i])
            if bounded:
                s = (b - self.lower[i]) / (self.upper[i] - self.lower[i])
                b = jnp.log(s) - jnp.log1p(-s)
            out.append(b)
        return jnp.stack(out)


def make_transforms(
    model: Model, free: Sequence[str], bounds: Mapping[str, tuple[float, float]] | None
) -> Transforms:
    entries = model._parameter_entries()
    bounds = dict(bounds or {})
    unknown = sorted(set(bounds) - set(free))
    if unknown:
        raise ValueError(f"`bounds` names parameters that are not `free`: {unknown}.")
    kinds, bounded, lower, upper = [], [], [], []
    for path in free:
        domain = entries[path].field.metadata["domain"]
        kind = _base_kind(domain)
        value = float(np.asarray(getattr(entries[path].where(model), entries[path].field.name)))
        lo = hi = math.nan
        if path in bounds:
            try:
                lo, hi = (float(v) for v in bounds[path])
            except (TypeError, ValueError):
                raise TypeError(
                    f"`bounds[{path!r}]` must be a pair (lower, upper) of numbers."
                ) from None
            if not (lo < hi) or not (domain.contains(lo) and domain.contains(hi)):
                raise ValueError(
                    f"`bounds[{path!r}]` = ({lo}, {hi}) must satisfy lower < upper, both "
                    f"{domain.value}"
                    + (" and > 0 (fitted in log space)" if kind == LOG else "")
                    + "."
                )
            if kind == LOG and lo <= 0:
                raise ValueError(
                    f"`bounds[{path!r}]`: the lower bound must be > 0 (the parameter is fitted "
                    "in log space)."
                )
            if kind == LOGIT and not (0 < lo and hi < 1):
                raise ValueError(
                    f"`bounds[{path!r}]` = ({lo}, {hi}) must lie strictly inside (0, 1) (the "
                    "parameter is fitted as a logit)."
                )
            if not lo < value < hi:
                raise ValueError(
                    f"`{path}` = {value:g} (the starting value, from the model) must lie strictly "
                    f"inside `bounds[{path!r}]` = ({lo:g}, {hi:g}); set it with "
                    "`model.with_parameters`."
                )
            lo, hi = (float(_to_base(kind, jnp.asarray(v))) for v in (lo, hi))
        interior = {
            LOG: value > 0,
            LOGIT: 0 < value < 1,
            IDENTITY: math.isfinite(value),
        }[kind]
        if not interior:
            raise ValueError(
                f"`{path}` = {value:g} cannot start a fit: it is fitted "
                + (
                    "in log space and must be > 0"
                    if kind == LOG
                    else "as a logit and must lie in (0, 1)"
                )
                + "; set a starting value with `model.with_parameters`."
            )
        kinds.append(kind)
        bounded.append(path in bounds)
        lower.append(lo)
        upper.append(hi)
    return Transforms(
        tuple(kinds), tuple(bounded), jnp.asarray(lower, float), jnp.asarray(upper, float)
    )


class Problem(eqx.Module):
    """Model, data and options of one estimation problem (a pytree; numbers are leaves)."""

    model: Model
    free: tuple[str, ...] = eqx.field(static=True)
    transforms: Transforms
    observables: tuple[Observable, ...] = eqx.field(static=True)
    noise: tuple[AbstractNoise, ...]
    patient: tuple[Array, ...]
    time: tuple[Array, ...]
    value: tuple[Array, ...]
    censoring: tuple[Array, ...]
    ts: Array
    t0: Array
    t1: Array
    interventions: tuple
    resolution: object
    solver: dfx.AbstractSolver
    controller: object
    root_finder: object
    adjoint: dfx.AbstractAdjoint
    max_steps: int = eqx.field(static=True)
    n_patients: int = eqx.field(static=True)

    # --- pieces ----------------------------------------------------------------------------

    def model_at(self, theta) -> Model:
        return self.model.with_parameters(dict(zip(self.free, list(theta), strict=True)))

    def solve(self, model: Model):
        return _solve(
            model,
            self.interventions,
            self.ts,
            self.t0,
            self.t1,
            self.resolution,
            self.solver,
            self.controller,
            self.max_steps,
            self.root_finder,
            self.adjoint,
        )

    def predictions(self, model: Model) -> tuple[Array, ...]:
        """Per observable, the prediction at every save time (T,) or the event time ()."""
        solution = self.solve(model)
        preds = tuple(o.predict(model, solution, self.t1) for o in self.observables)
        # A failed solve must not look like a good fit: make every term NaN.
        bad = jnp.where(solution.result == _OK, 0.0, jnp.nan)
        return tuple(p + bad for p in preds)

    def gathered(self, preds, *, per_patient: bool = False) -> tuple[Array, ...]:
        """The prediction for each measurement (row) of each observable."""
        out = []
        for o, p, pat, t in zip(self.observables, preds, self.patient, self.time, strict=True):
            if per_patient:
                out.append(p[pat] if o.event else p[pat, t])
            else:
                out.append(jnp.broadcast_to(p, pat.shape) if o.event else p[t])
        return tuple(out)

    # --- objective -------------------------------------------------------------------------

    def residuals_theta(self, theta) -> Float[Array, " M"]:
        rows = self.gathered(self.predictions(self.model_at(theta)))
        return jnp.concatenate(
            [
                n.residual(v, p, c)
                for n, v, p, c in zip(self.noise, self.value, rows, self.censoring, strict=True)
            ]
        )

    def nll_terms(self, rows) -> Float[Array, " M"]:
        return jnp.concatenate(
            [
                n.nll(v, p, c)
                for n, v, p, c in zip(self.noise, self.value, rows, self.censoring, strict=True)
            ]
        )

    def residuals(self, u) -> Float[Array, " M"]:
        return self.residuals_theta(self.transforms.natural(u))

    def nll(self, u) -> Float[Array, ""]:
        theta = self.transforms.natural(u)
        return jnp.sum(self.nll_terms(self.gathered(self.predictions(self.model_at(theta)))))

    @property
    def n_observations(self) -> int:
        return int(sum(v.shape[0] for v in self.value))


def make_problem(
    model: Model,
    data: Measurements,
    free: Sequence[str],
    *,
    bounds,
    t1: float,
    t0: float,
    resolution,
    solver,
    rtol: float,
    atol: float,
    max_steps: int,
    interventions: tuple,
    adjoint: dfx.AbstractAdjoint,
) -> Problem:
    ts = data.times if data.times.size else np.asarray([t1])
    options = _options(model, t1, t0, ts, resolution, solver, rtol, atol, max_steps)
    ts, t0, t1, resolution, solver, controller, max_steps, root_finder = options
    return Problem(
        model=model,
        free=tuple(free),
        transforms=make_transforms(model, free, bounds),
        observables=tuple(g.observable for g in data.groups),
        noise=tuple(g.noise for g in data.groups),
        patient=tuple(jnp.asarray(g.patient) for g in data.groups),
        time=tuple(jnp.asarray(g.time) for g in data.groups),
        value=tuple(jnp.asarray(g.value, jnp.float64) for g in data.groups),
        censoring=tuple(jnp.asarray(g.censoring) for g in data.groups),
        ts=jnp.asarray(ts),
        t0=jnp.asarray(t0),
        t1=jnp.asarray(t1),
        interventions=interventions,
        resolution=resolution,
        solver=solver,
        controller=controller,
        root_finder=root_finder,
        adjoint=adjoint,
        max_steps=max_steps,
        n_patients=len(data.patients),
    )
