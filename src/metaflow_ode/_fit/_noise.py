"""Noise models: the likelihood of one measurement given the model's prediction.

Each noise model gives, per observation, the negative log-likelihood `nll(value, pred,
censoring)` (censoring 0: exact, 1: left, the true value is at most `value`; 2: right, at
least `value`) and the residual `r` with `r**2 = 2 (nll - min_pred nll)`: the deviance
residual. The sum of squared residuals is then twice the negative log-likelihood up to a
constant, so least squares on the residuals (Levenberg-Marquardt) *is* maximum likelihood, for
counts, censored values and event times as much as for log-normal measurements.
"""

from __future__ import annotations

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np
from jaxtyping import Array, Float

from .._params import Domain, check_parameters, parameter

__all__ = [
    "AbstractNoise",
    "LogNormal",
    "Marker",
    "Poisson",
    "NegativeBinomial",
    "Bernoulli",
    "EventTime",
]

EXACT, LEFT, RIGHT = 0, 1, 2
CENSORING = {"none": EXACT, "left": LEFT, "right": RIGHT}
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_TINY = 1e-300


def _safe_sqrt(x):
    """`sqrt(x)` for `x >= 0` with a finite derivative at 0 (where it is set to 0)."""
    positive = x > 0.0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


def _log(x):
    return jnp.log(jnp.maximum(x, _TINY))


def _check_counts(value, observable: str, what: str) -> None:
    if np.any(value < 0) or np.any(value != np.round(value)):
        raise ValueError(f"observable {observable!r}: {what} counts must be whole numbers >= 0.")


