"""Bayesian inference with NumPyro: the likelihood of [`fit`][metaflow_ode.fit] under priors,
sampled by NUTS, optionally with patient-level random effects; prediction bands from posterior
draws or profile-likelihood points.

The likelihood is the same compiled `Problem` as maximum likelihood uses (same observables,
noise models, censoring and event times). NUTS needs its gradient: by default each patient's
predictions are differentiated in forward mode (diffrax `ForwardMode`, one tangent per
parameter) inside a custom derivative, so NumPyro's reverse-mode gradient never runs the
solver backwards; `differentiation="reverse"` uses checkpointed reverse mode
(`RecursiveCheckpointAdjoint`) instead, cheaper when a patient has many free parameters.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from functools import partial

import arviz as az
import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import ParamInfo, potential_energy, transform_fn

from .._cohort import simulate_cohort
from .._model import Model
from .._params import Domain
from .._resolution import Colonies, Lumped
from ._least_squares import FitResult, Profile, build_problem
from ._noise import AbstractNoise
from ._problem import Problem

__all__ = ["BayesianModel", "numpyro_model", "prediction_bands", "sample_posterior"]

_LOG_DOMAINS = (Domain.POSITIVE, Domain.NONNEGATIVE)
_UNIT_DOMAINS = (
    Domain.UNIT_INTERVAL,
    Domain.OPEN_UNIT_INTERVAL,
    Domain.HALF_OPEN_UNIT_INTERVAL,
)
_EVENTS = {"failure_time": "failure", "warning_time": "warning", "death_time": "death"}


def _version() -> str:
    from .. import __version__

    return __version__


# --- priors ------------------------------------------------------------------------------


def _support_bounds(prior: dist.Distribution, caller: str, path: str) -> tuple[float, float]:
    """The interval `[lower, upper]` that contains the prior's support."""
    support = prior.support
    while (
        isinstance(support, constraints._IndependentConstraint)
        and support.reinterpreted_batch_ndims == 0
    ):
        support = support.base_constraint
    if support is constraints.real:
        return -math.inf, math.inf
    lower = getattr(support, "lower_bound", None)
    upper = getattr(support, "upper_bound", None)
    if lower is None and upper is None:
        raise TypeError(
            f"`{caller}(priors=...)`: the prior of {path!r} has support {support!r}; use a "
            "distribution over real numbers, an interval or a half-line (e.g. "
            "`dist.LogNormal`, `dist.LogUniform`, `dist.Beta`, `dist.Normal`)."
        )
    lo = -math.inf if lower is None else float(np.asarray(lower))
    hi = math.inf if upper is None else float(np.asarray(upper))
    return lo, hi


def _describe_prior(prior: dist.Distribution) -> str:
    """`LogUniform(low=0.01, high=1.0)`: the class and its scalar arguments."""
    args = []
    for name in getattr(prior, "arg_constraints", {}):
        value = getattr(prior, name, None)
        if value is None:
            continue
        try:
            args.append(f"{name}={float(np.asarray(value)):g}")
        except (TypeError, ValueError):
            continue
    return f"{type(prior).__name__}({', '.join(args)})"


def _check_priors(model: Model, priors, caller: str) -> dict[str, dist.Distribution]:
    if not isinstance(priors, Mapping) or not priors:
        raise TypeError(
            f"`{caller}(priors=...)` must be a non-empty mapping from parameter path to a "
            'numpyro distribution, e.g. `{"breast.growth.rate": dist.LogUniform(1e-3, 1e-1)}`; '
            f"got {type(priors).__name__}."
        )
    entries = model._parameter_entries()
    out = {}
    for path, prior in priors.items():
        if not isinstance(path, str) or path not in entries:
            raise ValueError(
                f"`{caller}(priors=...)`: unknown parameter path {path!r}; "
                "`mfo.parameters(model)` lists every path."
            )
        if not isinstance(prior, dist.Distribution):
            raise TypeError(
                f"`{caller}(priors=...)`: the prior of {path!r} must be a numpyro distribution "
                f"such as `numpyro.distributions.LogUniform(1e-3, 1e-1)`, got "
                f"{type(prior).__name__}."
            )
        if prior.batch_shape != () or prior.event_shape != ():
            raise ValueError(
                f"`{caller}(priors=...)`: the prior of {path!r} must be a scalar distribution "
                f"(batch and event shape ()), got batch shape {prior.batch_shape} and event "
                f"shape {prior.event_shape}."
            )
        if prior.is_discrete:
            raise ValueError(
                f"`{caller}(priors=...)`: the prior of {path!r} is discrete; NUTS needs "
                "continuous priors."
            )
        domain = entries[path].field.metadata["domain"]
        lo, hi = _support_bounds(prior, caller, path)
        if domain in _LOG_DOMAINS and lo < 0:
            raise ValueError(
                f"`{caller}(priors=...)`: {path!r} must be {domain.value}, but its prior "
                f"{_describe_prior(prior)} has support from {lo:g}; use a prior on positive "
                "numbers (e.g. `dist.LogNormal`, `dist.LogUniform`, `dist.HalfNormal`)."
            )
        if domain in _UNIT_DOMAINS and (lo < 0 or hi > 1):
            raise ValueError(
                f"`{caller}(priors=...)`: {path!r} must be {domain.value}, but its prior "
                f"{_describe_prior(prior)} has support [{lo:g}, {hi:g}]; use a prior on [0, 1] "
                "(e.g. `dist.Beta`, `dist.Uniform(0, 1)`)."
            )
        out[path] = prior
    return out


