"""Tumour growth laws `dx/dt = g(x)` for a tumour or a lumped metastatic burden of `x` cells.

Every law is elementwise in `x` (so one law can be applied to many organs at once) and returns
cells per day. Below one cell every law is continued linearly, `g(x) = x * g(1)` for
`0 <= x < 1`, and `g(x) = 0` for `x <= 0`: in the lumped fidelity an organ's burden starts as
fractions of a cell (the expected number of seeded cells), and a fraction of a cell should grow
at the specific rate of a one-cell colony, not at the unbounded specific rate that Gompertz or
power laws give as `x -> 0`. This keeps the vector field Lipschitz at empty organs and changes
nothing at or above one cell.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._params import Domain, check_parameters, parameter

__all__ = [
    "AbstractGrowth",
    "Exponential",
    "Logistic",
    "Gompertz",
    "GeneralisedLogistic",
    "VonBertalanffy",
    "PowerGrowth",
]


class AbstractGrowth(eqx.Module):
    """Base class of growth laws: `law(x)` is `dx/dt` in cells/day for `x` cells.

    Subclasses implement `rate_above_one(x)`, the law for `x >= 1` cell; `__call__` adds the
    linear continuation below one cell described in the module docs.
    """

    @abc.abstractmethod
    def rate_above_one(self, x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        """Growth rate in cells/day for `x >= 1` cells (elementwise)."""

    def __call__(self, x: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        """Growth rate in cells/day of a tumour of `x` cells (elementwise)."""
        x = jnp.asarray(x)
        at_least_one = x >= 1
        safe = jnp.where(at_least_one, x, 1.0)
        return jnp.where(
            at_least_one,
            self.rate_above_one(safe),
            jnp.maximum(x, 0.0) * self.rate_above_one(jnp.ones_like(safe)),
        )

    def __check_init__(self):
        check_parameters(self)


class Exponential(AbstractGrowth):
    """Exponential growth `dx/dt = rate * x`.

    Closed form `x(t) = x0 * exp(rate * t)`. Used for neuroblastoma in Benzekry et al.,
    JCO Clin Cancer Inform 2021 (doubling time 48 h, `rate = ln 2 / 2 = 0.346574 /day`).

    **Arguments:**

    - `rate`: growth rate in 1/day (>= 0); doubling time is `ln 2 / rate`.
    """

    rate: Float[ArrayLike, ""] = parameter(
        units="1/day", domain=Domain.NONNEGATIVE, description="exponential growth rate"
    )

    def rate_above_one(self, x):
        return self.rate * x


class Logistic(AbstractGrowth):
    """Logistic growth `dx/dt = rate * x * (1 - x / capacity)` (Verhulst 1838).

    Closed form `x(t) = capacity / (1 + (capacity / x0 - 1) exp(-rate t))`.

    **Arguments:**

    - `rate`: intrinsic growth rate in 1/day (>= 0).
    - `capacity`: carrying capacity in cells (> 0).
    """

    rate: Float[ArrayLike, ""] = parameter(
        units="1/day", domain=Domain.NONNEGATIVE, description="logistic growth rate"
    )
    capacity: Float[ArrayLike, ""] = parameter(
        units="cells", domain=Domain.POSITIVE, description="carrying capacity"
    )

    def rate_above_one(self, x):
        return self.rate * x * (1 - x / self.capacity)


class Gompertz(AbstractGrowth):
    """Gompertz growth `dx/dt = rate * x * ln(capacity / x)`.

    Closed form `x(t) = capacity * exp(ln(x0 / capacity) * exp(-rate t))`. The law of
    Gompertz (Phil Trans R Soc 1825) as fitted to tumours by Laird (Br J Cancer 1964); the
    growth law of the Iwata, Kawasaki & Shigesada model (J Theor Biol 2000; 203:177), where
    `rate = a = 0.00286 /day` and `capacity = b = 7.3e10 cells` for hepatocellular carcinoma.

    **Arguments:**

    - `rate`: Gompertz rate in 1/day (>= 0).
    - `capacity`: plateau size in cells (> 0).
    """

    rate: Float[ArrayLike, ""] = parameter(
        units="1/day", domain=Domain.NONNEGATIVE, description="Gompertz rate"
    )
    capacity: Float[ArrayLike, ""] = parameter(
        units="cells", domain=Domain.POSITIVE, description="Gompertz plateau size"
    )

    def rate_above_one(self, x):
        return self.rate * x * jnp.log(self.capacity / x)


class GeneralisedLogistic(AbstractGrowth):
    """Generalised logistic (Richards) growth `dx/dt = rate * x * (1 - (x / capacity)**exponent)`.

    Richards, J Exp Bot 1959; 10:290. `exponent = 1` is the logistic law; `exponent -> 0` with
    `rate * exponent` fixed tends to Gompertz. Closed form
    `x(t) = capacity / (1 + ((capacity / x0)**exponent - 1) exp(-rate exponent t))**(1/exponent)`.

    **Arguments:**

    - `rate`: growth rate in 1/day (>= 0).
    - `capacity`: carrying capacity in cells (> 0).
    - `exponent`: shape exponent (> 0, dimensionless).
    """

    rate: Float[ArrayLike, ""] = parameter(
        units="1/day", domain=Domain.NONNEGATIVE, description="generalised logistic rate"
    )
    capacity: Float[ArrayLike, ""] = parameter(
        units="cells", domain=Domain.POSITIVE, description="carrying capacity"
    )
    exponent: Float[ArrayLike, ""] = parameter(
        units="1", domain=Domain.POSITIVE, description="Richards shape exponent"
    )

    def rate_above_one(self, x):
        return self.rate * x * (1 - (x / self.capacity) ** self.exponent)


class VonBertalanffy(AbstractGrowth):
    """Von Bertalanffy growth `dx/dt = production * x**exponent - loss * x`.

    Von Bertalanffy, Q Rev Biol 1957; 32:217; for tumours see Benzekry et al., PLoS Comput Biol
    2014; 10:e1003800. Plateau at `(production / loss)**(1 / (1 - exponent))` cells. For
    `exponent = 2/3` the closed form is
    `x(t) = ((p/l) + (x0**(1/3) - p/l) exp(-l t / 3))**3`.

    **Arguments:**

    - `production`: production coefficient in cells**(1-exponent)/day (>= 0).
    - `loss`: loss rate in 1/day (>= 0).
    - `exponent`: production exponent in (0, 1), dimensionless (2/3 for surface-limited growth).
    """

    production: Float[ArrayLike, ""] = parameter(
        units="cells**(1-exponent)/day",
        domain=Domain.NONNEGATIVE,
        description="von Bertalanffy production coefficient",
    )
    loss: Float[ArrayLike, ""] = parameter(
        units="1/day", domain=Domain.NONNEGATIVE, description="von Bertalanffy loss rate"
    )
    exponent: Float[ArrayLike, ""] = parameter(
        units="1", domain=Domain.OPEN_UNIT_INTERVAL, description="production exponent"
    )

    def rate_above_one(self, x):
        return self.production * x**self.exponent - self.loss * x


class PowerGrowth(AbstractGrowth):
    """Power-law growth `dx/dt = coefficient * x**exponent`.

    Hart, Shochat & Agur, Br J Cancer 1998; 78:382; Benzekry et al., PLoS Comput Biol 2014.
    Closed form for `exponent < 1`:
    `x(t) = (x0**(1-exponent) + (1-exponent) coefficient t)**(1/(1-exponent))`.

    **Arguments:**

    - `coefficient`: growth coefficient in cells**(1-exponent)/day (>= 0).
    - `exponent`: growth exponent in (0, 1], dimensionless (1 is exponential growth).
    """

    coefficient: Float[ArrayLike, ""] = parameter(
        units="cells**(1-exponent)/day",
        domain=Domain.NONNEGATIVE,
        description="power-law growth coefficient",
    )
    exponent: Float[ArrayLike, ""] = parameter(
        units="1", domain=Domain.HALF_OPEN_UNIT_INTERVAL, description="power-law growth exponent"
    )

    def rate_above_one(self, x):
        return self.coefficient * x**self.exponent
