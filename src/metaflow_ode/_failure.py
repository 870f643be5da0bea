"""Organ failure criteria: burden, replaced fraction, largest lesion (mass effect)."""

from __future__ import annotations

import equinox as eqx
from jaxtyping import ArrayLike, Float

from ._params import Domain, check_parameters, parameter

__all__ = ["Failure"]


class Failure(eqx.Module):
    """Failure criteria of one organ.

    The organ fails when its tumour burden reaches `burden` cells, when the fraction of the
    organ replaced by tumour (`burden / (cell_density * volume)`) reaches `replaced_fraction`,
    or when its largest lesion reaches `largest_lesion` cells, whichever comes first. Its
    function is "threatened" (the warning) at `warning` times each failure level. Crossing
    times are located by root finding on the solver's dense output, not read off the save grid.

    Few validated thresholds exist. For the liver, failure at about 75-80 % replacement mirrors
    the safe surgical future liver remnant of 20-25 % of a normal liver (Vauthey et al.,
    Surgery 2000; 127:512). A whole-body lethal burden is set on the [`Model`][] instead
    (about 1e12 cells; Coumans, Siesling & Terstappen, BMC Cancer 2013; 13:283).

    **Arguments:**

    - `burden`: failure level in cells (> 0), or `None`.
    - `replaced_fraction`: failure level as the replaced fraction of the organ, in (0, 1], or
      `None`; needs the organ's `volume`.
    - `largest_lesion`: failure level of the organ's largest lesion in cells (mass effect, e.g.
      a brain metastasis exhausting the intracranial reserve), or `None`. Needs
      `resolution=mfo.Colonies(...)`: the lumped fidelity has no lesions. A separate
      mechanism: `failure_time_by_mechanism` reports each, `failure_time` the first.
    - `warning`: warning level as a fraction of the failure level, in (0, 1), or `None` for no
      warning. Default 0.5.
    """

    burden: Float[ArrayLike, ""] | None = parameter(
        units="cells", domain=Domain.POSITIVE, description="failure burden", default=None
    )
    largest_lesion: Float[ArrayLike, ""] | None = parameter(
        units="cells",
        domain=Domain.POSITIVE,
        description="failure size of the largest lesion (mass effect)",
        default=None,
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
        if self.burden is None and self.replaced_fraction is None and self.largest_lesion is None:
            raise ValueError(
                "`Failure(...)` needs a criterion: give `burden=` (cells), "
                "`replaced_fraction=` (share of the organ, in (0, 1]) and/or `largest_lesion=` "
                "(cells; mass effect, colonies fidelity)."
            )
        check_parameters(self, optional=("warning",))
