"""Fluid-volume state of a body cavity or of the CSF: production, drainage, obstruction."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
from jaxtyping import ArrayLike, Float

from ._params import Domain, check_parameters, is_concrete, parameter

__all__ = ["Fluid"]


def _names(owner: str, argument: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise TypeError(
            f"`{owner}({argument}=...)` must be a name or a list of names of organs or "
            f"carriers, got {value!r}."
        )
    return tuple(value)


class Fluid(eqx.Module):
    """The fluid volume of a cavity carrier (peritoneal, pleural, pericardial fluid, CSF).

    The volume `V` (mL) starts at its baseline `volume` and follows

        dV/dt = production + secretion * S(t) - (production / volume) * V / (1 + B(t) / obstruction)

    Fluid is produced at `production` (mL/day) and drained (lymphatic stomata of the serosa,
    arachnoid granulations of the CSF) at a rate that balances production at the baseline
    volume. Tumour on the serosa lining the cavity (`S`: cells in the `lining` organs) raises
    production by `secretion` per cell (leaky tumour vessels, VEGF); tumour where the fluid
    drains (`B`: cells in the `obstructed_by` organs and carriers) blocks drainage, halving it
    at `obstruction` cells. These are the two mechanisms of malignant ascites and effusions
    (Kipps, Tan & Kaye, Nat Rev Cancer 2013; 13:273) and of communicating hydrocephalus in
    leptomeningeal metastasis (Freret & Boire, J Exp Med 2024; 221:e20212121). Ascites,
    effusion, tamponade and hydrocephalus then emerge as crossings of
    `Failure(fluid_volume=..., fluid_rate=...)` on an organ lining the cavity.

    With `S` and `B` constant the volume relaxes exponentially to
    `(production + secretion * S) * volume / production * (1 + B / obstruction)`.

    The fluid volume does not change how tumour cells move: the cells' transfer rates out of
    the carrier are separate parameters (the anatomy model sets them from the same baseline
    production and volume).

    **Arguments:**

    - `volume`: baseline fluid volume in mL (> 0), the initial and steady-state volume.
    - `production`: baseline production (= drainage) in mL/day (> 0).
    - `secretion`: extra production per tumour cell on the lining serosa, mL/(day cell) (>= 0,
      default 0).
    - `obstruction`: cells of obstructing tumour that halve drainage (> 0), or `None` (default)
      for drainage that tumour does not obstruct.
    - `lining`: names of the organs whose tumour burden raises production (e.g. the
      peritoneum); may be empty when `secretion` is 0.
    - `obstructed_by`: names of organs (tumour burden) and carriers (free cells, both origins)
      that obstruct drainage; needed with `obstruction`.
    """

    volume: Float[ArrayLike, ""] = parameter(
        units="mL", domain=Domain.POSITIVE, description="baseline fluid volume"
    )
    production: Float[ArrayLike, ""] = parameter(
        units="mL/day", domain=Domain.POSITIVE, description="baseline fluid production"
    )
    secretion: Float[ArrayLike, ""] = parameter(
        units="mL/(day cell)",
        domain=Domain.NONNEGATIVE,
        description="extra production per tumour cell on the lining serosa",
    )
    obstruction: Float[ArrayLike, ""] | None = parameter(
        units="cells",
        domain=Domain.POSITIVE,
        description="obstructing tumour cells that halve drainage",
        default=None,
    )
    lining: tuple[str, ...] = eqx.field(static=True, default=())
    obstructed_by: tuple[str, ...] = eqx.field(static=True, default=())

    def __init__(
        self,
        volume: float,
        production: float,
        *,
        secretion: float = 0.0,
        obstruction: float | None = None,
        lining: str | Sequence[str] = (),
        obstructed_by: str | Sequence[str] = (),
    ):
        self.volume = volume
        self.production = production
        self.secretion = secretion
        self.obstruction = obstruction
        self.lining = _names("Fluid", "lining", lining)
        self.obstructed_by = _names("Fluid", "obstructed_by", obstructed_by)

    def __check_init__(self):
        check_parameters(self)
        if self.obstruction is not None and not self.obstructed_by:
            raise ValueError(
                "`Fluid(obstruction=...)` needs `obstructed_by=`: the organs or carriers whose "
                "tumour cells block drainage (e.g. `obstructed_by=('leptomeninges',)`)."
            )
        if self.obstructed_by and self.obstruction is None:
            raise ValueError(
                "`Fluid(obstructed_by=...)` needs `obstruction=`: the cells of obstructing "
                "tumour that halve drainage."
            )
        if not self.lining and is_concrete(self.secretion) and float(self.secretion) > 0:
            raise ValueError(
                "`Fluid(secretion=...)` > 0 needs `lining=`: the organs whose tumour burden "
                "raises production (e.g. `lining=('peritoneum',)`)."
            )
