"""Parameter estimation: noise models against scipy, the likelihood against closed forms,
synthetic recovery, gradients, profiles and identifiability.

The fitted model is the neuroblastoma model of Benzekry et al. 2021 (REFERENCES V2, lumped):
the primary grows as `exp((g - mu) t)` (gross rate `g`, shedding `mu x`) and the metastatic
burden solves `dM/dt = r M + mu P`, so

    M(t) = mu (exp((g - mu) t) - exp(r t)) / (g - mu - r)

in closed form; the tests compute the likelihood from these formulas with numpy/scipy.
"""

import math
import warnings

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import pandas as pd
import pytest
import scipy.optimize
import scipy.stats

import metaflow_ode as mfo
from metaflow_ode import _simulate
from metaflow_ode._fit import _least_squares as ls
from metaflow_ode._fit._noise import EXACT, LEFT, RIGHT

FREE = ["adrenal.growth.rate", "adrenal.emission.coefficient"]
TRUE = np.array([0.347574, 1e-3])  # g = ln 2 / 2 + mu, mu (Benzekry 2021)
R_MET = math.log(2.0) / 2.0
PRIMARY_TIMES = np.array([50.0, 60.0, 70.0, 80.0])
DISTANT_TIMES = np.array([70.0, 80.0])
SIGMA = 0.1
STARTS = 3  # every fit here uses 3 starts, so all share one compiled program
POINTS = 9  # likewise every profile


def primary(t, g, mu):
    return np.exp((g - mu) * t)


def metastatic(t, g, mu, r=R_MET):
    a = g - mu
    return mu * (np.exp(a * t) - np.exp(r * t)) / (a - r)


def base_model():
    return mfo.parameter_sets.load("Benzekry2021")


def data_for(seed, theta=TRUE):
    """Log-normal imaging volumes (mL) of the primary and of the metastases."""
    rng = np.random.default_rng(seed)
    p = primary(PRIMARY_TIMES, *theta) / 1e9
    m = metastatic(DISTANT_TIMES, *theta) / 1e9
    return pd.DataFrame(
        {
            "time": np.concatenate([PRIMARY_TIMES, DISTANT_TIMES]),
            "observable": ["primary.volume"] * 4 + ["distant.volume"] * 2,
            "value": np.concatenate([p, m]) * np.exp(SIGMA * rng.standard_normal(6)),
        }
    )


def start_model():
    return base_model().with_parameters({FREE[0]: 0.3, FREE[1]: 3e-3})


@pytest.fixture(scope="module")
def result():
    return mfo.fit(start_model(), data_for(0), FREE, starts=STARTS, seed=1)


# --- noise models against scipy ---------------------------------------------------------


def _nll(noise, value, pred, censoring):
    value, pred, censoring = (np.atleast_1d(np.asarray(a, float)) for a in (value, pred, censoring))
    return np.asarray(noise.nll(jnp.asarray(value), jnp.asarray(pred), jnp.asarray(censoring)))


def test_lognormal_against_scipy():
    noise = mfo.noise.LogNormal(sigma=0.3)
    v, mu = np.array([0.5, 2.0, 7.0]), np.array([1.0, 1.5, 9.0])
    expected = -scipy.stats.lognorm.logpdf(v, s=0.3, scale=mu)
    np.testing.assert_allclose(_nll(noise, v, mu, [EXACT] * 3), expected, rtol=1e-12)
    z = (np.log(v) - np.log(mu)) / 0.3
    np.testing.assert_allclose(
        _nll(noise, v, mu, [LEFT] * 3), -scipy.stats.norm.logcdf(z), rtol=1e-12
    )
    np.testing.assert_allclose(
        _nll(noise, v, mu, [RIGHT] * 3), -scipy.stats.norm.logsf(z), rtol=1e-12
    )


def test_marker_is_lognormal_about_offset_plus_scale():
    noise = mfo.noise.Marker(scale=2e-9, offset=3.0, sigma=0.2)
    burden, v = np.array([1e9, 1e10]), np.array([6.0, 20.0])
    expected = -scipy.stats.lognorm.logpdf(v, s=0.2, scale=3.0 + 2e-9 * burden)
    np.testing.assert_allclose(_nll(noise, v, burden, [EXACT] * 2), expected, rtol=1e-12)