class AbstractNoise(eqx.Module):
    """Base class of the noise models. Subclasses implement `nll`, `floor` and `sample`.

    `censoring` lists the censoring kinds ("none", "left", "right") the model supports.
    """

    censoring: ClassVar[tuple[str, ...]] = ("none",)

    def nll(self, value: Array, pred: Array, censoring: Array) -> Float[Array, ...]:
        """Negative log-likelihood of each observation (elementwise)."""
        raise NotImplementedError

    def floor(self, value: Array, censoring: Array) -> Float[Array, ...]:
        """The smallest `nll` over all predictions (the saturated model), elementwise."""
        raise NotImplementedError

    def residual(self, value: Array, pred: Array, censoring: Array) -> Float[Array, ...]:
        """Deviance residual: `sign * sqrt(2 (nll - floor))`, positive where the model predicts
        more than was measured."""
        deviance = 2.0 * (self.nll(value, pred, censoring) - self.floor(value, censoring))
        sign = jnp.where(pred >= value, 1.0, -1.0)
        return sign * _safe_sqrt(jnp.maximum(deviance, 0.0))

    def sample(self, key: Array, pred: Array) -> Array:
        """Draw uncensored measurements given predictions (for synthetic data)."""
        raise NotImplementedError

    def prepare(self, value: np.ndarray, censoring: np.ndarray, observable: str):
        """Check measurements on the host and return `(value, censoring)` as used in the
        likelihood (e.g. values below a detection limit become left-censored)."""
        allowed = {CENSORING[c] for c in self.censoring}
        bad = ~np.isin(censoring, list(allowed))
        if bad.any():
            name = {v: k for k, v in CENSORING.items()}[int(censoring[bad][0])]
            raise ValueError(
                f"observable {observable!r}: {type(self).__name__} noise does not support "
                f"{name!r} censoring (it supports {', '.join(map(repr, self.censoring))}); "
                "change the `censoring` column or the noise model."
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(
                f"observable {observable!r}: every `value` must be finite (use the "
                "`censoring` column for values below a detection limit)."
            )
        return value, censoring


class LogNormal(AbstractNoise):
    """Log-normal measurement error: `log(value) ~ Normal(log(pred), sigma)`.

    For imaging volumes and diameters (of the primary, an organ, the largest lesion), burdens
    and other positive quantities. A measurement below `detection_limit` (same units as the
    observable) is treated as left-censored at the limit: it says only that the true value is
    at most the limit, and contributes `log Phi((log(limit) - log(pred)) / sigma)`. Rows may
    also be censored explicitly (`censoring` "left" or "right").
    """

    sigma: Float[Array, ""] = parameter(
        units="1 (log scale)",
        domain=Domain.POSITIVE,
        description="standard deviation of log(value)",
        default=0.1,
    )
    detection_limit: Float[Array, ""] | None = parameter(
        units="units of the observable",
        domain=Domain.POSITIVE,
        description="values below this are left-censored at it",
        default=None,
    )
    censoring: ClassVar[tuple[str, ...]] = ("none", "left", "right")

    def __check_init__(self):
        check_parameters(self)

    def _mean(self, pred):
        return pred

    def nll(self, value, pred, censoring):
        z = (_log(value) - _log(self._mean(pred))) / self.sigma
        exact = 0.5 * z**2 + jnp.log(self.sigma) + _log(value) + _HALF_LOG_2PI
        return jnp.where(
            censoring == EXACT,
            exact,
            jnp.where(censoring == LEFT, -jss.log_ndtr(z), -jss.log_ndtr(-z)),
        )

    def floor(self, value, censoring):
        return jnp.where(censoring == EXACT, jnp.log(self.sigma) + _log(value) + _HALF_LOG_2PI, 0.0)

    def residual(self, value, pred, censoring):
        z = (_log(self._mean(pred)) - _log(value)) / self.sigma
        censored = _safe_sqrt(2.0 * self.nll(value, pred, censoring))
        return jnp.where(censoring == EXACT, z, censored)

    def sample(self, key, pred):
        return self._mean(pred) * jnp.exp(self.sigma * jax.random.normal(key, jnp.shape(pred)))

    def prepare(self, value, censoring, observable):
        value, censoring = super().prepare(value, censoring, observable)
        if self.detection_limit is not None:
            limit = float(self.detection_limit)
            below = (censoring == EXACT) & (value < limit)
            censoring = np.where(below, LEFT, censoring)
            value = np.where(below, limit, value)
        if np.any(value <= 0):
            raise ValueError(
                f"observable {observable!r}: log-normal values must be > 0; give values "
                "below the detection limit as left-censored (`censoring='left'`, value = the "
                "limit) or set `detection_limit=`."
            )
        return value, censoring


class Marker(LogNormal):
    """A serum marker proportional to the tumour burden, with a baseline: log-normal about
    `offset + scale * pred`.

    Give the numbers by keyword, `Marker(scale=2e-9, offset=3.0, sigma=0.2)`: the fields
    inherited from [`LogNormal`][metaflow_ode.noise.LogNormal] come first. Use with a burden
    observable, typically `whole_body.burden` (e.g. CEA, CA 15-3 or PSA
    against total tumour cells). `scale` is in marker units per cell, `offset` is the marker's
    level without tumour; both are fixed numbers (neither `fit` nor `sample_posterior`
    estimates noise parameters). A `detection_limit` left-censors as in
    [`LogNormal`][metaflow_ode.noise.LogNormal].
    """

    scale: Float[Array, ""] = parameter(
        units="marker units/cell",
        domain=Domain.POSITIVE,
        description="marker level per tumour cell",
        default=1.0,
    )
    offset: Float[Array, ""] = parameter(
        units="marker units",
        domain=Domain.NONNEGATIVE,
        description="marker level without tumour",
        default=0.0,
    )

    def _mean(self, pred):
        return self.offset + self.scale * pred


class EventTime(LogNormal):
    """Time of an event (organ failure, death): `log(time) ~ Normal(log(predicted time),
    sigma)`, with right-censoring for patients seen without the event (`censoring="right"`,
    value = the last time seen). Left-censoring (the event happened before `value`) is allowed.

    A predicted event that does not happen within the simulated horizon is placed at the
    horizon (`fit(t1=...)`), a conservative bound (see the fitting docs).
    """


class Poisson(AbstractNoise):
    """Poisson counts with mean `pred`: visible lesion counts, circulating tumour cells per
    7.5 mL of blood (the CellSearch sample). Right-censoring ("at least `value`") and
    left-censoring ("at most `value`") are supported, e.g. "more than 10 lesions".
    """

    censoring: ClassVar[tuple[str, ...]] = ("none", "left", "right")

    def nll(self, value, pred, censoring):
        mu = jnp.maximum(pred, _TINY)
        exact = mu - value * jnp.log(mu) + jss.gammaln(value + 1.0)
        # P(Y <= k) = Q(k + 1, mu), P(Y >= k) = P(k, mu) (regularised incomplete gammas)
        left = -_log(jss.gammaincc(value + 1.0, mu))
        right = jnp.where(value > 0, -_log(jss.gammainc(jnp.maximum(value, 1.0), mu)), 0.0)
        return jnp.where(censoring == EXACT, exact, jnp.where(censoring == LEFT, left, right))

    def floor(self, value, censoring):
        exact = value - jss.xlogy(value, value) + jss.gammaln(value + 1.0)
        return jnp.where(censoring == EXACT, exact, 0.0)

    def sample(self, key, pred):
        return jax.random.poisson(key, pred).astype(jnp.float64)

    def prepare(self, value, censoring, observable):
        value, censoring = super().prepare(value, censoring, observable)
        _check_counts(value, observable, "Poisson")
        return value, censoring


class NegativeBinomial(AbstractNoise):
    """Negative binomial counts with mean `pred` and variance `pred + pred**2 / dispersion`:
    overdispersed lesion counts. Large `dispersion` approaches
    [`Poisson`][metaflow_ode.noise.Poisson]. Exact counts only.
    """

    dispersion: Float[Array, ""] = parameter(
        units="1", domain=Domain.POSITIVE, description="size parameter r", default=10.0
    )

    def __check_init__(self):
        check_parameters(self)

    def nll(self, value, pred, censoring):
        del censoring
        r, mu = self.dispersion, jnp.maximum(pred, _TINY)
        log_p = (
            jss.gammaln(value + r)
            - jss.gammaln(r)
            - jss.gammaln(value + 1.0)
            + r * jnp.log(r / (r + mu))
            + value * jnp.log(mu / (r + mu))
        )
        return -log_p

    def floor(self, value, censoring):
        return self.nll(value, value, censoring)  # the mean that maximises it: pred = value

    def sample(self, key, pred):
        k1, k2 = jax.random.split(key)
        rate = jax.random.gamma(k1, self.dispersion, jnp.shape(pred)) * pred / self.dispersion
        return jax.random.poisson(k2, rate).astype(jnp.float64)

    def prepare(self, value, censoring, observable):
        value, censoring = super().prepare(value, censoring, observable)
        if np.any(value < 0) or np.any(value != np.round(value)):
            raise ValueError(
                f"observable {observable!r}: negative binomial counts must be whole numbers >= 0."
            )
        return value, censoring


class Bernoulli(AbstractNoise):
    """Presence (1) or absence (0) of a finding with probability `pred`: autopsy involvement
    of an organ against `ORGAN.p_metastasis`, the probability of at least one colony.
    """

    def nll(self, value, pred, censoring):
        del censoring
        p = jnp.clip(pred, 1e-15, 1.0 - 1e-15)
        return -(value * jnp.log(p) + (1.0 - value) * jnp.log1p(-p))

    def floor(self, value, censoring):
        return jnp.zeros_like(value)

    def sample(self, key, pred):
        return jax.random.bernoulli(key, pred).astype(jnp.float64)

    def prepare(self, value, censoring, observable):
        value, censoring = super().prepare(value, censoring, observable)
        if not np.all(np.isin(value, (0.0, 1.0))):
            raise ValueError(
                f"observable {observable!r}: Bernoulli values must be 0 (absent) or 1 (present)."
            )
        return value, censoring
