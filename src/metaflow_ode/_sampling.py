"""Virtual patients: marginal distributions of model parameters and a Gaussian copula.

Runs outside `jit`, on host arrays. [`sample_patients`][metaflow_ode.sample_patients] draws
one value of every named parameter per patient and returns them as an `xarray.Dataset` on a
`patient` dimension, the input of a virtual cohort.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import numbers
from collections.abc import Mapping

import numpy as np
import xarray as xr
from scipy import stats

__all__ = [
    "AbstractDistribution",
    "Fixed",
    "LogNormal",
    "Normal",
    "TruncatedNormal",
    "Uniform",
    "sample_patients",
]

# Tolerance of the checks of a correlation matrix (symmetry, unit diagonal, eigenvalues):
# matrices typed with a few decimals or computed in floating point pass, wrong ones do not.
_MATRIX_TOL = 1e-10

COPULA = (
    "Gaussian copula: standard normal scores z = L e (e independent standard normals, "
    "L L^T = correlation), each parameter = its marginal's quantile of Phi(z) "
    "(Nelsen RB. An Introduction to Copulas, 2nd ed. Springer 2006, section 2.9)"
)


INDEPENDENT = (
    "independent draws: each parameter = its marginal's quantile of Phi(e), e independent "
    "standard normals"
)


def _real(owner: str, argument: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{owner}({argument}=...)` must be a real number, got {type(value).__name__}."
        )
    return float(value)


def _finite(owner: str, argument: str, value) -> float:
    value = _real(owner, argument, value)
    if not math.isfinite(value):
        raise ValueError(f"`{owner}({argument}=...)` must be finite, got {value!r}.")
    return value


def _positive(owner: str, argument: str, value) -> float:
    value = _finite(owner, argument, value)
    if value <= 0:
        raise ValueError(f"`{owner}({argument}=...)` must be > 0, got {value!r}.")
    return value


class AbstractDistribution(abc.ABC):
    """Base class of the marginal distributions of a virtual cohort
    ([`sample_patients`][metaflow_ode.sample_patients]).

    A distribution has no units of its own: its location parameters (`median`, `mean`, `low`,
    `high`, `value`) are in the units of the model parameter it is given for (e.g. 1/day for
    `"liver.growth.rate"`, see [`parameters`][metaflow_ode.parameters]). Concrete
    distributions are frozen dataclasses whose `repr` is their description, e.g.
    `LogNormal(median=0.004, sigma=0.3)`.
    """

    @abc.abstractmethod
    def ppf(self, u) -> np.ndarray:
        """The quantile function: the value below which a fraction `u` (in [0, 1]) of the
        distribution lies, elementwise, as a float64 array in the parameter's units."""

    def isf(self, q) -> np.ndarray:
        """The inverse survival function, `ppf(1 - q)` computed without rounding `1 - q`: the
        value above which a fraction `q` of the distribution lies (accurate far in the upper
        tail)."""
        return self.ppf(1.0 - np.asarray(q, dtype=float))

    def from_normal_scores(self, z) -> np.ndarray:
        """The value with the same quantile as the standard normal score `z`: `ppf(Phi(z))`,
        each tail computed from its own side so that neither rounds to 0 or 1."""
        z = np.asarray(z, dtype=float)
        lower = self.ppf(stats.norm.cdf(np.minimum(z, 0.0)))
        upper = self.isf(stats.norm.sf(np.maximum(z, 0.0)))
        return np.where(z <= 0.0, lower, upper)


class _ScipyDistribution(AbstractDistribution):
    """A distribution computed by a frozen `scipy.stats` distribution."""

    @abc.abstractmethod
    def to_scipy(self):
        """The frozen `scipy.stats` distribution."""

    def ppf(self, u) -> np.ndarray:
        return np.asarray(self.to_scipy().ppf(_probabilities(u)), dtype=np.float64)

    def isf(self, q) -> np.ndarray:
        return np.asarray(self.to_scipy().isf(_probabilities(q)), dtype=np.float64)