def test_counts_against_scipy():
    k, mu = np.array([0.0, 3.0, 12.0]), np.array([0.7, 4.2, 9.5])
    poisson = mfo.noise.Poisson()
    np.testing.assert_allclose(
        _nll(poisson, k, mu, [EXACT] * 3), -scipy.stats.poisson.logpmf(k, mu), rtol=1e-11
    )
    np.testing.assert_allclose(
        _nll(poisson, k, mu, [LEFT] * 3), -scipy.stats.poisson.logcdf(k, mu), rtol=1e-10
    )
    # right: at least k = P(Y > k - 1)
    np.testing.assert_allclose(
        _nll(poisson, k, mu, [RIGHT] * 3), -scipy.stats.poisson.logsf(k - 1, mu), atol=1e-12
    )
    nb = mfo.noise.NegativeBinomial(dispersion=2.5)
    expected = -scipy.stats.nbinom.logpmf(k, 2.5, 2.5 / (2.5 + mu))
    np.testing.assert_allclose(_nll(nb, k, mu, [EXACT] * 3), expected, rtol=1e-11)


def test_bernoulli_against_scipy():
    noise = mfo.noise.Bernoulli()
    y, p = np.array([0.0, 1.0, 1.0]), np.array([0.2, 0.6, 0.99])
    np.testing.assert_allclose(
        _nll(noise, y, p, [EXACT] * 3), -scipy.stats.bernoulli.logpmf(y, p), rtol=1e-12
    )


@pytest.mark.parametrize(
    "noise, value, pred, censoring",
    [
        (mfo.noise.LogNormal(sigma=0.3), [0.5, 2.0, 2.0], [1.0, 1.5, 3.0], [EXACT, LEFT, RIGHT]),
        (
            mfo.noise.Poisson(),
            [0.0, 3.0, 5.0, 4.0],
            [0.7, 4.2, 2.0, 9.0],
            [EXACT, EXACT, LEFT, RIGHT],
        ),
        (mfo.noise.NegativeBinomial(dispersion=3.0), [0.0, 6.0], [2.0, 3.0], [EXACT, EXACT]),
        (mfo.noise.Bernoulli(), [0.0, 1.0], [0.3, 0.3], [EXACT, EXACT]),
    ],
)
def test_squared_residuals_are_twice_the_nll_up_to_its_minimum(noise, value, pred, censoring):
    """Least squares on the residuals is maximum likelihood: r**2 = 2 (nll - min nll)."""
    value, pred, censoring = (jnp.asarray(a, float) for a in (value, pred, censoring))
    r = np.asarray(noise.residual(value, pred, censoring))
    nll = np.asarray(noise.nll(value, pred, censoring))
    # the minimum over predictions, found numerically and independently of `floor`
    floor = [
        scipy.optimize.minimize_scalar(
            lambda lp, i=i: float(
                noise.nll(value[i : i + 1], jnp.exp(jnp.asarray([lp])), censoring[i : i + 1])[0]
            ),  # fmt: skip
            bounds=(-30.0, 10.0) if not isinstance(noise, mfo.noise.Bernoulli) else (-30, 0.0),
            method="bounded",
            options={"xatol": 1e-10},
        ).fun
        for i in range(len(value))
    ]
    np.testing.assert_allclose(r**2, 2.0 * (nll - np.asarray(floor)), atol=1e-6)
    exact = (np.asarray(censoring) == EXACT) & (np.asarray(pred) != np.asarray(value))
    assert np.all(np.sign(r[exact]) == np.sign(np.asarray(pred - value))[exact])


# --- the likelihood against closed forms ---------------------------------------------------


def objective(model, data, theta, **kwargs):
    """`problem.nll` at natural parameter values `theta` (no optimisation)."""
    import diffrax as dfx

    problem, _ = ls.build_problem(
        model, data, FREE, noise=kwargs.pop("noise", None), bounds=None, t1=kwargs.pop("t1", None),
        t0=0.0, resolution=mfo.Lumped(), solver=None, rtol=1e-10, atol=1e-10, max_steps=100_000,
        interventions=(), adjoint=dfx.RecursiveCheckpointAdjoint(),
    )  # fmt: skip
    u = problem.transforms.fitting(jnp.asarray(theta))
    return float(eqx.filter_jit(lambda p, u: p.nll(u))(problem, u))


def hand_objective(data, theta, sigma=SIGMA):
    p = primary(PRIMARY_TIMES, *theta) / 1e9
    m = metastatic(DISTANT_TIMES, *theta) / 1e9
    pred = np.concatenate([p, m])
    return -np.sum(scipy.stats.lognorm.logpdf(data["value"], s=sigma, scale=pred))


