"""Virtual patients: marginal distributions and the Gaussian copula of `sample_patients`."""

import json
import math

import numpy as np
import pytest
import xarray as xr
from scipy import stats

from metaflow_ode._sampling import (
    AbstractDistribution,
    Fixed,
    LogNormal,
    Normal,
    TruncatedNormal,
    Uniform,
    sample_patients,
)

N = 20_000
# Two-sided Kolmogorov-Smirnov p-value below which a marginal is rejected: the draws are
# seeded, so this is a fixed check; 1e-3 leaves room for any seed while catching a wrong law.
P_MIN = 1e-3

MARGINALS = {
    "lognormal": (LogNormal(median=0.004, sigma=0.3), stats.lognorm(s=0.3, scale=0.004)),
    "normal": (Normal(mean=-2.0, sd=0.5), stats.norm(loc=-2.0, scale=0.5)),
    "uniform": (Uniform(low=10.0, high=30.0), stats.uniform(loc=10.0, scale=20.0)),
    "truncated": (
        TruncatedNormal(mean=1.0, sd=2.0, low=0.0, high=2.5),
        stats.truncnorm(a=-0.5, b=0.75, loc=1.0, scale=2.0),
    ),
    "lower_truncated": (
        TruncatedNormal(mean=0.0, sd=1.0, low=1.0),
        stats.truncnorm(a=1.0, b=np.inf),
    ),
}


@pytest.mark.parametrize("name", list(MARGINALS))
def test_marginal_matches_scipy(name):
    dist, reference = MARGINALS[name]
    ds = sample_patients(N, {"x.y": dist}, seed=11)
    x = ds["x.y"].values
    assert x.dtype == np.float64 and x.shape == (N,)
    assert stats.kstest(x, reference.cdf).pvalue > P_MIN
    # mean within 5 standard errors of the closed form
    assert abs(x.mean() - reference.mean()) < 5 * reference.std() / math.sqrt(N)
    # quantiles of the law itself
    u = np.array([0.01, 0.25, 0.5, 0.75, 0.99])
    np.testing.assert_allclose(dist.ppf(u), reference.ppf(u), rtol=1e-12)


def test_lognormal_closed_form():
    d = LogNormal(median=2.0, sigma=0.3)
    assert d.ppf(0.5) == pytest.approx(2.0, rel=1e-14)
    assert d.ppf(stats.norm.cdf(1.0)) == pytest.approx(2.0 * math.exp(0.3), rel=1e-12)
    z = np.array([-6.0, -1.0, 0.0, 2.5, 9.0])
    np.testing.assert_allclose(d.from_normal_scores(z), 2.0 * np.exp(0.3 * z), rtol=1e-10)


def test_fixed():
    ds = sample_patients(5, {"a": Fixed(3.5), "b": Normal(0.0, 1.0)}, seed=0)
    np.testing.assert_array_equal(ds["a"].values, np.full(5, 3.5))
    np.testing.assert_array_equal(Fixed(2.0).ppf([0.0, 0.5, 1.0]), [2.0, 2.0, 2.0])


@pytest.mark.parametrize(
    "dist, low, high",
    [
        (TruncatedNormal(mean=0.0, sd=1.0, low=-0.5, high=0.25), -0.5, 0.25),
        (TruncatedNormal(mean=0.0, sd=1.0, low=2.0), 2.0, math.inf),
        (TruncatedNormal(mean=5.0, sd=1.0, high=0.0), -math.inf, 0.0),  # 5 sd into a tail
        (Uniform(low=-1.0, high=1.0), -1.0, 1.0),
    ],
)
def test_bounds_respected(dist, low, high):
    x = sample_patients(N, {"p": dist}, seed=3)["p"].values
    assert np.all(np.isfinite(x))
    assert np.all(x >= low) and np.all(x <= high)


def test_copula_correlation_of_logs():
    rho = 0.6
    ds = sample_patients(
        N,
        {"a.growth.rate": LogNormal(0.004, 0.3), "b.growth.rate": LogNormal(50.0, 1.2)},
        seed=5,
        correlation=[[1.0, rho], [rho, 1.0]],
    )
    la, lb = np.log(ds["a.growth.rate"].values), np.log(ds["b.growth.rate"].values)
    r = np.corrcoef(la, lb)[0, 1]
    # standard error of a Pearson correlation of bivariate normals, (1 - rho^2) / sqrt(n)
    assert abs(r - rho) < 5 * (1 - rho**2) / math.sqrt(N)
    # the logs are normal with the marginals' sds: covariance diag(sigma) R diag(sigma)
    cov = np.cov(la, lb)
    expected = np.array([[0.09, 0.3 * 1.2 * rho], [0.3 * 1.2 * rho, 1.44]])
    np.testing.assert_allclose(cov, expected, rtol=0.05)
    # the marginals are exact under the copula
    assert stats.kstest(ds["b.growth.rate"].values, stats.lognorm(s=1.2, scale=50.0).cdf).pvalue > (
        P_MIN
    )