def _probabilities(u) -> np.ndarray:
    u = np.asarray(u, dtype=float)
    if np.any(~(u >= 0.0) | ~(u <= 1.0)):
        raise ValueError("`ppf(u)` needs probabilities in [0, 1] (no NaN).")
    return u


@dataclasses.dataclass(frozen=True)
class LogNormal(_ScipyDistribution):
    """Log-normal distribution: `log X ~ Normal(log median, sigma^2)`.

    The usual law of positive rates and sizes that vary between patients by a factor rather
    than by an amount: `exp(±sigma)` is the factor of one standard deviation (sigma = 0.3:
    about 68 % of patients within a factor 1.35 of the median). Mean `median *
    exp(sigma^2 / 2)`. Computed by `scipy.stats.lognorm(s=sigma, scale=median)`.

    **Arguments:**

    - `median`: the median, > 0, in the parameter's units (also the geometric mean).
    - `sigma`: standard deviation of the natural log of the value, > 0 (dimensionless).
    """

    median: float
    sigma: float

    def __post_init__(self):
        object.__setattr__(self, "median", _positive("LogNormal", "median", self.median))
        object.__setattr__(self, "sigma", _positive("LogNormal", "sigma", self.sigma))

    def to_scipy(self):
        return stats.lognorm(s=self.sigma, scale=self.median)


@dataclasses.dataclass(frozen=True)
class Normal(_ScipyDistribution):
    """Normal distribution. Computed by `scipy.stats.norm(loc=mean, scale=sd)`.

    Takes negative values with positive probability: for parameters that must be positive
    use [`LogNormal`][metaflow_ode.LogNormal] or
    [`TruncatedNormal`][metaflow_ode.TruncatedNormal].

    **Arguments:**

    - `mean`: the mean, in the parameter's units.
    - `sd`: the standard deviation, > 0, in the parameter's units.
    """

    mean: float
    sd: float

    def __post_init__(self):
        object.__setattr__(self, "mean", _finite("Normal", "mean", self.mean))
        object.__setattr__(self, "sd", _positive("Normal", "sd", self.sd))

    def to_scipy(self):
        return stats.norm(loc=self.mean, scale=self.sd)


