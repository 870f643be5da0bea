"""Bayesian inference: NUTS against the profile likelihood, the NumPyro log density against
the maximum-likelihood objective and scipy priors, the hierarchical model against a by-hand
likelihood, prediction bands against closed forms, and the validation of every argument.

The model is the neuroblastoma model of Benzekry et al. 2021 (lumped), whose burdens have a
closed form: with gross primary growth `g`, emission `mu` and metastatic growth `r`,

    P(t) = exp((g - mu) t),   M(t) = mu (exp((g - mu) t) - exp(r t)) / (g - mu - r)

(M(t) = mu t exp(r t) where g - mu = r)
(cells), so the references below are computed with numpy/scipy, not with the library. Every
compiled program is built once (module-scoped fixtures); `RTOL` is loose enough to keep NUTS
cheap and tight enough (relative errors about 1e-6) for the tolerances used.
"""

import math

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import optimistix as optx
import pandas as pd
import pytest
import scipy.optimize
import scipy.special
import scipy.stats
from numpyro.infer.util import log_density

import metaflow_ode as mfo
from metaflow_ode._fit._bayes import (
    _inference_data,
    numpyro_model,
    prediction_bands,
    sample_posterior,
)

FREE = "adrenal.emission.coefficient"
G = math.log(2.0) / 2.0 + 1e-3  # gross primary growth rate of the preset (1/day)
R_MET = math.log(2.0) / 2.0
MU = 1e-3
SIGMA = 0.1  # default log-normal noise of volumes
PRIMARY_TIMES = np.array([50.0, 60.0, 70.0, 80.0])
DISTANT_TIMES = np.array([70.0, 80.0])
RTOL = 1e-6
OPTIONS = {"rtol": RTOL, "atol": RTOL}
LOW, HIGH = 1e-4, 1e-2  # LogUniform prior of `mu`: two decades about the truth
PRIOR = {FREE: dist.LogUniform(LOW, HIGH)}


def primary(t, mu, g=G):
    return np.exp((g - mu) * np.asarray(t))


def metastatic(t, mu, g=G, r=R_MET):
    # mu (exp(a t) - exp(r t)) / (a - r) with a = g - mu, written with exprel(x) = (e^x - 1)/x
    # so that it stays exact at a = r (the preset's own values).
    t = np.asarray(t)
    return mu * t * np.exp(r * t) * scipy.special.exprel((g - mu - r) * t)


def base_model():
    return mfo.parameter_sets.load("Benzekry2021")


def failure_model():
    """The preset with a (lethal) failure of the distant organ at 1e9 cells."""
    m = base_model()
    return mfo.Model(
        [m.organs[0], mfo.Organ("distant", mfo.Exponential(rate=R_MET),
                                failure=mfo.Failure(burden=1e9))],
        transfers=m.transfers, cell_density=1e9, lethal_burden=None,
    )  # fmt: skip


def volumes(mu, seed, patient=None):
    """Log-normal imaging volumes (mL) of the primary and of the metastases."""
    rng = np.random.default_rng(seed)
    pred = np.concatenate([primary(PRIMARY_TIMES, mu), metastatic(DISTANT_TIMES, mu)]) / 1e9
    table = pd.DataFrame(
        {
            "time": np.concatenate([PRIMARY_TIMES, DISTANT_TIMES]),
            "observable": ["primary.volume"] * 4 + ["distant.volume"] * 2,
            "value": pred * np.exp(SIGMA * rng.standard_normal(6)),
        }
    )
    if patient is not None:
        table.insert(0, "patient", patient)
    return table


def log_likelihood(table, mu):
    """Log-likelihood of a `volumes` table by hand (scipy's log-normal)."""
    primary_rows = (table["observable"] == "primary.volume").to_numpy()
    t = table["time"].to_numpy()
    pred = np.where(primary_rows, primary(t, mu), metastatic(t, mu)) / 1e9
    return np.sum(scipy.stats.lognorm.logpdf(table["value"], s=SIGMA, scale=pred))


def interval_jacobian(theta, low, high):
    """log |d theta / d z| of NumPyro's map of the real line onto (low, high)."""
    return np.log((theta - low) * (high - theta) / (high - low))


DATA = volumes(MU, seed=0)


