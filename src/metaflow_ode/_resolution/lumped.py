"""The lumped fidelity: one tumour burden per organ, an ODE."""

from __future__ import annotations

import equinox as eqx

__all__ = ["Lumped"]


class Lumped(eqx.Module):
    """One burden per organ (plus the primary tumour): fast screening, cohorts, fitting.

    An organ's metastases are treated as one tumour that grows with the organ's growth law and
    emits with its emission law applied to the total metastatic burden. For an emission
    exponent below 1 this emits less than the same cells spread over many colonies would; the
    size-structured fidelity resolves that. Seeding arrives as expected numbers of cells, so an
    organ's burden is an expectation: fractions of a cell seeded early grow (at the specific
    rate of a one-cell colony) and can reach a failure threshold before one colony is expected.
    For lesion counts and lesion-level failure use the size-structured fidelity.

    **Arguments:**

    - `eliminate_carriers`: if `True`, carriers are not integrated but eliminated
      quasi-steadily into the exact dissemination matrix (see
      [`dissemination_matrix`][metaflow_ode.dissemination_matrix]); this removes the stiffness
      of fast transit (hours) against slow growth (weeks) and is exact in the limit of fast
      transit. If `False` (default) carrier cells are states of the ODE.
    - `accounting`: if `True`, also integrate the cumulative cells shed, arrived, cleared in
      transit and lost (outputs `cumulative_shed`, `cumulative_arrived`, `cumulative_cleared`,
      `cumulative_lost`), so that every shed cell can be traced. Off by default: it adds four
      states per organ and carrier and origin, which costs time in large cohorts.
    """

    eliminate_carriers: bool = eqx.field(static=True, default=False)
    accounting: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        for name in ("eliminate_carriers", "accounting"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"`Lumped({name}=...)` must be True or False.")