# --- the numpyro model -------------------------------------------------------------------


def _forward_predictions(problem: Problem):
    """`theta -> problem.predictions(problem.model_at(theta))` with its derivative computed in
    forward mode: one `jvp` per coordinate of `theta`, vmapped, so reverse-mode callers
    (NumPyro's gradients) never run the ODE solver's while loop backwards. Cheaper than
    checkpointed reverse mode for the handful of parameters of one patient (as
    `forward_gradient` of the fitting problem). The problem's arrays are arguments of the
    custom derivative, not closed over, so that it can be differentiated from outside a
    `jit`; their own derivatives are not computed (they are data)."""
    dynamic, static = eqx.partition(problem, eqx.is_array)

    def predictions(arrays, theta):
        p = eqx.combine(arrays, static)
        return p.predictions(p.model_at(theta))

    @jax.custom_jvp
    def wrapped(arrays, theta):
        return predictions(arrays, theta)

    @wrapped.defjvp
    def _jvp(primals, tangents):
        arrays, theta = primals
        basis = jnp.eye(theta.shape[0], dtype=theta.dtype)
        values, slopes = jax.vmap(lambda e: jax.jvp(partial(predictions, arrays), (theta,), (e,)))(
            basis
        )
        out = jax.tree.map(lambda v: v[0], values)
        return out, jax.tree.map(lambda s: jnp.tensordot(tangents[1], s, axes=1), slopes)

    return lambda theta: wrapped(dynamic, theta)


@eqx.filter_jit
def _log_likelihood(
    problem: Problem, theta, omega, eta, random_effects: tuple[str, ...], forward: bool
):
    """Log-likelihood at `theta` (n_free,); with random effects `omega` (R,) and `eta` (R, P)
    give each patient `theta * exp(omega * eta)` for those parameters. `forward`: derivatives
    of the predictions with respect to each patient's parameters in forward mode."""

    if forward:
        predictions = _forward_predictions(problem)
    else:

        def predictions(th):
            return problem.predictions(problem.model_at(th))

    if not random_effects:
        rows = problem.gathered(predictions(theta))
    else:
        per_patient = jnp.broadcast_to(theta, (problem.n_patients, theta.shape[0]))
        for r, path in enumerate(random_effects):
            k = problem.free.index(path)
            per_patient = per_patient.at[:, k].multiply(jnp.exp(omega[r] * eta[r]))
        rows = problem.gathered(jax.vmap(predictions)(per_patient), per_patient=True)
    total = -jnp.sum(problem.nll_terms(rows))
    # A failed solve gives NaN predictions: zero density, so NUTS rejects the point.
    return jnp.where(jnp.isnan(total), -jnp.inf, total)


class BayesianModel:
    """A zero-argument NumPyro model of a `metaflow_ode` likelihood; made by
    [`numpyro_model`][metaflow_ode.numpyro_model].

    Call it inside NumPyro's inference machinery (`numpyro.infer.NUTS(bayesian_model)`,
    `numpyro.infer.util.log_density(bayesian_model, (), {}, values)`, ...).

    **Sample sites** (all scalars unless noted):

    - one per free parameter, named by its path (e.g. `"adrenal.growth.rate"`), in its own
      units; for a parameter with a random effect, the population median;
    - for each random effect `path`: `"path.omega"`, the standard deviation of
      `log(theta_i)` between patients (natural-log units), and `"path.eta"` (shape `(P,)`,
      in the `"patient"` plate), each patient's standardised deviation;
    - `"log_likelihood"`: a factor, the log-likelihood of the data (natural log units).

    **Attributes:** `free` (paths, in order), `priors`, `random_effects`, `omega_scale`
    (`{path: scale}`), `patients` (the data's patient labels), `n_patients`, `problem` (the
    compiled likelihood), `data` (the normalised measurement table, a `pandas.DataFrame`).
    """

    def __init__(self, problem, priors, random_effects, omega_scale, data, differentiation):
        self.problem: Problem = problem
        self.differentiation: str = differentiation
        self.priors: dict[str, dist.Distribution] = priors
        self.free: tuple[str, ...] = tuple(priors)
        self.random_effects: tuple[str, ...] = tuple(random_effects)
        self.omega_scale: dict[str, float] = omega_scale
        self.patients: tuple[str, ...] = tuple(data.patients)
        self.n_patients: int = problem.n_patients
        self.data = data.table

    @staticmethod
    def omega_site(path: str) -> str:
        """Name of the sample site of the between-patient standard deviation of `path`."""
        return f"{path}.omega"

    @staticmethod
    def eta_site(path: str) -> str:
        """Name of the sample site of the patients' standardised deviations of `path`."""
        return f"{path}.eta"

    @staticmethod
    def individual_name(path: str) -> str:
        """Name of the posterior variable of the patients' values of `path`."""
        return f"{path}.individual"

    def log_likelihood(self, theta, omega=None, eta=None):
        """The log-likelihood of the data (natural log units); `-inf` where a solve failed.

        `theta`: the free parameters' values (population medians) in the order of `free`;
        `omega` `{path: scalar}` and `eta` `{path: (P,)}` for the random effects. Compiled
        once per model layout (inside NumPyro's own compiled sampler it is inlined).
        """
        theta = jnp.stack([jnp.asarray(t, jnp.float64) for t in theta])
        if self.random_effects:
            omega = jnp.stack([jnp.asarray(omega[p], jnp.float64) for p in self.random_effects])
            eta = jnp.stack([jnp.asarray(eta[p], jnp.float64) for p in self.random_effects])
        return _log_likelihood(
            self.problem, theta, omega, eta, self.random_effects, self.differentiation == "forward"
        )

    def __call__(self):
        theta = [numpyro.sample(path, prior) for path, prior in self.priors.items()]
        omega, eta = {}, {}
        for path in self.random_effects:
            omega[path] = numpyro.sample(
                self.omega_site(path), dist.HalfNormal(self.omega_scale[path])
            )
        if self.random_effects:
            with numpyro.plate("patient", self.n_patients):
                for path in self.random_effects:
                    eta[path] = numpyro.sample(self.eta_site(path), dist.Normal(0.0, 1.0))
        numpyro.factor("log_likelihood", self.log_likelihood(theta, omega, eta))

    def transforms(self) -> dict:
        """NumPyro's bijections from unconstrained coordinates onto each site's support."""
        out = {p: biject_to(prior.support) for p, prior in self.priors.items()}
        for path in self.random_effects:
            out[self.omega_site(path)] = biject_to(constraints.positive)
            out[self.eta_site(path)] = biject_to(constraints.real)
        return out

    def init_values(self, init=None) -> dict[str, np.ndarray]:
        """Starting values of every sample site: the model's values of the free parameters
        (or `init`: a [`FitResult`][metaflow_ode.FitResult] or `{path: value}`), `omega` at
        half its prior scale, `eta` at 0. Raises if a value is outside its prior's support."""
        values = {p: float(np.asarray(self.problem.model.parameter_values()[p])) for p in self.free}
        values.update(_init_mapping(init, self.free))
        for path, value in values.items():
            prior = self.priors[path]
            inside = bool(prior.support(jnp.asarray(value))) and bool(
                np.isfinite(prior.log_prob(jnp.asarray(value)))
            )
            if not inside:
                raise ValueError(
                    f"The starting value of {path!r} ({value:g}) is outside the support of its "
                    f"prior {_describe_prior(prior)}: set it with `model.with_parameters` or "
                    "`sample_posterior(init={...})`."
                )
        out = {p: np.asarray(v, np.float64) for p, v in values.items()}
        for path in self.random_effects:
            out[self.omega_site(path)] = np.asarray(0.5 * self.omega_scale[path])
            out[self.eta_site(path)] = np.zeros(self.n_patients)
        return out