def test_copula_rank_correlation_for_other_marginals():
    rho = -0.7
    ds = sample_patients(
        N,
        {"u": Uniform(0.0, 1.0), "t": TruncatedNormal(0.0, 1.0, low=0.0)},
        seed=8,
        correlation={("u", "t"): rho},
    )
    spearman = stats.spearmanr(ds["u"].values, ds["t"].values).statistic
    expected = 6.0 / math.pi * math.asin(rho / 2.0)  # Spearman's rho of a Gaussian copula
    assert abs(spearman - expected) < 5 / math.sqrt(N)
    assert stats.kstest(ds["u"].values, "uniform").pvalue > P_MIN


def test_three_parameters_and_pair_mapping_equals_matrix():
    dists = {"a": LogNormal(1.0, 0.5), "b": Normal(0.0, 2.0), "c": Uniform(0.0, 1.0)}
    matrix = [[1.0, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 1.0]]
    pairs = {("a", "b"): 0.3, ("c", "b"): -0.2}
    a = sample_patients(100, dists, seed=1, correlation=matrix)
    b = sample_patients(100, dists, seed=1, correlation=pairs)
    xr.testing.assert_identical(a, b)


def test_singular_correlation():
    ds = sample_patients(
        1000,
        {"a": LogNormal(1.0, 0.5), "b": LogNormal(3.0, 0.2)},
        seed=2,
        correlation=[[1.0, 1.0], [1.0, 1.0]],
    )
    # perfectly correlated logs: the standardised logs coincide
    np.testing.assert_allclose(
        np.log(ds["a"].values) / 0.5, np.log(ds["b"].values / 3.0) / 0.2, atol=1e-9
    )


def test_reproducible_and_seed_dependent():
    dists = {"a": LogNormal(1.0, 0.5), "b": Uniform(0.0, 1.0)}
    corr = [[1.0, 0.4], [0.4, 1.0]]
    one = sample_patients(50, dists, seed=42, correlation=corr)
    two = sample_patients(50, dists, seed=42, correlation=corr)
    xr.testing.assert_identical(one, two)
    other = sample_patients(50, dists, seed=43, correlation=corr)
    assert not np.array_equal(one["a"].values, other["a"].values)
    # identity correlation draws the same values as independent sampling
    independent = sample_patients(50, dists, seed=42)
    identity = sample_patients(50, dists, seed=42, correlation=np.eye(2))
    np.testing.assert_array_equal(independent["a"].values, identity["a"].values)
    np.testing.assert_array_equal(independent["b"].values, identity["b"].values)


def test_dataset_layout():
    dists = {"breast.growth.rate": LogNormal(0.004, 0.3), "cell_density": Fixed(1e9)}
    ds = sample_patients(4, dists, seed=7, correlation=[[1.0, 0.5], [0.5, 1.0]])
    assert ds.sizes == {"patient": 4}
    np.testing.assert_array_equal(ds["patient"].values, np.arange(4))
    assert list(ds.data_vars) == ["breast.growth.rate", "cell_density"]
    assert ds["breast.growth.rate"].attrs["distribution"] == "LogNormal(median=0.004, sigma=0.3)"
    assert ds["cell_density"].attrs["distribution"] == "Fixed(value=1000000000.0)"
    assert ds.attrs["seed"] == 7
    assert json.loads(ds.attrs["correlation"]) == [[1.0, 0.5], [0.5, 1.0]]
    assert json.loads(ds.attrs["parameters"]) == list(dists)
    assert json.loads(ds.attrs["distributions"])["breast.growth.rate"].startswith("LogNormal")
    assert "copula" in ds.attrs["sampling"]
    assert json.loads(sample_patients(2, dists, seed=0).attrs["correlation"]) is None
    assert isinstance(LogNormal(1.0, 1.0), AbstractDistribution)
    with pytest.raises(AttributeError):
        dists["cell_density"].value = 2.0  # frozen


def test_repr_converts_numbers():
    assert repr(LogNormal(np.float64(0.5), 1)) == "LogNormal(median=0.5, sigma=1.0)"
    assert (
        repr(TruncatedNormal(1, 2, low=0)) == "TruncatedNormal(mean=1.0, sd=2.0, low=0.0, high=inf)"
    )