def test_objective_is_the_closed_form_likelihood_and_censoring_adds_its_term():
    theta = np.array([0.35, 2e-3])
    data = data_for(3)
    base = objective(base_model(), data, theta)
    assert base == pytest.approx(hand_objective(data, theta), rel=1e-7)
    # A scan at day 40 that saw nothing above a 1.2 uL detection limit (the model predicts
    # 1.1 uL then): left-censored, -log Phi((log limit - log pred) / sigma) = 0.24.
    limit = 1.2e-3
    censored = pd.concat(
        [data, pd.DataFrame({"time": [40.0], "observable": ["primary.volume"], "value": [5e-4]})]
    )
    noise = {"primary.volume": mfo.noise.LogNormal(sigma=SIGMA, detection_limit=limit)}
    with_censored = objective(base_model(), censored, theta, noise=noise)
    z = (np.log(limit) - np.log(primary(40.0, *theta) / 1e9)) / SIGMA
    assert with_censored - base == pytest.approx(-scipy.stats.norm.logcdf(z), rel=1e-7)
    # The same row given explicitly as left-censored at the limit: the same likelihood.
    explicit = censored.reset_index(drop=True).assign(censoring=["none"] * 6 + ["left"])
    explicit.loc[6, "value"] = limit
    assert objective(base_model(), explicit, theta) == pytest.approx(with_censored, rel=1e-10)


def test_right_censored_failure_time_follows_the_closed_form():
    """A patient alive without distant failure at day c: -log P(T > c) with the failure time
    T solving M(T) = 1e9 cells, log-normal about T."""
    model = failure_model()
    theta = np.array([0.35, 2e-3])
    t_fail = scipy.optimize.brentq(lambda t: metastatic(t, *theta) - 1e9, 1.0, 200.0, xtol=1e-12)
    for c, censoring in ((55.0, "right"), (62.0, "none")):
        data = pd.DataFrame(
            {
                "time": [np.nan],
                "observable": ["distant.failure_time"],
                "value": [c],
                "censoring": [censoring],
            }
        )
        got = objective(model, data, theta, t1=150.0)
        if censoring == "right":
            expected = -scipy.stats.norm.logsf((np.log(c) - np.log(t_fail)) / 0.1)
        else:
            expected = -scipy.stats.lognorm.logpdf(c, s=0.1, scale=t_fail)
        assert got == pytest.approx(expected, rel=1e-6)


# --- estimation ---------------------------------------------------------------------------


def test_fit_recovers_the_truth_and_reports_a_usable_result(result):
    assert result.converged and result.status == "successful"
    assert list(result.table.index) == FREE
    for path, truth in zip(FREE, TRUE, strict=True):
        row = result.table.loc[path]
        assert row["lower"] < truth < row["upper"]
        assert row["lower"] < row["value"] < row["upper"]
    # The optimum: zero gradient, the objective equals the closed-form likelihood there.
    assert np.max(np.abs(result.gradient)) < 1e-5
    theta = np.array([result.values[p] for p in FREE])
    assert result.objective == pytest.approx(hand_objective(data_for(0), theta), rel=1e-7)
    assert len(result.starts) == STARTS
    assert result.objective == pytest.approx(result.starts["objective"].min(), rel=1e-9)
    assert result.model.parameter_values()[FREE[0]] == pytest.approx(result.values[FREE[0]])
    assert np.all(np.linalg.eigvalsh(result.covariance.to_numpy()) > 0)
    assert result.table.loc[FREE[0], "units"] == "1/day"
    assert result.aic == pytest.approx(2 * result.objective + 4)


def test_hessian_matches_finite_differences_of_the_closed_form(result):
    """The standard errors come from the Hessian of the objective in log coordinates:
    compare it with second differences of the closed-form likelihood."""
    data = data_for(0)
    u = np.log(np.array([result.values[p] for p in FREE]))

    def f(v):
        return hand_objective(data, np.exp(v))

    h = 1e-4
    fd = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h, np.eye(2)[j] * h
            fd[i, j] = (f(u + ei + ej) - f(u + ei - ej) - f(u - ei + ej) + f(u - ei - ej)) / (
                4 * h * h
            )
    np.testing.assert_allclose(result.hessian, fd, rtol=2e-4)


def test_gradient_matches_central_differences(result):
    """The exact (forward-mode through diffrax) gradient of the objective against central
    differences of the closed-form likelihood, away from the optimum."""
    problem = result._problem
    data = data_for(0)
    points = np.log([[0.33, 5e-4], [0.34, 1e-3], [0.35, 2e-3], [0.36, 4e-3], [0.345, 3e-4]])
    grads = np.asarray(ls._gradients(problem, jnp.asarray(points)))
    h = 1e-6
    for u, g in zip(points, grads, strict=True):
        fd = [
            (hand_objective(data, np.exp(u + h * e)) - hand_objective(data, np.exp(u - h * e)))
            / (2 * h)
            for e in np.eye(2)
        ]
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-4)