def _init_mapping(init, free) -> dict[str, float]:
    """`sample_posterior(init=...)` as `{path: value}` for the paths in `free`."""
    if init is None:
        return {}
    if isinstance(init, FitResult):
        return {p: float(v) for p, v in init.values.items() if p in free}
    if not isinstance(init, Mapping):
        raise TypeError(
            "`sample_posterior(init=...)` must be a `FitResult` or a mapping {path: value}, got "
            f"{type(init).__name__}."
        )
    unknown = sorted(str(p) for p in set(init) - set(free))
    if unknown:
        raise ValueError(
            f"`sample_posterior(init=...)` names {unknown}, which have no prior (free "
            f"parameters: {list(free)})."
        )
    out = {}
    for path, value in init.items():
        try:
            out[path] = float(np.asarray(value))
        except (TypeError, ValueError):
            raise TypeError(
                f"`sample_posterior(init=...)`: the value of {path!r} must be a number."
            ) from None
    return out


def numpyro_model(
    model: Model,
    data,
    priors: Mapping[str, dist.Distribution],
    *,
    noise: Mapping[str, AbstractNoise] | None = None,
    random_effects: Sequence[str] = (),
    omega_scale: float | Mapping[str, float] = 0.5,
    t1: float | None = None,
    t0: float = 0.0,
    resolution: Lumped | Colonies = Lumped(),
    solver: dfx.AbstractSolver | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    ode_max_steps: int = 100_000,
    interventions=(),
    differentiation: str = "forward",
    _caller: str = "numpyro_model",
) -> BayesianModel:
    """The NumPyro model of `data` under `priors`: the likelihood of [`fit`][metaflow_ode.fit]
    (same observables, noise models, censoring and event times) times the priors.

    Every parameter named in `priors` is sampled from its prior (in its own units); the rest
    keep the values of `model`. The log-likelihood enters as the factor `"log_likelihood"`;
    a failed ODE solve makes it `-inf` (NUTS rejects the point).

    With `random_effects`, the listed parameters vary between patients (the `patient` column
    of `data`), log-normally about a population median that has the prior: for patient `i`,
    `log(theta_i) = log(theta) + omega * eta_i`, `eta_i ~ Normal(0, 1)` (the non-centred
    parametrisation), `omega ~ HalfNormal(omega_scale)`; as in the mixed-effects models of
    metastatic relapse of Nicolo C et al., JCO Clin Cancer Inform 2020; 4. Each
    patient's model is solved separately (one `vmap`).

    **Arguments:**

    - `model`: the [`Model`][metaflow_ode.Model]; its values are the fixed parameters and the
      default starting point.
    - `data`: the measurement table of [`fit`][metaflow_ode.fit].
    - `priors`: `{path: numpyro distribution}`, e.g. `{"adrenal.growth.rate":
      dist.LogUniform(0.03, 3.0)}`, in the parameter's units; the free parameters, in this
      order. The support must lie in the parameter's domain (e.g. a positive parameter needs
      a prior on positive numbers).
    - `noise`: `{observable: noise model}` as in [`fit`][metaflow_ode.fit].
    - `random_effects`: paths in `priors` (positive or non-negative parameters) that vary
      between patients.
    - `omega_scale`: scale of the half-normal prior of each `omega` (natural-log units; 0.5
      is a factor of about 1.6 between patients), one number or `{path: scale}`.
    - `t1`, `t0`, `resolution`, `solver`, `rtol`, `atol`, `ode_max_steps`, `interventions`:
      as in [`fit`][metaflow_ode.fit].
    - `differentiation`: how gradients pass through the ODE solve. `"forward"` (default): one
      forward-mode tangent per free parameter of a patient, computed with the solve (no
      backward pass; cheaper with few parameters per patient); `"reverse"`: checkpointed
      reverse mode, whose cost does
      not grow with the number of parameters (for many free parameters per patient).

    **Returns:** a [`BayesianModel`][metaflow_ode.BayesianModel], a zero-argument callable
    NumPyro model.
    """
    if not isinstance(model, Model):
        raise TypeError(f"`{_caller}(model, ...)` takes a `mfo.Model`, got {type(model).__name__}.")
    if differentiation not in ("forward", "reverse"):
        raise ValueError(
            f"`{_caller}(differentiation=...)` must be 'forward' or 'reverse', got "
            f"{differentiation!r}."
        )
    priors = _check_priors(model, priors, _caller)
    if isinstance(random_effects, str) or not isinstance(random_effects, Sequence):
        raise TypeError(
            f"`{_caller}(random_effects=...)` must be a list of parameter paths, got "
            f"{type(random_effects).__name__}."
        )
    random_effects = tuple(random_effects)
    problem, measured = build_problem(
        model,
        data,
        list(priors),
        noise=noise,
        bounds=None,
        t1=t1,
        t0=t0,
        resolution=resolution,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=ode_max_steps,
        interventions=interventions,
        adjoint=dfx.ForwardMode()
        if differentiation == "forward"
        else dfx.RecursiveCheckpointAdjoint(),
        caller=_caller,
    )
    entries = model._parameter_entries()
    for path in random_effects:
        if path not in priors:
            raise ValueError(
                f"`{_caller}(random_effects=...)`: {path!r} has no prior; random effects "
                f"must be among the paths of `priors` ({list(priors)})."
            )
        domain = entries[path].field.metadata["domain"]
        if domain not in _LOG_DOMAINS:
            raise ValueError(
                f"`{_caller}(random_effects=...)`: {path!r} is {domain.value}; random "
                "effects are log-normal and need a positive parameter."
            )
    if len(set(random_effects)) != len(random_effects):
        raise ValueError(f"`{_caller}(random_effects=...)` names a parameter twice.")
    if random_effects and problem.n_patients < 2:
        raise ValueError(
            f"`{_caller}(random_effects=...)` needs data from at least 2 patients (a "
            "`patient` column); the data have one."
        )
    scales = {}
    for path in random_effects:
        scale = omega_scale.get(path, 0.5) if isinstance(omega_scale, Mapping) else omega_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
            raise ValueError(
                f"`{_caller}(omega_scale=...)` must be a number > 0 (or {{path: number}}), got "
                f"{scale!r}."
            )
        scales[path] = float(scale)
    return BayesianModel(problem, priors, random_effects, scales, measured, differentiation)