@pytest.fixture(scope="module")
def fitted():
    start = base_model().with_parameters({FREE: 2e-3})
    # Gauss-Newton: the same maximum-likelihood estimate as the default Levenberg-Marquardt,
    # and a smaller program to compile.
    gauss_newton = optx.GaussNewton(rtol=1e-8, atol=1e-8)
    result = mfo.fit(start, DATA, [FREE], optimiser=gauss_newton, **OPTIONS)
    return result, mfo.profile_likelihood(result, points=9)


@pytest.fixture(scope="module")
def posterior(fitted):
    result, _ = fitted
    return sample_posterior(
        base_model(), DATA, PRIOR, num_warmup=150, num_samples=800, seed=1, init=result,
        **OPTIONS,
    )  # fmt: skip


# --- NUTS against the profile likelihood --------------------------------------------------


def test_posterior_interval_agrees_with_the_profile_likelihood_interval(fitted, posterior):
    """With a prior flat in log(mu) over two decades, the equal-tailed 95 % posterior interval
    and the 95 % profile-likelihood interval coincide for a likelihood that is Gaussian in
    log(mu), and nearly so here. Tolerance: 15 % of the interval's width. The Monte Carlo
    error of a 2.5 % quantile from at least 200 effective draws (seeds 1-4 gave 220-380 of
    800 draws) is sqrt(q (1 - q) / ESS) / phi(1.96) <= 0.19 standard deviations, <= 5 % of
    the 3.92-standard-deviation width, so 15 % is 3 Monte Carlo standard errors (seeds 1-4
    were within 7 %); the profile's bounds are interpolated on a 9-point grid (exact for a
    Gaussian likelihood). A likelihood off by a factor (a wrong sigma halves or doubles the
    width) or a prior applied twice would move the bounds by far more."""
    _, profile = fitted
    lower, upper = profile.intervals.loc[FREE, ["lower", "upper"]]
    draws = posterior.posterior[FREE].values.ravel()
    q_low, q_high = np.quantile(draws, [0.025, 0.975])
    width = upper - lower
    assert abs(q_low - lower) < 0.15 * width
    assert abs(q_high - upper) < 0.15 * width
    # Sampler health: split R-hat of the chain's halves, effective sample size, divergences.
    halves = draws[: draws.size // 2 * 2].reshape(2, -1)
    assert float(az.rhat(halves)) < 1.05
    assert float(az.ess(posterior, var_names=[FREE])[FREE]) > 150  # of 800 draws
    assert not posterior.sample_stats["diverging"].values.any()
    # The interval covers the truth (the data were simulated at MU).
    assert q_low < MU < q_high


def test_inference_data_layout_and_log_density_of_the_draws(posterior):
    post = posterior.posterior
    assert list(post.data_vars) == [FREE]
    assert post[FREE].dims == ("chain", "draw") and post[FREE].shape == (1, 800)
    assert post[FREE].attrs["units"] == "cells**(1-exponent)/day"
    assert post.attrs["metaflow_ode_version"] == mfo.__version__
    assert post.attrs["free_parameters"] == f'["{FREE}"]'
    assert "LogUniform(low=0.0001, high=0.01)" in post.attrs["priors"]
    assert np.all((post[FREE].values > LOW) & (post[FREE].values < HIGH))
    observed = posterior.observed_data
    np.testing.assert_allclose(observed["value"].values, DATA["value"].to_numpy())
    assert list(observed["observable"].values) == list(DATA["observable"])
    # `lp` is the log density in NumPyro's unconstrained coordinate (Jacobian included):
    # recompute it by hand at a few draws.
    for d in (0, 137, 799):
        mu = float(post[FREE].values[0, d])
        expected = (
            scipy.stats.loguniform.logpdf(mu, LOW, HIGH)
            + interval_jacobian(mu, LOW, HIGH)
            + log_likelihood(DATA, mu)
        )
        assert float(posterior.sample_stats["lp"].values[0, d]) == pytest.approx(expected, abs=1e-3)


# --- the log density against the maximum-likelihood objective ------------------------------


def test_log_density_is_minus_the_fit_objective_plus_the_log_prior(fitted):
    result, _ = fitted
    bayes = numpyro_model(base_model(), DATA, PRIOR, **OPTIONS)
    assert callable(bayes) and bayes.free == (FREE,)
    mu = result.values[FREE]
    value, trace = log_density(bayes, (), {}, {FREE: mu})
    expected = -result.objective + scipy.stats.loguniform.logpdf(mu, LOW, HIGH)
    assert float(value) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert float(trace["log_likelihood"]["fn"].log_factor) == pytest.approx(-result.objective)
    # ... and the objective itself is the closed-form likelihood (independent of `fit`).
    assert -result.objective == pytest.approx(log_likelihood(DATA, mu), abs=1e-4)


def test_a_failed_solve_has_zero_density_not_nan():
    # Exponential growth overflows long before day 3000: the solve fails (max_steps) and the
    # likelihood is -inf, so NUTS rejects the point, instead of NaN. Same compiled program as
    # above (the horizon is a number, not a compile-time constant).
    bayes = numpyro_model(base_model(), DATA, PRIOR, t1=3000.0, **OPTIONS)
    value, trace = log_density(bayes, (), {}, {FREE: MU})
    assert float(trace["log_likelihood"]["fn"].log_factor) == -np.inf
    assert float(value) == -np.inf


# --- hierarchical model ------------------------------------------------------------------

PATIENTS = ["P-07", "P-02", "P-11"]  # labels in order of appearance, deliberately unsorted
PATIENT_MU = [6e-4, 1e-3, 2e-3]
OMEGA, ETA = f"{FREE}.omega", f"{FREE}.eta"


@pytest.fixture(scope="module")
def hierarchical():
    data = pd.concat(
        [volumes(mu, seed=10 + i, patient=p)
         for i, (p, mu) in enumerate(zip(PATIENTS, PATIENT_MU, strict=True))],
        ignore_index=True,
    )  # fmt: skip
    bayes = numpyro_model(
        base_model(), data, PRIOR, random_effects=[FREE], omega_scale=0.5, **OPTIONS
    )
    return data, bayes


def hierarchical_by_hand(data, mu, omega, eta):
    """log prior of the median (LogUniform) + log HalfNormal(omega; 0.5) + sum log N(eta)
    + each patient's log-normal likelihood at mu_i = mu exp(omega eta_i), closed form."""
    out = (
        scipy.stats.loguniform.logpdf(mu, LOW, HIGH)
        + scipy.stats.halfnorm.logpdf(omega, scale=0.5)
        + scipy.stats.norm.logpdf(eta).sum()
    )
    for i, patient in enumerate(PATIENTS):
        out += log_likelihood(data[data["patient"] == patient], mu * np.exp(omega * eta[i]))
    return out


def test_hierarchical_log_density_and_its_gradient_match_a_by_hand_computation(hierarchical):
    """Value and gradient (forward mode through each patient's solve, vmapped over patients)
    against the closed form and its central differences, in the coordinates (log mu,
    log omega, eta)."""
    data, bayes = hierarchical
    assert bayes.patients == tuple(PATIENTS) and bayes.n_patients == 3

    def sites(x):
        return {FREE: jnp.exp(x[0]), OMEGA: jnp.exp(x[1]), ETA: x[2:]}

    def by_hand(x):
        return hierarchical_by_hand(data, np.exp(x[0]), np.exp(x[1]), np.asarray(x[2:]))

    value_and_grad = jax.jit(jax.value_and_grad(lambda x: log_density(bayes, (), {}, sites(x))[0]))
    for mu, omega, eta in ((1.2e-3, 0.4, [0.5, -1.0, 0.3]), (8e-4, 0.9, [-1.5, 0.2, 2.0])):
        x = np.concatenate([[np.log(mu), np.log(omega)], eta])
        value, grad = value_and_grad(jnp.asarray(x))
        # Relative: the solver's relative error (about RTOL) times the residuals (z up to 15).
        assert float(value) == pytest.approx(by_hand(x), rel=1e-5)
        step = 1e-5
        central = np.array(
            [(by_hand(x + step * e) - by_hand(x - step * e)) / (2 * step) for e in np.eye(x.size)]
        )
        np.testing.assert_allclose(grad, central, rtol=1e-4, atol=1e-4 * np.abs(central).max())


def test_hierarchical_inference_data_has_patient_coordinates(hierarchical):
    """The conversion of NUTS draws (NumPyro's unconstrained coordinates) to InferenceData,
    fed with made-up draws: 2 chains, 4 draws, 3 patients."""
    _, bayes = hierarchical
    rng = np.random.default_rng(0)
    z = {FREE: rng.normal(size=(2, 4)), OMEGA: rng.normal(size=(2, 4)),
         ETA: rng.normal(size=(2, 4, 3))}  # fmt: skip
    stats = {
        "potential_energy": rng.normal(size=(2, 4)),
        "energy": rng.normal(size=(2, 4)),
        "diverging": np.zeros((2, 4), bool),
        "accept_prob": rng.uniform(size=(2, 4)),
        "num_steps": np.full((2, 4), 7),
        "adapt_state.step_size": np.full((2, 4), 0.3),
    }
    idata = _inference_data(bayes, z, stats)
    post = idata.posterior
    individual = f"{FREE}.individual"
    assert set(post.data_vars) == {FREE, OMEGA, ETA, individual}
    assert post[FREE].dims == ("chain", "draw") and post[OMEGA].dims == ("chain", "draw")
    assert post[ETA].dims == ("chain", "draw", "patient") and post[ETA].shape == (2, 4, 3)
    assert post[individual].dims == ("chain", "draw", "patient")
    assert list(post["patient"].values) == PATIENTS
    # NumPyro's maps onto the supports: LogUniform's interval (logistic), HalfNormal (exp).
    mu = LOW + (HIGH - LOW) * scipy.special.expit(z[FREE])
    np.testing.assert_allclose(post[FREE].values, mu, rtol=1e-12)
    np.testing.assert_allclose(post[OMEGA].values, np.exp(z[OMEGA]), rtol=1e-12)
    np.testing.assert_allclose(post[ETA].values, z[ETA])
    np.testing.assert_allclose(
        post[individual].values,
        mu[..., None] * np.exp(np.exp(z[OMEGA])[..., None] * z[ETA]),
        rtol=1e-12,
    )
    assert post[individual].attrs["units"] == post[FREE].attrs["units"]
    assert post[OMEGA].attrs["units"] == "1 (natural log)"
    assert post.attrs["random_effects"] == f'["{FREE}"]'
    assert post.attrs["metaflow_ode_version"] == mfo.__version__
    sample_stats = idata.sample_stats
    np.testing.assert_allclose(sample_stats["lp"].values, -stats["potential_energy"])
    assert np.all(sample_stats["tree_depth"].values == 3)
    assert {"diverging", "acceptance_rate", "step_size", "n_steps", "energy"} <= set(
        sample_stats.data_vars
    )
    assert list(idata.observed_data["patient"].values[::6]) == PATIENTS
    # Starting values: the model's median, omega at half its prior scale, eta at zero.
    start = bayes.init_values()
    assert start[FREE] == pytest.approx(MU) and start[OMEGA] == pytest.approx(0.25)
    np.testing.assert_array_equal(start[ETA], np.zeros(3))


# --- prediction bands --------------------------------------------------------------------


def failure_day(mu):
    """When the distant burden reaches 1e9 cells (closed form, root by brentq)."""
    return scipy.optimize.brentq(lambda t: metastatic(t, mu) - 1e9, 1.0, 200.0, xtol=1e-12)


BAND_TIMES = np.arange(0.0, 81.0, 5.0)


@pytest.fixture(scope="module")
def bands():
    mus = np.array([1e-4, 1e-3, 1e-2])  # distant failure on days 73.9, 67.6, 61.9
    ds = prediction_bands(failure_model(), {FREE: mus}, 80.0, saveat=mfo.at(BAND_TIMES), **OPTIONS)
    return mus, ds


def test_prediction_bands_are_quantiles_of_the_closed_form(bands):
    mus, ds = bands
    burden = np.stack(
        [np.stack([primary(BAND_TIMES, mu), metastatic(BAND_TIMES, mu)], axis=-1) for mu in mus]
    )  # (draw, time, organ)
    expected = np.quantile(burden, [0.025, 0.5, 0.975], axis=0)
    assert ds["burden"].dims == ("quantile", "time", "organ")
    np.testing.assert_allclose(ds["burden"].values, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds["time"].values, BAND_TIMES)
    assert list(ds["organ"].values) == ["adrenal", "distant"]
    np.testing.assert_allclose(ds["parameter_value"].sel(parameter=FREE).values, mus)
    for name in ds.data_vars:
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    assert ds["burden"].attrs["units"] == "cells"
    assert ds.attrs["draws"] == 3 and ds.attrs["failed_draws"] == 0


def test_failure_and_death_probabilities_are_the_shares_by_hand(bands):
    mus, ds = bands
    days = np.array([failure_day(mu) for mu in mus])
    np.testing.assert_allclose(ds["failure_time"].sel(organ="distant").values, days, rtol=1e-5)
    assert np.all(np.isnan(ds["failure_time"].sel(organ="adrenal").values))
    # The failure is lethal: death is the distant failure.
    np.testing.assert_allclose(ds["death_time"].values, days, rtol=1e-5)
    share = (days[:, None] <= BAND_TIMES).mean(axis=0)
    assert share[12] == 0 and share[13] == pytest.approx(1 / 3) and share[15] == 1  # a real test
    np.testing.assert_allclose(ds["failure_probability"].sel(organ="distant").values, share)
    np.testing.assert_allclose(ds["failure_probability"].sel(organ="adrenal").values, 0.0)
    np.testing.assert_allclose(ds["death_probability"].values, share)
    assert ds["failure_probability"].dims == ("time", "organ")
    assert ds["failure_time"].dims == ("draw", "organ") and ds["death_time"].dims == ("draw",)
    assert ds["death_probability"].attrs["units"] == "1"


def test_prediction_bands_from_a_profile_and_from_a_posterior(fitted, posterior):
    """Both sources give parameter sets of `mu`; three of each (one compiled cohort size)."""
    _, profile = fitted
    inside = profile.dataset["delta_objective"].values[0] <= profile.threshold
    accepted = profile.dataset["estimates"].values[0, inside, 0]
    from_profile = prediction_bands(
        failure_model(), profile, 80.0, saveat=mfo.at(BAND_TIMES), draws=3, seed=4,
        quantiles=(0.0, 1.0), **OPTIONS,
    )  # fmt: skip
    used = from_profile["parameter_value"].sel(parameter=FREE).values
    assert len(set(used)) == 3 and set(used) <= set(accepted)
    assert from_profile.attrs["source"] == "profile likelihood points"
    distant = metastatic(BAND_TIMES[:, None], used[None, :])  # (time, draw)
    np.testing.assert_allclose(
        from_profile["burden"].sel(organ="distant").values,
        np.stack([distant.min(axis=1), distant.max(axis=1)]),
        rtol=1e-5,
    )
    from_posterior = prediction_bands(
        failure_model(), posterior, 80.0, saveat=mfo.at(BAND_TIMES), draws=3, seed=5,
        **OPTIONS,
    )  # fmt: skip
    used = from_posterior["parameter_value"].sel(parameter=FREE).values
    assert set(used) <= set(posterior.posterior[FREE].values.ravel())
    days = np.array([failure_day(mu) for mu in used])
    np.testing.assert_allclose(from_posterior["death_time"].values, days, rtol=1e-5)


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"priors": {}}, TypeError, "non-empty mapping"),
        ({"priors": [FREE]}, TypeError, "non-empty mapping"),
        ({"priors": {FREE: 1e-3}}, TypeError, "numpyro distribution"),
        ({"priors": {FREE: scipy.stats.loguniform(LOW, HIGH)}}, TypeError, "numpyro distribution"),
        ({"priors": {"adrenal.emission.coeficient": PRIOR[FREE]}}, ValueError, "unknown parameter"),
        ({"priors": {FREE: dist.Normal(1e-3, 1e-3)}}, ValueError, "prior on positive numbers"),
        (
            {"priors": {"adrenal->distant.fraction": dist.Normal(0.5, 0.1)}},
            ValueError,
            "prior on \\[0, 1\\]",
        ),
        ({"priors": {FREE: dist.Poisson(3.0)}}, ValueError, "discrete"),
        ({"priors": {FREE: dist.LogNormal(np.zeros(2), 1.0)}}, ValueError, "scalar distribution"),
        ({"random_effects": ["adrenal.growth.rate"]}, ValueError, "has no prior"),
        ({"random_effects": FREE}, TypeError, "list of parameter paths"),
        ({"random_effects": [FREE]}, ValueError, "at least 2 patients"),
        ({"noise": {"primary.volume": "lognormal"}}, TypeError, "noise model"),
        ({"resolution": "lumped"}, TypeError, "resolution"),
        ({"differentiation": "backward"}, ValueError, "'forward' or 'reverse'"),
    ],
)
def test_bad_model_arguments_are_refused(kwargs, error, match):
    kwargs = {"priors": PRIOR, **kwargs}
    with pytest.raises(error, match=match):
        numpyro_model(base_model(), DATA, **kwargs)