def test_synthetic_recovery_covers_the_truth_and_never_recompiles(result):
    """20 seeded replicates: the 95 % intervals contain the true values in at least 18 of 20
    for both parameters; new data of the same layout reuse the compiled programs."""
    before = _simulate._trace_count
    covered = np.zeros(2, int)
    for seed in range(100, 120):
        r = mfo.fit(start_model(), data_for(seed), FREE, starts=STARTS, seed=1)
        assert r.converged
        lo, hi = r.table["lower"].to_numpy(), r.table["upper"].to_numpy()
        covered += (lo < TRUE) & (TRUE < hi)
    assert _simulate._trace_count == before
    assert np.all(covered >= 18), covered


def test_profile_interval_agrees_with_the_wald_interval(result):
    """On this nearly log-linear problem the profile interval and the Wald interval in log
    space coincide to a few per cent of their width."""
    profile = mfo.profile_likelihood(result, points=POINTS)
    assert profile.threshold == pytest.approx(scipy.stats.chi2.ppf(0.95, 1) / 2)
    for path in FREE:
        row, wald = profile.intervals.loc[path], result.table.loc[path]
        assert row["identifiable"]
        width = wald["upper"] - wald["lower"]
        assert abs(row["lower"] - wald["lower"]) < 0.05 * width
        assert abs(row["upper"] - wald["upper"]) < 0.05 * width
    ds = profile.dataset
    assert ds.delta_objective.min() > -1e-6
    centre = ds.sel(point=POINTS // 2)
    np.testing.assert_allclose(centre.value, [result.values[p] for p in FREE], rtol=1e-9)
    # Profile values of the other parameter are optimal: re-fitting one point by hand agrees.
    k = 0
    fixed = float(ds.value.isel(parameter=k, point=1))
    data = data_for(0)
    res = scipy.optimize.minimize_scalar(
        lambda lmu: hand_objective(data, np.array([fixed, np.exp(lmu)])),
        bounds=(np.log(1e-5), np.log(1e-1)), method="bounded", options={"xatol": 1e-10},
    )  # fmt: skip
    assert float(ds.objective.isel(parameter=k, point=1)) == pytest.approx(res.fun, rel=1e-7)


def test_flat_profile_is_reported_as_not_identifiable(result):
    """With the metastatic volumes made uninformative (a huge sigma, same compiled problem),
    only the primary's volume remains: its net growth `g - mu` fixes the sum, not each."""
    noise = {"distant.volume": mfo.noise.LogNormal(sigma=1e6)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flat = mfo.fit(start_model(), data_for(0), FREE, noise=noise, starts=STARTS, seed=1)
    with pytest.warns(UserWarning, match="not identifiable"):
        profile = mfo.profile_likelihood(flat, points=POINTS, span=2.0)
    row = profile.intervals.loc[FREE[1]]
    assert not row["identifiable"] and "flat" in row["note"] and row["failed_points"] == 0
    assert row["max_delta_objective"] < profile.threshold


def test_bounds_keep_the_estimate_inside_and_transforms_invert():
    model = start_model()
    problem, _ = ls.build_problem(
        model, data_for(0), FREE, noise=None, bounds={FREE[1]: (1e-4, 1e-2)}, t1=None, t0=0.0,
        resolution=mfo.Lumped(), solver=None, rtol=1e-8, atol=1e-8, max_steps=1000,
        interventions=(), adjoint=None,
    )  # fmt: skip
    tr = problem.transforms
    theta = jnp.asarray([0.31, 5e-3])
    np.testing.assert_allclose(tr.natural(tr.fitting(theta)), theta, rtol=1e-12)
    for u in ([-40.0, -40.0], [40.0, 40.0]):
        value = float(tr.natural(jnp.asarray(u))[1])
        assert 1e-4 * (1 - 1e-12) <= value <= 1e-2 * (1 + 1e-12)


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: d.drop(columns="value"), "lacks the column"),
        (lambda d: d.assign(time=-d["time"]), "negative times"),
        (lambda d: d.assign(observable="primary.volumes"), "Did you mean 'volume'"),
        (lambda d: d.assign(observable="livr.burden"), "not an organ or carrier"),
        (lambda d: d.assign(observable="distant.visible_lesions"), "needs lesions"),
        (lambda d: d.assign(observable="distant.failure_time"), "no failure criterion"),
        (lambda d: d.assign(censoring="maybe"), "censoring"),
        (lambda d: d.assign(value=-1.0), "must be > 0"),
        (lambda d: d.assign(value=np.nan), "finite"),
        (lambda d: d.iloc[:0], "no rows"),
    ],
)
def test_bad_data_is_refused_with_the_fix(change, match):
    with pytest.raises(ValueError, match=match):
        mfo.fit(start_model(), change(data_for(0)), FREE)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"free": ["adrenal.growth.rat"]}, ValueError, "unknown parameter"),
        ({"free": "adrenal.growth.rate"}, TypeError, "list of parameter paths"),
        ({"bounds": {FREE[0]: (0.4, 0.5)}}, ValueError, "strictly inside"),
        ({"bounds": {FREE[0]: (0.0, 0.5)}}, ValueError, "lower bound must be > 0|lower < upper"),
        ({"bounds": {"cell_density": (1.0, 2.0)}}, ValueError, "not `free`"),
        ({"noise": {"primary.volume": "lognormal"}}, TypeError, "noise model"),
        ({"noise": {"liver.burden": mfo.noise.Poisson()}}, ValueError, "not in the data"),
        ({"noise": {"primary.volume": mfo.noise.Bernoulli()}}, ValueError, "0 \\(absent\\)"),
        ({"starts": 0}, ValueError, "starts"),
        ({"optimiser": "lm"}, TypeError, "optimistix"),
        ({"t1": 60.0}, ValueError, "latest time"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    kwargs = {"free": FREE, **kwargs}
    with pytest.raises(error, match=match):
        mfo.fit(start_model(), data_for(0), **kwargs)


def test_bad_data_type_and_censoring_the_noise_model_cannot_handle():
    with pytest.raises(TypeError, match="DataFrame"):
        mfo.fit(start_model(), [1, 2, 3], FREE)
    data = pd.DataFrame(
        {"time": [60.0], "observable": ["distant.colonies"], "value": [3.0], "censoring": ["left"]}
    )
    with pytest.raises(ValueError, match="does not support 'left'"):
        mfo.fit(start_model(), data, FREE, noise={"distant.colonies": mfo.noise.NegativeBinomial()})


def failure_model():
    organs = base_model().organs
    return mfo.Model(
        [organs[0], mfo.Organ("distant", mfo.Exponential(rate=R_MET),
                              failure=mfo.Failure(burden=1e9, warning=None))],
        transfers=base_model().transfers, cell_density=1e9, lethal_burden=None,
    )  # fmt: skip


def test_horizon_must_pass_every_event_and_fraction_bounds_lie_inside_0_1():
    events = pd.DataFrame(
        {"time": [np.nan], "observable": ["distant.failure_time"], "value": [62.0]}
    )
    with pytest.raises(ValueError, match="not after the latest time"):
        mfo.fit(failure_model(), events, FREE, t1=62.0)
    fraction = "adrenal->distant.fraction"
    model = base_model().with_parameters({fraction: 0.5})
    with pytest.raises(ValueError, match="strictly inside \\(0, 1\\)"):
        mfo.fit(model, data_for(0), [fraction], bounds={fraction: (0.0, 0.9)})


def test_starting_value_outside_the_fitting_domain_is_refused():
    model = base_model().with_parameters({"distant.initial": 0.0})
    with pytest.raises(ValueError, match="cannot start a fit"):
        mfo.fit(model, data_for(0), ["distant.initial"])


def test_bfgs_reaches_the_levenberg_marquardt_optimum(result):
    bfgs = mfo.fit(
        start_model(), data_for(0), FREE, starts=STARTS, seed=1,
        optimiser=optx.BFGS(rtol=1e-9, atol=1e-9), max_steps=512, ode_max_steps=2000,
    )  # fmt: skip
    assert bfgs.objective == pytest.approx(result.objective, abs=1e-6)
    for p in FREE:
        assert bfgs.values[p] == pytest.approx(result.values[p], rel=1e-4)


def test_an_xarray_dataset_is_read_like_the_dataframe():
    from metaflow_ode._fit._data import measurements

    frame = data_for(0).assign(patient="p1", censoring="none")
    dataset = frame.rename_axis("measurement").to_xarray()
    a = measurements(frame, base_model(), noise=None, colonies=False, t0=0.0)
    b = measurements(dataset, base_model(), noise=None, colonies=False, t0=0.0)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.patients == b.patients == ("p1",)
    for ga, gb in zip(a.groups, b.groups, strict=True):
        assert ga.observable == gb.observable
        np.testing.assert_array_equal(ga.value, gb.value)
        np.testing.assert_array_equal(ga.time, gb.time)
