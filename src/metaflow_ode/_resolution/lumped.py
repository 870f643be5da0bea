"""The lumped fidelity: one tumour burden per organ, an ODE."""

from __future__ import annotations

import equinox as eqx

__all__ = ["Lumped"]


class Lumped(eqx.Module):
    """One burden per organ (plus the primary tumour): fast screening, cohorts, fitting.

    An organ's metastases are treated as one tumour that grows with the organ's growth law and
    emits with its emission law applied to the total metastatic burden. For an emission
    exponent below 1 this emits less than the same cells spread over many colonies would; the
    size-structured fidelity resolves that.

    **Arguments:**

    - `eliminate_carriers`: if `True`, carriers are not integrated but eliminated
      quasi-steadily into the exact dissemination matrix (see
      [`dissemination_matrix`][metaflow_ode.dissemination_matrix]); this removes the stiffness
      of fast transit (hours) against slow growth (weeks) and is exact in the limit of fast
      transit. If `False` (default) carrier cells are states of the ODE.
    """

    eliminate_carriers: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if not isinstance(self.eliminate_carriers, bool):
            raise TypeError("`Lumped(eliminate_carriers=...)` must be True or False.")