def test_random_effects_need_positive_parameters_and_a_positive_scale():
    two = pd.concat([volumes(MU, 0, patient="a"), volumes(MU, 1, patient="b")])
    fraction = "adrenal->distant.fraction"
    priors = {**PRIOR, fraction: dist.Beta(2.0, 2.0)}
    model = base_model().with_parameters({fraction: 0.5})
    with pytest.raises(ValueError, match="need a positive parameter"):
        numpyro_model(model, two, priors, random_effects=[fraction])
    with pytest.raises(ValueError, match="omega_scale"):
        numpyro_model(model, two, priors, random_effects=[FREE], omega_scale=0.0)
    # Valid: a Beta prior on a fraction, a random effect on the positive parameter.
    bayes = numpyro_model(model, two, priors, random_effects=[FREE], omega_scale={FREE: 0.3})
    assert bayes.patients == ("a", "b") and bayes.omega_scale == {FREE: 0.3}
    with pytest.raises(TypeError, match="mfo.Model"):
        numpyro_model("Benzekry2021", two, priors)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"init": {FREE: 0.5}}, ValueError, "outside the support"),
        ({"init": {"adrenal.growth.rate": 0.3}}, ValueError, "have no prior"),
        ({"init": [1e-3]}, TypeError, "FitResult"),
        ({"num_samples": 0}, ValueError, "num_samples"),
        ({"num_chains": 1.5}, ValueError, "num_chains"),
        ({"target_accept_prob": 1.0}, ValueError, "target_accept_prob"),
        ({"priors": {FREE: dist.Normal(1e-3, 1e-3)}}, ValueError, "sample_posterior\\(priors"),
    ],
)
def test_bad_sampler_arguments_are_refused_before_compiling(kwargs, error, match):
    kwargs = {"priors": PRIOR, **kwargs}
    with pytest.raises(error, match=match):
        sample_posterior(base_model(), DATA, **kwargs)