@dataclasses.dataclass(frozen=True)
class TruncatedNormal(_ScipyDistribution):
    """Normal distribution restricted to `[low, high]`: every draw lies in the interval.

    `mean` and `sd` are those of the normal before truncation (the truncated mean differs
    when a bound is near). Computed by `scipy.stats.truncnorm(a=(low - mean) / sd,
    b=(high - mean) / sd, loc=mean, scale=sd)`.

    **Arguments:**

    - `mean`: mean of the untruncated normal, in the parameter's units.
    - `sd`: standard deviation of the untruncated normal, > 0, in the parameter's units.
    - `low`: lower bound (default `-inf`: none), in the parameter's units.
    - `high`: upper bound (default `inf`: none), > `low`, in the parameter's units.
    """

    mean: float
    sd: float
    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self):
        object.__setattr__(self, "mean", _finite("TruncatedNormal", "mean", self.mean))
        object.__setattr__(self, "sd", _positive("TruncatedNormal", "sd", self.sd))
        low = _real("TruncatedNormal", "low", self.low)
        high = _real("TruncatedNormal", "high", self.high)
        if math.isnan(low) or math.isnan(high) or not low < high:
            raise ValueError(
                f"`TruncatedNormal(low=..., high=...)` must satisfy low < high, got low={low!r}, "
                f"high={high!r}."
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def to_scipy(self):
        a = (self.low - self.mean) / self.sd
        b = (self.high - self.mean) / self.sd
        return stats.truncnorm(a=a, b=b, loc=self.mean, scale=self.sd)


@dataclasses.dataclass(frozen=True)
class Uniform(_ScipyDistribution):
    """Uniform distribution on `[low, high]`. Computed by `scipy.stats.uniform(loc=low,
    scale=high - low)`.

    **Arguments:**

    - `low`: lower bound, in the parameter's units.
    - `high`: upper bound, > `low`, in the parameter's units.
    """

    low: float
    high: float

    def __post_init__(self):
        low = _finite("Uniform", "low", self.low)
        high = _finite("Uniform", "high", self.high)
        if not low < high:
            raise ValueError(
                f"`Uniform(low=..., high=...)` must satisfy low < high, got low={low!r}, "
                f"high={high!r}; for one value for every patient use `Fixed({low!r})`."
            )
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    def to_scipy(self):
        return stats.uniform(loc=self.low, scale=self.high - self.low)


@dataclasses.dataclass(frozen=True)
class Fixed(AbstractDistribution):
    """The same value for every patient (a parameter held fixed in a cohort, listed with the
    sampled ones so the cohort dataset records it). Its correlations have no effect.

    **Arguments:**

    - `value`: the value, in the parameter's units.
    """

    value: float

    def __post_init__(self):
        object.__setattr__(self, "value", _finite("Fixed", "value", self.value))

    def ppf(self, u) -> np.ndarray:
        return np.full(_probabilities(u).shape, self.value, dtype=np.float64)

    def isf(self, q) -> np.ndarray:
        return np.full(_probabilities(q).shape, self.value, dtype=np.float64)


def _check_names(distributions) -> list[str]:
    if not isinstance(distributions, Mapping):
        raise TypeError(
            "`sample_patients(distributions=...)` must map parameter paths to distributions, "
            'e.g. {"liver.growth.rate": mfo.LogNormal(median=0.004, sigma=0.3)}, got '
            f"{type(distributions).__name__}."
        )
    if not distributions:
        raise ValueError("`sample_patients(distributions=...)` is empty: give at least one entry.")
    names = list(distributions)
    for name in names:
        if not isinstance(name, str) or not name:
            raise TypeError(
                "`sample_patients(distributions=...)`: every key must be a non-empty string, a "
                f'dotted parameter path such as "liver.growth.rate", got {name!r}.'
            )
        if name == "patient":
            raise ValueError(
                '`sample_patients(distributions=...)`: "patient" is the dimension of the '
                "output and cannot be a parameter path."
            )
        if not isinstance(distributions[name], AbstractDistribution):
            raise TypeError(
                f"`sample_patients(distributions=...)`: the entry for {name!r} must be a "
                "distribution (`mfo.LogNormal`, `mfo.Normal`, `mfo.TruncatedNormal`, "
                f"`mfo.Uniform` or `mfo.Fixed`), got {type(distributions[name]).__name__}."
            )
    return names


def _correlation_matrix(correlation, names: list[str]) -> np.ndarray:
    k = len(names)
    if isinstance(correlation, Mapping):
        matrix = np.eye(k)
        for pair, value in correlation.items():
            if (
                not isinstance(pair, tuple)
                or len(pair) != 2
                or not all(isinstance(p, str) for p in pair)
            ):
                raise TypeError(
                    "`sample_patients(correlation=...)`: a mapping must have pairs of "
                    'parameter paths as keys, e.g. {("a.growth.rate", "b.growth.rate"): 0.5}, '
                    f"got the key {pair!r}."
                )
            unknown = [p for p in pair if p not in names]
            if unknown:
                raise ValueError(
                    f"`sample_patients(correlation=...)`: {unknown} in the key {pair!r} are not "
                    f"in `distributions` ({names})."
                )
            i, j = names.index(pair[0]), names.index(pair[1])
            if i == j:
                raise ValueError(
                    f"`sample_patients(correlation=...)`: the key {pair!r} pairs a parameter "
                    "with itself; give correlations between different parameters only."
                )
            value = _real("sample_patients", "correlation", value)
            matrix[i, j] = matrix[j, i] = value
    else:
        try:
            matrix = np.array(correlation, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(
                "`sample_patients(correlation=...)` must be a (k, k) array of numbers, or a "
                "mapping of pairs of parameter paths to correlations."
            ) from None
        if matrix.shape != (k, k):
            raise ValueError(
                f"`sample_patients(correlation=...)` must have shape ({k}, {k}), one row and "
                f"column per entry of `distributions` in its order, got shape {matrix.shape}."
            )
    if not np.all(np.isfinite(matrix)):
        raise ValueError("`sample_patients(correlation=...)` must hold finite numbers only.")
    if not np.allclose(matrix, matrix.T, rtol=0.0, atol=_MATRIX_TOL):
        i, j = np.unravel_index(np.argmax(np.abs(matrix - matrix.T)), matrix.shape)
        raise ValueError(
            "`sample_patients(correlation=...)` must be symmetric: entry "
            f"[{i}, {j}] is {matrix[i, j]!r} but [{j}, {i}] is {matrix[j, i]!r}."
        )
    if not np.allclose(np.diag(matrix), 1.0, rtol=0.0, atol=_MATRIX_TOL):
        raise ValueError(
            "`sample_patients(correlation=...)` must have a unit diagonal (it is a correlation "
            f"matrix, not a covariance), got the diagonal {np.diag(matrix).tolist()}."
        )
    if np.any(np.abs(matrix) > 1.0 + _MATRIX_TOL):
        raise ValueError(
            "`sample_patients(correlation=...)`: correlations must lie in [-1, 1], got "
            f"{matrix[np.abs(matrix) > 1.0 + _MATRIX_TOL].tolist()}."
        )
    matrix = (matrix + matrix.T) / 2.0
    np.fill_diagonal(matrix, 1.0)
    smallest = float(np.linalg.eigvalsh(matrix)[0])
    if smallest < -_MATRIX_TOL * k:
        raise ValueError(
            "`sample_patients(correlation=...)` must be positive semi-definite (no set of "
            f"variables has these correlations): its smallest eigenvalue is {smallest:.3g}. "
            "Weaken the correlations, or check the signs of those in a loop of three or more."
        )
    return matrix


def _factor(matrix: np.ndarray) -> np.ndarray:
    """`L` with `L @ L.T == matrix`: Cholesky, or a symmetric square root when singular."""
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        # Positive semi-definite but singular (e.g. a correlation of exactly 1).
        values, vectors = np.linalg.eigh(matrix)
        return vectors * np.sqrt(np.clip(values, 0.0, None))


def sample_patients(
    n: int,
    distributions: Mapping[str, AbstractDistribution],
    *,
    seed: int,
    correlation=None,
) -> xr.Dataset:
    """Draw the parameters of `n` virtual patients.

    Every entry of `distributions` names a model parameter by its dotted path (as in
    [`parameters`][metaflow_ode.parameters], e.g. `"liver.growth.rate"`) and gives its
    marginal distribution across patients. Without `correlation` the parameters are drawn
    independently; with it they are joined by a Gaussian copula (Nelsen, An Introduction to
    Copulas, 2nd ed., Springer 2006, section 2.9):

    1. `e` (patient, k): independent standard normals from
       `numpy.random.default_rng(seed).standard_normal((n, k))`;
    2. `z = e @ L.T`, with `L` the Cholesky factor of the correlation matrix `R` (a symmetric
       square root where `R` is singular), so the rows of `z` are `Normal(0, R)`;
    3. parameter `j` is `ppf_j(Phi(z[:, j]))`, its marginal's quantile function at the normal
       probability of its score.

    So every marginal is exactly the one given, whatever the correlation, and `R` is the
    correlation of the normal scores. For [`LogNormal`][metaflow_ode.LogNormal] marginals the
    score is the standardised log, `log X_j = log median_j + sigma_j z_j`: the logs are
    multivariate normal with covariance `diag(sigma) R diag(sigma)`. To give a covariance
    matrix `S` of log-parameters, use `sigma_j = sqrt(S[j, j])` in the marginals and
    `R = S / outer(sigma, sigma)` as `correlation`; there is no separate `covariance`
    argument, as it would restate the sigmas of the marginals and could contradict them. For
    other marginals `R` is the correlation of the normal scores, not of the values: the rank
    (Spearman) correlation is `(6 / pi) arcsin(R / 2)`. An identity `correlation` draws the
    same values as none.

    **Arguments:**

    - `n`: number of patients, an integer >= 1.
    - `distributions`: mapping of dotted parameter paths (strings) to distributions
      ([`LogNormal`][metaflow_ode.LogNormal], [`Normal`][metaflow_ode.Normal],
      [`TruncatedNormal`][metaflow_ode.TruncatedNormal], [`Uniform`][metaflow_ode.Uniform],
      [`Fixed`][metaflow_ode.Fixed]), in the parameter's units.
    - `seed`: integer >= 0 seeding `numpy.random.default_rng`; required, so that every cohort
      can be drawn again. The same seed, `n`, distributions (in the same order) and
      correlation give the same draws.
    - `correlation`: `None` (independent, default); a `(k, k)` correlation matrix of the
      normal scores over the entries of `distributions` in their order (symmetric, unit
      diagonal, positive semi-definite); or a mapping of pairs of paths to correlations, e.g.
      `{("liver.growth.rate", "lung.growth.rate"): 0.6}`, the other pairs uncorrelated.

    **Returns:** an `xarray.Dataset` on the dimension `patient` (coordinate `0 .. n-1`) with
    one float64 variable per path, named by the path, whose attributes give the
    `distribution` (e.g. `"LogNormal(median=0.004, sigma=0.3)"`); dataset attributes `seed`,
    `parameters` (JSON list of the paths, in order), `distributions` (JSON mapping of path to
    distribution), `correlation` (JSON nested list, `null` when independent) and `sampling`
    (the method).

    **Raises:** `TypeError` for arguments of the wrong type; `ValueError` for `n < 1`, a
    negative seed, an empty mapping, or a correlation matrix of the wrong shape, not
    symmetric, without a unit diagonal, with entries outside [-1, 1] or not positive
    semi-definite.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(
            f"`sample_patients(n=...)` must be an integer number of patients, got "
            f"{type(n).__name__}."
        )
    if n < 1:
        raise ValueError(f"`sample_patients(n=...)` must be >= 1, got {n}.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            "`sample_patients(seed=...)` must be an integer, e.g. `seed=0`, got "
            f"{type(seed).__name__}."
        )
    if seed < 0:
        raise ValueError(f"`sample_patients(seed=...)` must be >= 0, got {seed}.")
    n, seed = int(n), int(seed)
    names = _check_names(distributions)
    k = len(names)
    matrix = None if correlation is None else _correlation_matrix(correlation, names)

    scores = np.random.default_rng(seed).standard_normal((n, k))
    if matrix is not None:
        scores = scores @ _factor(matrix).T
    variables = {}
    for j, name in enumerate(names):
        dist = distributions[name]
        variables[name] = xr.Variable(
            ("patient",),
            np.asarray(dist.from_normal_scores(scores[:, j]), dtype=np.float64),
            attrs={
                "long_name": f"sampled value of the parameter {name}",
                "distribution": repr(dist),
            },
        )
    coords = {
        "patient": xr.Variable(
            ("patient",), np.arange(n, dtype=np.int64), attrs={"long_name": "virtual patient"}
        )
    }
    attrs = {
        "seed": seed,
        "parameters": json.dumps(names),
        "distributions": json.dumps({name: repr(distributions[name]) for name in names}),
        "correlation": json.dumps(None if matrix is None else matrix.tolist()),
        "sampling": INDEPENDENT if matrix is None else COPULA,
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)
