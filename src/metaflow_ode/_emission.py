"""Emission (shedding) laws: cells leaving a lesion per day as a function of its size."""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._params import Domain, check_parameters, parameter

__all__ = ["AbstractEmission", "PowerLaw"]


def power_continued(x: Array, exponent: ArrayLike) -> Array:
    """`x**exponent` for `x >= 1`, `x` for `0 <= x < 1`, `0` for `x <= 0`.

    The linear continuation below one cell is a modelling choice shared by growth and emission
    laws; see the module docstrings.
    """
    at_least_one = x >= 1
    safe = jnp.where(at_least_one, x, 1.0)
    return jnp.where(at_least_one, safe**exponent, jnp.maximum(x, 0.0))


class AbstractEmission(eqx.Module):
    """Base class of emission laws: `law(x)` is cells emitted per day by `x` cells."""

    @abc.abstractmethod
    def __call__(self, x: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        """Emission rate in cells/day of a lesion of `x` cells (elementwise)."""

    def __check_init__(self):
        check_parameters(self)


class PowerLaw(AbstractEmission):
    """Iwata power-law emission `beta(x) = coefficient * x**exponent`.

    Iwata, Kawasaki & Shigesada, J Theor Biol 2000; 203:177: a lesion of `x` cells emits
    `m x**alpha` cells per day, each of which may found a colony; `alpha = 2/3` means emission
    from the surface, `alpha = 1` from the whole volume (Benzekry et al. 2021 use `alpha = 1`,
    `m = 1e-3 /day`). For hepatocellular carcinoma Iwata et al. give `m = 5.3e-8`,
    `alpha = 0.663`. Below one cell the law is continued linearly (`m x`), so an empty organ
    emits nothing and the rate stays Lipschitz.

    **Arguments:**

    - `coefficient`: `m`, in cells**(1-exponent)/day (>= 0).
    - `exponent`: `alpha`, dimensionless, in [0, 1].
    """

    coefficient: Float[ArrayLike, ""] = parameter(
        units="cells**(1-exponent)/day",
        domain=Domain.NONNEGATIVE,
        description="emission coefficient m",
    )
    exponent: Float[ArrayLike, ""] = parameter(
        units="1", domain=Domain.UNIT_INTERVAL, description="emission exponent alpha"
    )

    def __call__(self, x):
        return self.coefficient * power_continued(jnp.asarray(x), self.exponent)
