"""Organ failure criteria: burden, replaced fraction, largest lesion, cavity fluid, reserve."""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
from jaxtyping import ArrayLike, Float

from ._params import Domain, check_parameters, parameter

__all__ = ["Failure", "MECHANISMS"]

MECHANISMS = ("burden", "largest_lesion", "fluid_volume", "fluid_rate", "reserve")
"""Failure mechanisms of an organ, each reported separately:

- `burden`: its tumour burden, in cells or as the replaced fraction of the organ;
- `largest_lesion`: the mass effect of its largest lesion (colonies fidelity);
- `fluid_volume`: the volume of a cavity's fluid (ascites, effusion, hydrocephalus);
- `fluid_rate`: the rate of rise of that volume (tamponade);
- `reserve`: the organ's tumour volume plus the fluid's excess over its baseline exhausting a
  fixed reserve (the intracranial reserve of the Monro-Kellie doctrine).
"""

_DEFAULT_LABELS = {
    "burden": "tumour burden",
    "largest_lesion": "mass effect",
    "fluid_volume": "fluid volume",
    "fluid_rate": "rapid fluid accumulation",
    "reserve": "reserve exhausted",
}


class Failure(eqx.Module):
    """Failure criteria of one organ.

    The organ fails at the first crossing of any criterion it is given:

    - its tumour burden reaches `burden` cells, or the fraction of the organ replaced by tumour
      (`burden / (cell_density * volume)`) reaches `replaced_fraction`;
    - its largest lesion reaches `largest_lesion` cells (mass effect);
    - the volume of the cavity fluid `fluid` reaches `fluid_volume` mL (ascites, pleural
      effusion, hydrocephalus), or rises faster than `fluid_rate` mL/day (tamponade);
    - its tumour volume (`burden / cell_density`, mL) plus the excess of the fluid `fluid` over
      its baseline volume reaches `reserve` mL: the fixed intracranial volume of the
      Monro-Kellie doctrine leaves only the displaceable CSF and venous blood as reserve, and
      tumour or extra CSF exhausting it raises intracranial pressure.

    Its function is "threatened" (the warning) at `warning` times each failure level. The
    first failure of an organ with `lethal=True` (the default) is the patient's death
    (`death_time`, `cause_of_death`); set `lethal=False` for a failure that care can bridge
    (an effusion that is drained, a bowel obstruction that is bypassed): it is reported in
    `failure_time` and starts the `organ_failure` stage, and death comes later. Crossing
    times are located by root finding on the solver's dense output, not read off the save grid.

    Few validated thresholds exist. For the liver, failure at about 75-80 % replacement mirrors
    the safe surgical future liver remnant of 20-25 % of a normal liver (Vauthey et al.,
    Surgery 2000; 127:512). `mfo.anatomy.default_failure` documents a default per organ. A
    whole-body lethal burden is set on the [`Model`][metaflow_ode.Model] instead (about 1e12
    cells; Coumans, Siesling & Terstappen, BMC Cancer 2013; 13:283).

    **Arguments:**

    - `burden`: failure level in cells (> 0), or `None`.
    - `replaced_fraction`: failure level as the replaced fraction of the organ, in (0, 1], or
      `None`; needs the organ's `volume`.
    - `largest_lesion`: failure level of the organ's largest lesion in cells, or `None`. Needs
      `resolution=mfo.Colonies(...)`: the lumped fidelity has no lesions.
    - `fluid_volume`: failure level of the fluid volume in mL, or `None`.
    - `fluid_rate`: failure level of the fluid's rate of rise in mL/day, or `None`.
    - `reserve`: reserve volume in mL consumed by tumour volume and excess fluid, or `None`.
    - `fluid`: name of the carrier whose [`Fluid`][metaflow_ode.Fluid] the fluid criteria and
      the reserve read. Default: the one carrier whose fluid is lined by this organ (required
      for `fluid_volume`/`fluid_rate`; without one the reserve counts tumour volume only).
    - `warning`: warning level as a fraction of each failure level, in (0, 1), or `None` for no
      warning. Default 0.5.
    - `labels`: clinical names of the mechanisms of this organ, e.g. `{"burden": "bowel
      obstruction", "fluid_volume": "ascites"}`; reported as `death_condition`. Keys are
      mechanisms (`MECHANISMS`).
    - `lethal`: whether this organ's failure is the patient's death (default `True`).
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
    fluid_volume: Float[ArrayLike, ""] | None = parameter(
        units="mL", domain=Domain.POSITIVE, description="failure fluid volume", default=None
    )
    fluid_rate: Float[ArrayLike, ""] | None = parameter(
        units="mL/day",
        domain=Domain.POSITIVE,
        description="failure rate of rise of the fluid volume",
        default=None,
    )
    reserve: Float[ArrayLike, ""] | None = parameter(
        units="mL",
        domain=Domain.POSITIVE,
        description="reserve volume exhausted by tumour volume and excess fluid",
        default=None,
    )
    warning: Float[ArrayLike, ""] | None = parameter(
        units="1",
        domain=Domain.OPEN_UNIT_INTERVAL,
        description="warning level as a fraction of the failure level",
        default=0.5,
    )
    fluid: str | None = eqx.field(static=True, default=None)
    labels: tuple[tuple[str, str], ...] = eqx.field(static=True, default=())
    lethal: bool = eqx.field(static=True, default=True)

    def __init__(
        self,
        *,
        burden: float | None = None,
        replaced_fraction: float | None = None,
        largest_lesion: float | None = None,
        fluid_volume: float | None = None,
        fluid_rate: float | None = None,
        reserve: float | None = None,
        fluid: str | None = None,
        warning: float | None = 0.5,
        labels: Mapping[str, str] | None = None,
        lethal: bool = True,
    ):
        if not isinstance(lethal, bool):
            raise TypeError(f"`Failure(lethal=...)` must be True or False, got {lethal!r}.")
        if fluid is not None and not isinstance(fluid, str):
            raise TypeError(f"`Failure(fluid=...)` must be a carrier name, got {fluid!r}.")
        labels = {} if labels is None else labels
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise TypeError(
                '`Failure(labels=...)` must map mechanism to name, e.g. {"fluid_volume": '
                '"ascites"}.'
            )
        unknown = sorted(set(labels) - set(MECHANISMS))
        if unknown:
            raise ValueError(
                f"`Failure(labels=...)`: {unknown} are not mechanisms; use {', '.join(MECHANISMS)}."
            )
        self.burden = burden
        self.replaced_fraction = replaced_fraction
        self.largest_lesion = largest_lesion
        self.fluid_volume = fluid_volume
        self.fluid_rate = fluid_rate
        self.reserve = reserve
        self.fluid = fluid
        self.warning = warning
        self.labels = tuple(sorted(labels.items()))
        self.lethal = lethal

    def __check_init__(self):
        if not self.mechanisms:
            raise ValueError(
                "`Failure(...)` needs a criterion: give `burden=` (cells), "
                "`replaced_fraction=` (share of the organ, in (0, 1]), `largest_lesion=` "
                "(cells; mass effect, colonies fidelity), `fluid_volume=` (mL), `fluid_rate=` "
                "(mL/day) and/or `reserve=` (mL)."
            )
        unused = sorted(set(dict(self.labels)) - set(self.mechanisms))
        if unused:
            raise ValueError(
                f"`Failure(labels=...)` names {unused}, which this failure has no criterion for."
            )
        check_parameters(self, optional=("warning",))

    @property
    def mechanisms(self) -> tuple[str, ...]:
        """The mechanisms this failure has a criterion for, in `MECHANISMS` order."""
        present = {
            "burden": self.burden is not None or self.replaced_fraction is not None,
            "largest_lesion": self.largest_lesion is not None,
            "fluid_volume": self.fluid_volume is not None,
            "fluid_rate": self.fluid_rate is not None,
            "reserve": self.reserve is not None,
        }
        return tuple(m for m in MECHANISMS if present[m])

    def label(self, mechanism: str) -> str:
        """The clinical name of `mechanism` for this organ (default: a generic name)."""
        return dict(self.labels).get(mechanism, _DEFAULT_LABELS[mechanism])