# --- Errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: LogNormal(0.0, 0.3), ValueError, r"LogNormal\(median=...\)` must be > 0"),
        (lambda: LogNormal(-1.0, 0.3), ValueError, r"LogNormal\(median=...\)` must be > 0"),
        (lambda: LogNormal(1.0, 0.0), ValueError, r"LogNormal\(sigma=...\)` must be > 0"),
        (lambda: LogNormal(math.inf, 0.3), ValueError, r"LogNormal\(median=...\)` must be finite"),
        (lambda: LogNormal("1", 0.3), TypeError, r"LogNormal\(median=...\)` must be a real number"),
        (lambda: LogNormal(True, 0.3), TypeError, r"must be a real number, got bool"),
        (lambda: Normal(0.0, -1.0), ValueError, r"Normal\(sd=...\)` must be > 0"),
        (lambda: Normal(math.nan, 1.0), ValueError, r"Normal\(mean=...\)` must be finite"),
        (lambda: Uniform(1.0, 1.0), ValueError, r"low < high.*Fixed\(1.0\)"),
        (lambda: Uniform(0.0, math.inf), ValueError, r"Uniform\(high=...\)` must be finite"),
        (lambda: TruncatedNormal(0.0, 1.0, low=1.0, high=0.0), ValueError, r"low < high"),
        (lambda: TruncatedNormal(0.0, 1.0, low=math.nan), ValueError, r"low < high"),
        (lambda: TruncatedNormal(0.0, 0.0), ValueError, r"TruncatedNormal\(sd=...\)` must be > 0"),
        (lambda: TruncatedNormal(0.0, 1.0, high="x"), TypeError, r"\(high=...\)` must be a real"),
        (lambda: Fixed(math.nan), ValueError, r"Fixed\(value=...\)` must be finite"),
        (lambda: LogNormal(1.0, 1.0).ppf([0.5, 1.5]), ValueError, r"probabilities in \[0, 1\]"),
        (lambda: Fixed(1.0).ppf(math.nan), ValueError, r"probabilities in \[0, 1\]"),
    ],
)
def test_distribution_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


GOOD = {"a": LogNormal(1.0, 0.5), "b": Normal(0.0, 1.0)}


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n": 0}, ValueError, r"`sample_patients\(n=...\)` must be >= 1, got 0"),
        ({"n": 2.0}, TypeError, r"`sample_patients\(n=...\)` must be an integer"),
        ({"n": True}, TypeError, r"`sample_patients\(n=...\)` must be an integer"),
        ({"seed": None}, TypeError, r"`sample_patients\(seed=...\)` must be an integer"),
        ({"seed": 1.5}, TypeError, r"`sample_patients\(seed=...\)` must be an integer"),
        ({"seed": -1}, ValueError, r"`sample_patients\(seed=...\)` must be >= 0"),
        ({"distributions": [("a", Fixed(1.0))]}, TypeError, r"must map parameter paths"),
        ({"distributions": {}}, ValueError, r"is empty"),
        ({"distributions": {1: Fixed(1.0)}}, TypeError, r"every key must be a non-empty string"),
        ({"distributions": {"": Fixed(1.0)}}, TypeError, r"every key must be a non-empty string"),
        ({"distributions": {"patient": Fixed(1.0)}}, ValueError, r'"patient" is the dimension'),
        ({"distributions": {"a": 1.0}}, TypeError, r"the entry for 'a' must be a distribution"),
        ({"distributions": {"a": stats.norm()}}, TypeError, r"must be a distribution"),
        ({"correlation": [[1.0, 0.5]]}, ValueError, r"must have shape \(2, 2\)"),
        (
            {"correlation": np.eye(3)},
            ValueError,
            r"must have shape \(2, 2\), .* got shape \(3, 3\)",
        ),
        ({"correlation": [["x", 0], [0, 1]]}, TypeError, r"must be a \(k, k\) array of numbers"),
        ({"correlation": [[1.0, 0.5], [0.4, 1.0]]}, ValueError, r"must be symmetric: entry"),
        ({"correlation": [[2.0, 0.5], [0.5, 2.0]]}, ValueError, r"must have a unit diagonal"),
        ({"correlation": [[1.0, 1.5], [1.5, 1.0]]}, ValueError, r"must lie in \[-1, 1\]"),
        ({"correlation": [[1.0, math.nan], [math.nan, 1.0]]}, ValueError, r"finite numbers only"),
        ({"correlation": {("a", "c"): 0.5}}, ValueError, r"\['c'\] in the key \('a', 'c'\)"),
        ({"correlation": {("a", "a"): 0.5}}, ValueError, r"pairs a parameter with itself"),
        ({"correlation": {"a": 0.5}}, TypeError, r"must have pairs of parameter paths as keys"),
        ({"correlation": {("a", "b"): "x"}}, TypeError, r"correlation=...\)` must be a real"),
    ],
)
def test_sample_patients_errors(kwargs, error, match):
    args = {"n": 3, "distributions": GOOD, "seed": 0, **kwargs}
    with pytest.raises(error, match=match):
        sample_patients(args.pop("n"), args.pop("distributions"), **args)


def test_not_positive_semidefinite():
    # each pair is possible, the three together are not
    corr = [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]
    dists = {"a": Fixed(1.0), "b": Fixed(2.0), "c": Fixed(3.0)}
    with pytest.raises(ValueError, match=r"must be positive semi-definite .* smallest eigenvalue"):
        sample_patients(3, dists, seed=0, correlation=corr)


def test_seed_is_required():
    with pytest.raises(TypeError, match="seed"):
        sample_patients(3, GOOD)  # type: ignore[call-arg]