# --- NUTS --------------------------------------------------------------------------------


def sample_posterior(
    model: Model,
    data,
    priors: Mapping[str, dist.Distribution],
    *,
    num_warmup: int = 500,
    num_samples: int = 500,
    num_chains: int = 1,
    seed: int = 0,
    init: FitResult | Mapping[str, float] | None = None,
    progress_bar: bool = False,
    target_accept_prob: float = 0.8,
    max_tree_depth: int = 10,
    chain_method: str | None = None,
    noise: Mapping[str, AbstractNoise] | None = None,
    random_effects: Sequence[str] = (),
    omega_scale: float | Mapping[str, float] = 0.5,
    t1: float | None = None,
    t0: float = 0.0,
    resolution: Lumped | Colonies = Lumped(),
    solver: dfx.AbstractSolver | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    ode_max_steps: int = 100_000,
    interventions=(),
    differentiation: str = "forward",
) -> az.InferenceData:
    """Sample the posterior of the parameters in `priors` given `data` with NUTS (NumPyro).

    The model is that of [`numpyro_model`][metaflow_ode.numpyro_model] (the likelihood of
    [`fit`][metaflow_ode.fit] under the priors, optionally with patient-level random effects).
    NUTS (Hoffman & Gelman, JMLR 2014; 15:1593) adapts its step size and a diagonal mass
    matrix during `num_warmup` steps, in NumPyro's unconstrained coordinates of each prior's
    support (log space for a prior on positive numbers, a logistic map for a prior on an
    interval such as `LogUniform`). Every chain starts at the same
    point: `init`, or the model's values. Check convergence with `arviz.summary(idata)`
    (`r_hat` near 1, effective sample sizes in the hundreds); a warning counts divergent
    transitions.

    **Arguments:**

    - `model`, `data`, `priors`, `noise`, `random_effects`, `omega_scale`, `t1`, `t0`,
      `resolution`, `solver`, `rtol`, `atol`, `ode_max_steps`, `interventions`,
      `differentiation`: as in [`numpyro_model`][metaflow_ode.numpyro_model].
    - `num_warmup`, `num_samples`: NUTS steps per chain, of adaptation and kept draws.
    - `num_chains`: chains; run in parallel over JAX devices if there are enough, else one
      after the other (`chain_method`: NumPyro's `"parallel"`, `"sequential"` or
      `"vectorized"` to override).
    - `seed`: seed of the sampler.
    - `init`: where the chains start: a [`FitResult`][metaflow_ode.FitResult] (its estimates
      of the paths in `priors`; without random effects, the covariance of its estimate in
      NumPyro's unconstrained coordinates is also the initial dense inverse mass matrix, which
      saves most of the warm-up when the posterior is narrow) or `{path: value}`; the
      default is the model's values. Random effects start at `omega` = half its prior scale
      and `eta` = 0.
    - `progress_bar`: show NumPyro's progress bar.
    - `target_accept_prob`, `max_tree_depth`: NUTS settings (raise the first, e.g. to 0.95,
      if there are divergent transitions).

    **Returns:** an `arviz.InferenceData`:

    - `posterior`: one variable per path in `priors` (dims `chain`, `draw`; the parameter's
      `units` in its attrs; the population median for a random effect) and, per random
      effect `path`, `path.omega` (natural-log units), `path.eta` (dims `chain`, `draw`,
      `patient`; coordinate: the data's patient labels) and `path.individual`, each
      patient's value `theta * exp(omega * eta)` (same dims, the parameter's units);
    - `sample_stats`: `lp` (log density in NumPyro's unconstrained coordinates), `diverging`,
      `acceptance_rate`, `step_size`, `n_steps`, `tree_depth`, `energy`;
    - `observed_data`: the measurement table (dim `measurement`).

    The posterior's attrs name the library version (`metaflow_ode_version`), the free
    parameters (`free_parameters`, JSON list), the priors (`priors`, JSON) and
    `random_effects` (JSON list).
    """
    for name, value, low in (
        ("num_warmup", num_warmup, 0),
        ("num_samples", num_samples, 1),
        ("num_chains", num_chains, 1),
        ("seed", seed, 0),
        ("max_tree_depth", max_tree_depth, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(
                f"`sample_posterior({name}=...)` must be an integer >= {low}, got {value!r}."
            )
    if not isinstance(target_accept_prob, (int, float)) or not 0 < target_accept_prob < 1:
        raise ValueError(
            "`sample_posterior(target_accept_prob=...)` must be in (0, 1), got "
            f"{target_accept_prob!r}."
        )
    if isinstance(model, Model) and isinstance(priors, Mapping):
        # The starting point is the model's values of the free parameters.
        start = _init_mapping(init, [p for p in priors if isinstance(p, str)])
        entries = model._parameter_entries()
        for path, value in start.items():
            domain = entries[path].field.metadata["domain"] if path in entries else None
            if domain is not None and not domain.contains(value):
                raise ValueError(
                    f"`sample_posterior(init=...)`: {path!r} = {value:g} must be {domain.value}."
                )
        model = model.with_parameters(start) if start else model
    bayes = numpyro_model(
        model,
        data,
        priors,
        noise=noise,
        random_effects=random_effects,
        omega_scale=omega_scale,
        t1=t1,
        t0=t0,
        resolution=resolution,
        solver=solver,
        rtol=rtol,
        atol=atol,
        ode_max_steps=ode_max_steps,
        interventions=interventions,
        differentiation=differentiation,
        _caller="sample_posterior",
    )
    start = bayes.init_values()
    # NUTS runs on NumPyro's potential (minus the log density in the unconstrained
    # coordinates of each site's support, Jacobians included) of the model above. Its value
    # and gradient at the start are computed here in one compiled call and handed to NumPyro,
    # which would otherwise evaluate the model op by op (seconds of dispatch and several
    # separate compilations of the ODE solve).
    transforms = bayes.transforms()
    potential = partial(potential_energy, bayes, (), {})
    z0 = transform_fn(transforms, {k: jnp.asarray(v) for k, v in start.items()}, invert=True)
    pe0, grad0 = jax.jit(jax.value_and_grad(potential))(z0)
    finite = np.isfinite(float(pe0)) and all(
        np.all(np.isfinite(np.asarray(g))) for g in jax.tree.leaves(grad0)
    )
    if not finite:
        point = {p: float(start[p]) for p in bayes.free}
        raise ValueError(
            "`sample_posterior`: the log density or its gradient is not finite at the starting "
            f"point {point} (a failed ODE solve, or a prior that excludes it); start elsewhere "
            "with `init=` (e.g. the `FitResult` of `mfo.fit`)."
        )
    init_params = ParamInfo(z0, pe0, grad0)
    if num_chains > 1:
        init_params = jax.tree.map(
            lambda a: jnp.broadcast_to(a, (num_chains, *jnp.shape(a))), init_params
        )
    if chain_method is None:
        chain_method = "parallel" if jax.local_device_count() >= num_chains else "sequential"
    inverse_mass = _inverse_mass_from_fit(init, bayes, transforms, z0)
    kernel = numpyro.infer.NUTS(
        potential_fn=potential,
        target_accept_prob=float(target_accept_prob),
        max_tree_depth=int(max_tree_depth),
        inverse_mass_matrix=inverse_mass,
        dense_mass=inverse_mass is not None,
    )
    mcmc = numpyro.infer.MCMC(
        kernel,
        num_warmup=int(num_warmup),
        num_samples=int(num_samples),
        num_chains=int(num_chains),
        chain_method=chain_method,
        progress_bar=bool(progress_bar),
    )
    mcmc.run(
        jax.random.PRNGKey(int(seed)),
        init_params=init_params,
        extra_fields=(
            "potential_energy",
            "energy",
            "diverging",
            "accept_prob",
            "num_steps",
            "adapt_state.step_size",
        ),
    )
    return _inference_data(
        bayes,
        mcmc.get_samples(group_by_chain=True),
        mcmc.get_extra_fields(group_by_chain=True),
    )


def _inverse_mass_from_fit(init, bayes: BayesianModel, transforms, z0):
    """The covariance of a [`FitResult`][metaflow_ode.FitResult]'s estimate carried into
    NumPyro's unconstrained coordinates (delta method), as NUTS's initial dense inverse mass
    matrix; `None` (NumPyro's identity) when there is no usable fit.

    With the identity, a posterior much narrower than 1 in the unconstrained coordinates (a
    growth rate known to 0.2 %) makes the first warm-up window take tiny steps and the deepest
    trees (up to 1023 gradients per draw); starting from the fit's covariance, the first
    window already moves at the posterior's scale."""
    if not isinstance(init, FitResult) or bayes.random_effects:
        return None
    problem = init._problem
    cov = np.asarray(init.covariance_fitting)
    if set(problem.free) != set(bayes.free) or not np.all(np.isfinite(cov)):
        return None
    order = sorted(z0)  # the order in which JAX flattens a dict, as NumPyro ravels it

    def unconstrained(u):
        theta = problem.transforms.natural(u)
        values = {p: theta[i] for i, p in enumerate(problem.free)}
        z = transform_fn({p: transforms[p] for p in values}, values, invert=True)
        return jnp.stack([z[k] for k in order])

    jac = np.asarray(jax.jacfwd(unconstrained)(jnp.asarray(init._u)))
    inverse_mass = jac @ cov @ jac.T
    if not np.all(np.isfinite(inverse_mass)) or np.any(np.linalg.eigvalsh(inverse_mass) <= 0):
        return None
    return jnp.asarray(0.5 * (inverse_mass + inverse_mass.T))


def _inference_data(bayes: BayesianModel, samples, extra_fields) -> az.InferenceData:
    """The InferenceData of NUTS draws: `samples` `{site: (chain, draw, ...)}` in NumPyro's
    unconstrained coordinates, `extra_fields` the sampler's statistics (same leading dims)."""
    # Map the unconstrained draws onto each site's support.
    samples = transform_fn(bayes.transforms(), samples)
    samples = {k: np.asarray(v) for k, v in jax.device_get(samples).items()}
    entries = bayes.problem.model._parameter_entries()
    dims: dict[str, list[str]] = {}
    for path in bayes.random_effects:
        omega = samples[bayes.omega_site(path)]
        eta = samples[bayes.eta_site(path)]
        samples[bayes.individual_name(path)] = samples[path][..., None] * np.exp(
            omega[..., None] * eta
        )
        dims[bayes.eta_site(path)] = ["patient"]
        dims[bayes.individual_name(path)] = ["patient"]
    posterior = {}
    for path in bayes.free:
        posterior[path] = samples[path]
        for name in (bayes.omega_site(path), bayes.eta_site(path), bayes.individual_name(path)):
            if name in samples:
                posterior[name] = samples[name]
    attrs = {
        "metaflow_ode_version": _version(),
        "free_parameters": json.dumps(list(bayes.free)),
        "priors": json.dumps({p: _describe_prior(d) for p, d in bayes.priors.items()}),
        "random_effects": json.dumps(list(bayes.random_effects)),
    }
    coords = {"patient": list(bayes.patients)} if bayes.random_effects else None
    post = az.dict_to_dataset(posterior, library=numpyro, coords=coords, dims=dims, attrs=attrs)
    for path in bayes.free:
        units = entries[path].field.metadata["units"]
        description = entries[path].field.metadata.get("description", "")
        what = "population median of " if path in bayes.random_effects else ""
        post[path].attrs.update(units=units, long_name=f"{what}{path} ({description})")
        if path in bayes.random_effects:
            post[bayes.omega_site(path)].attrs.update(
                units="1 (natural log)",
                long_name=f"between-patient standard deviation of log({path})",
            )
            post[bayes.eta_site(path)].attrs.update(
                units="1", long_name=f"standardised deviation of log({path}) of each patient"
            )
            post[bayes.individual_name(path)].attrs.update(
                units=units, long_name=f"{path} of each patient"
            )

    rename = {
        "potential_energy": "lp",
        "adapt_state.step_size": "step_size",
        "num_steps": "n_steps",
        "accept_prob": "acceptance_rate",
    }
    stats = {}
    for name, value in jax.device_get(extra_fields).items():
        if isinstance(value, (dict, tuple)):
            continue
        value = np.asarray(value)
        stats[rename.get(name, name)] = -value if name == "potential_energy" else value
        if name == "num_steps":
            stats["tree_depth"] = np.log2(np.maximum(value, 1)).astype(int) + 1
    sample_stats = az.dict_to_dataset(stats, library=numpyro, attrs=attrs)
    n_divergent = int(np.sum(stats.get("diverging", 0)))
    if n_divergent:
        warnings.warn(
            f"`sample_posterior`: {n_divergent} divergent transitions after warm-up; the "
            "posterior may be biased there. Raise `target_accept_prob` (e.g. 0.95), or check "
            "for failed solves (loosen `rtol`/`atol`, narrow the priors).",
            stacklevel=3,
        )
    table = bayes.data.reset_index(drop=True)
    observed = xr.Dataset(
        {
            "patient": ("measurement", table["patient"].astype(str).to_numpy()),
            "time": ("measurement", table["time"].to_numpy(), {"units": "day"}),
            "observable": ("measurement", table["observable"].astype(str).to_numpy()),
            "value": ("measurement", table["value"].to_numpy()),
            "censoring": ("measurement", table["censoring"].astype(str).to_numpy()),
        },
        coords={"measurement": np.arange(len(table))},
    )
    return az.InferenceData(posterior=post, sample_stats=sample_stats, observed_data=observed)


# --- prediction bands --------------------------------------------------------------------


def _draws_from_samples(model: Model, samples, patient) -> tuple[dict[str, np.ndarray], str]:
    entries = model._parameter_entries()
    if isinstance(samples, az.InferenceData):
        if "posterior" not in samples.groups():
            raise ValueError("`prediction_bands(samples=...)`: the InferenceData has no posterior.")
        post = samples.posterior
        out = {}
        for name, var in post.data_vars.items():
            if name not in entries:
                continue
            if patient is not None and f"{name}.individual" in post:
                indiv = post[f"{name}.individual"]
                labels = [str(p) for p in indiv["patient"].values]
                if str(patient) not in labels:
                    raise ValueError(
                        f"`prediction_bands(patient=...)`: {patient!r} is not a patient of the "
                        f"posterior ({labels})."
                    )
                var = indiv.isel(patient=labels.index(str(patient)))
            if set(var.dims) != {"chain", "draw"}:
                continue
            out[str(name)] = var.transpose("chain", "draw").values.reshape(-1)
        if not out:
            raise ValueError(
                "`prediction_bands(samples=...)`: the posterior has no variable named by a "
                "parameter path of `model`."
            )
        return out, "posterior draws"
    if patient is not None:
        raise ValueError(
            "`prediction_bands(patient=...)` needs a hierarchical posterior (InferenceData)."
        )
    if isinstance(samples, Profile):
        ds = samples.dataset
        keep = np.asarray(ds["delta_objective"] <= samples.threshold)  # NaN: failed point
        estimates = np.asarray(ds["estimates"].values)[keep]  # (points, free)
        if estimates.shape[0] == 0:
            raise ValueError("`prediction_bands`: the profile has no point below its threshold.")
        free = [str(f) for f in ds["free"].values]
        return {p: estimates[:, i] for i, p in enumerate(free)}, "profile likelihood points"
    if isinstance(samples, Mapping):
        if not samples:
            raise ValueError("`prediction_bands(samples=...)` is an empty mapping.")
        out, n = {}, None
        for path, values in samples.items():
            if not isinstance(path, str) or path not in entries:
                raise ValueError(
                    f"`prediction_bands(samples=...)`: unknown parameter path {path!r}; "
                    "`mfo.parameters(model)` lists every path."
                )
            array = np.asarray(values, dtype=np.float64)
            if array.ndim != 1 or array.size == 0 or (n is not None and array.size != n):
                raise ValueError(
                    "`prediction_bands(samples=...)`: give every path a 1-D array of values, "
                    f"all of the same length; {path!r} has shape {array.shape}."
                )
            n = array.size
            out[path] = array
        return out, "given parameter values"
    raise TypeError(
        "`prediction_bands(samples=...)` takes an `arviz.InferenceData` (from "
        "`sample_posterior`), a `Profile` (from `profile_likelihood`) or a mapping "
        f"{{path: 1-D array}}; got {type(samples).__name__}."
    )


def prediction_bands(
    model: Model,
    samples,
    t1: float,
    *,
    saveat=None,
    quantiles: Sequence[float] = (0.025, 0.5, 0.975),
    draws: int = 200,
    seed: int = 0,
    patient: str | None = None,
    t0: float = 0.0,
    resolution: Lumped | Colonies = Lumped(),
    solver: dfx.AbstractSolver | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    max_steps: int = 100_000,
    interventions=(),
    variables: Sequence[str] = ("burden", "failure_time", "death_time"),
    chunk_size: int = 256,
) -> xr.Dataset:
    """Prediction bands: simulate `model` at many plausible parameter sets and summarise.

    The parameter sets are posterior draws, the points of a profile likelihood within its
    confidence threshold (a profile-likelihood prediction envelope; use `quantiles=(0, 1)`
    for the envelope itself, as the points are not a sample from a distribution), or given
    values. They run as one virtual cohort ([`simulate_cohort`][metaflow_ode.simulate_cohort],
    one patient per draw); the other parameters keep the values of `model`.

    **Arguments:**

    - `model`: the [`Model`][metaflow_ode.Model].
    - `samples`: an `arviz.InferenceData` from [`sample_posterior`][metaflow_ode.sample_posterior]
      (its posterior variables named by a path of `model`; for a hierarchical posterior the
      population medians, i.e. the typical patient, unless `patient` is given), a
      [`Profile`][metaflow_ode.Profile] (its points whose `delta_objective` is at most its
      threshold, each with every free parameter's value) or `{path: 1-D array}`.
    - `t1`: end of the simulation (days).
    - `saveat`: save times as in [`simulate`][metaflow_ode.simulate] (default 101 equally
      spaced times).
    - `quantiles`: probabilities of the bands, each in [0, 1].
    - `draws`: at most this many parameter sets are simulated, chosen at random without
      replacement (seed `seed`) when there are more; otherwise all, in order.
    - `patient`: with a hierarchical posterior, the label of a patient whose values
      (`path.individual`) are used for the parameters with random effects.
    - `t0`, `resolution`, `solver`, `rtol`, `atol`, `max_steps`, `interventions`: as in
      [`simulate`][metaflow_ode.simulate].
    - `variables`: outputs of [`simulate`][metaflow_ode.simulate] to summarise: event times
      (`failure_time`, `warning_time`, `death_time`) give per-draw values and probabilities,
      time-dependent outputs (e.g. `burden`, `volume`) give quantiles over the draws.
    - `chunk_size`: draws solved together (see [`simulate_cohort`][metaflow_ode.simulate_cohort]).

    **Returns:** an `xarray.Dataset` with coordinates `quantile`, `time` (days), `organ`,
    `draw`, `parameter`:

    - for each time-dependent variable, e.g. `burden(quantile, time, organ)` (cells): its
      quantiles over the draws (draws whose solve failed are left out);
    - `failure_probability(time, organ)` (1): the share of draws whose organ failed by each
      save time (likewise `warning_probability`); `death_probability(time)` (1);
    - `failure_time(draw, organ)`, `death_time(draw)` (days; NaN: no event by `t1`);
    - `parameter_value(draw, parameter)`: the parameter sets simulated (each in its units).

    The attrs give the `source` of the draws, the number of `draws` and `failed_draws`, and
    `metaflow_ode_version`.
    """
    if not isinstance(model, Model):
        raise TypeError(
            f"`prediction_bands(model, ...)` takes a `mfo.Model`, got {type(model).__name__}."
        )
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 1:
        raise ValueError(f"`prediction_bands(draws=...)` must be an integer >= 1, got {draws!r}.")
    q = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
    if q.ndim != 1 or q.size == 0 or not np.all((q >= 0) & (q <= 1)):
        raise ValueError(
            f"`prediction_bands(quantiles=...)` must be probabilities in [0, 1], got {quantiles!r}."
        )
    if isinstance(variables, str) or not all(isinstance(v, str) for v in variables):
        raise TypeError("`prediction_bands(variables=...)` must be a list of variable names.")
    values, source = _draws_from_samples(model, samples, patient)
    n = next(iter(values.values())).size
    if n > draws:
        chosen = np.sort(np.random.default_rng(seed).choice(n, size=int(draws), replace=False))
        values = {p: v[chosen] for p, v in values.items()}
        n = int(draws)
    cohort = simulate_cohort(
        model,
        values,
        t1,
        t0=t0,
        saveat=saveat,
        resolution=resolution,
        solver=solver,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        interventions=interventions,
        variables=list(variables),
        chunk_size=int(min(chunk_size, n)),
        progress=False,
    )
    cohort = cohort.load().rename({"patient": "draw"})
    missing = [v for v in variables if v not in cohort]
    if missing:
        raise ValueError(f"`prediction_bands(variables=...)`: {missing} are not outputs.")
    cohort = cohort.assign_coords(draw=np.arange(n))
    failed = np.zeros(n, bool)
    if "solver_status" in cohort:
        failed = np.asarray(cohort["solver_status"].values != "successful")
    times = cohort["time"].values
    out = xr.Dataset(coords={"quantile": ("quantile", q), "time": ("time", times)})
    out["quantile"].attrs.update(units="1", long_name="probability of the band")
    out["time"].attrs.update(units="day", long_name="time")
    for name in variables:
        var = cohort[name]
        attrs = dict(var.attrs)
        if name in _EVENTS:
            out[name] = var
            out[name].attrs.update(units=attrs.get("units", "day"))
            event = _EVENTS[name]
            t = var.values[..., None]  # (draw, [organ], 1)
            with np.errstate(invalid="ignore"):
                happened = (t <= times).astype(float)  # NaN time: no event
            happened = np.moveaxis(happened, -1, 1)  # (draw, time, [organ])
            share = happened[~failed].mean(axis=0) if (~failed).any() else np.nan * happened[0]
            dims = ("time",) + var.dims[1:]
            out[f"{event}_probability"] = (dims, share)
            out[f"{event}_probability"].attrs.update(
                units="1", long_name=f"share of the draws with {event} by this time"
            )
        elif "time" in var.dims and np.issubdtype(var.dtype, np.number):
            data = var.transpose("draw", ...).values
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
                band = np.nanquantile(data, q, axis=0)
            out[name] = (("quantile",) + var.dims[1:], band)
            out[name].attrs.update(
                units=attrs.get("units", "1"),
                long_name=f"quantiles over the draws of the {attrs.get('long_name', name)}",
            )
        else:
            out[name] = var
            out[name].attrs.update(units=attrs.get("units", "1"))
    if "parameter_value" in cohort:
        out["parameter_value"] = cohort["parameter_value"]
        out["parameter_value"].attrs.update(
            units="units of each parameter", long_name="the parameter sets simulated"
        )
    for name, coord in cohort.coords.items():
        if name not in out.coords and name in out.dims:
            out = out.assign_coords({name: coord})
    out.attrs.update(
        source=source,
        draws=n,
        failed_draws=int(failed.sum()),
        metaflow_ode_version=_version(),
        t1=float(t1),
    )
    return out