def test_the_default_start_must_lie_in_the_prior():
    # The preset's mu = 1e-3 is outside a prior on (2e-3, 1e-2): say so, naming the fix.
    with pytest.raises(ValueError, match="outside the support.*init="):
        sample_posterior(base_model(), DATA, {FREE: dist.LogUniform(2e-3, 1e-2)})


@pytest.mark.parametrize(
    "samples, kwargs, error, match",
    [
        ({"adrenal.emission.coeficient": [1e-3]}, {}, ValueError, "unknown parameter"),
        ({FREE: [1e-3, 2e-3], "adrenal.growth.rate": [0.3]}, {}, ValueError, "same length"),
        ({}, {}, ValueError, "empty"),
        ([1e-3], {}, TypeError, "InferenceData"),
        ({FREE: [1e-3]}, {"quantiles": (0.5, 1.5)}, ValueError, "quantiles"),
        ({FREE: [1e-3]}, {"draws": 0}, ValueError, "draws"),
        ({FREE: [1e-3]}, {"patient": "P-07"}, ValueError, "hierarchical"),
        ({FREE: [1e-3]}, {"variables": "burden"}, TypeError, "variables"),
    ],
)
def test_bad_prediction_band_arguments_are_refused(samples, kwargs, error, match):
    with pytest.raises(error, match=match):
        prediction_bands(base_model(), samples, 80.0, **kwargs)


def test_the_fit_covariance_becomes_the_initial_inverse_mass_matrix(fitted):
    """Delta method by hand: NumPyro's coordinate of a LogUniform(a, b) prior (support the
    interval [a, b]) is z = logit((mu - a) / (b - a)), so dz/dlog(mu) = mu / ((b - a) s (1 - s))
    and the fit's variance of log(mu) scales by its square."""
    from metaflow_ode._fit._bayes import _inverse_mass_from_fit

    result, _ = fitted
    bayes = numpyro_model(base_model(), DATA, PRIOR, **OPTIONS)
    transforms = bayes.transforms()
    mu = result.values[FREE]
    z0 = {FREE: transforms[FREE].inv(jnp.asarray(mu))}
    got = np.asarray(_inverse_mass_from_fit(result, bayes, transforms, z0))
    s = (mu - LOW) / (HIGH - LOW)
    slope = mu / ((HIGH - LOW) * s * (1.0 - s))
    expected = slope**2 * float(result.covariance_fitting[0, 0])
    np.testing.assert_allclose(got, [[expected]], rtol=1e-10)
    # no fit, or random effects: NumPyro's default (identity)
    assert _inverse_mass_from_fit({FREE: mu}, bayes, transforms, z0) is None
