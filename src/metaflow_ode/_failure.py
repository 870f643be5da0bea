"""Organ failure criteria (first version: burden and replaced-fraction thresholds)."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import ArrayLike, Float

from ._params import Domain, check_parameters, parameter

__all__ = ["Failure"]


class Failure(eqx.Module):
    """Failure criteria of one organ.

    The organ fails when its tumour burden reaches `burden` cells or when the fraction of the
    organ replaced by tumour (`burden / (cell_density * volume)`) reaches `replaced_fraction`,
    whichever comes first. Its function is "threatened" (the warning) at `warning` times that
    failure level. Crossing times are located by root finding on the solver's dense output, not
    read off the save grid.

    Few validated thresholds exist. For the liver, failure at about 75-80 % replacement mirrors
    the safe surgical future liver remnant of 20-25 % of a normal liver (Vauthey et al.,
    Surgery 2000; 127:512). A whole-body lethal burden is set on the [`Model`][] instead
    (about 1e12 cells; Coumans, Siesling & Terstappen, BMC Cancer 2013; 13:283).

    **Arguments:**

    - `burden`: failure level in cells (> 0), or `None`.
    - `replaced_fraction`: failure level as the replaced fraction of the organ, in (0, 1], or
      `None`; needs the organ's `volume`.
    - `warning`: warning level as a fraction of the failure level, in (0, 1), or `None` for no
      warning. Default 0.5.
    """

    burden: Float[ArrayLike, ""] | None = parameter(
        units="cells", domain=Domain.POSITIVE, description="failure burden", default=None
    )
    replaced_fraction: Float[ArrayLike, ""] | None = parameter(
        units="1",
        domain=Domain.HALF_OPEN_UNIT_INTERVAL,
        description="failure replaced fraction of the organ",
        default=None,
    )
    warning: Float[ArrayLike, ""] | None = parameter(
        units="1",
        domain=Domain.OPEN_UNIT_INTERVAL,
        description="warning level as a fraction of the failure level",
        default=0.5,
    )

    def __check_init__(self):
        if self.burden is None and self.replaced_fraction is None:
            raise ValueError(
                "`Failure(...)` needs a criterion: give `burden=` (cells) and/or "
                "`replaced_fraction=` (share of the organ, in (0, 1])."
            )
        check_parameters(self, optional=("warning",))
