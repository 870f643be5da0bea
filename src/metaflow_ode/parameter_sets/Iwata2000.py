"""Iwata, Kawasaki & Shigesada 2000: multiple metastatic tumours of hepatocellular carcinoma.

Iwata K, Kawasaki K, Shigesada N. A dynamical model for the growth and size distribution of
multiple metastatic tumors. J Theor Biol 2000; 203:177-186.

A primary tumour in the liver grows as Gompertz, `g(x) = a x ln(b / x)` with `a = 0.00286`
per day and `b = 7.3e10` cells, from 1 cell. It and every colony emit `beta(x) = m x**alpha`
colonies per day, `m = 5.3e-8` (cells^(1 - alpha)/day), `alpha = 0.663`; colonies are born at
1 cell in the same organ (secondary dissemination inside the liver) and grow like the primary.
Use the size-structured fidelity: `mfo.simulate(model, 2000.0, resolution=mfo.Colonies())`.

The library removes shed cells from the source; at these emission rates (under 1 colony per
day from 1e10 cells) that changes sizes by parts per billion. No whole-body lethal burden is
set: the published model has none.
"""

from __future__ import annotations

from .._emission import PowerLaw
from .._growth import Gompertz
from .._model import Model, Organ, Transfer
from .._route_kinds import IntraOrgan

RATE = 0.00286  # 1/day
CAPACITY = 7.3e10  # cells
COEFFICIENT = 5.3e-8  # cells^(1 - alpha) / day
EXPONENT = 0.663  # 1


def model() -> Model:
    """The published hepatocellular carcinoma model (parameters above)."""
    return Model(
        [
            Organ(
                "liver",
                Gompertz(rate=RATE, capacity=CAPACITY),
                PowerLaw(coefficient=COEFFICIENT, exponent=EXPONENT),
                primary=True,
            )
        ],
        transfers=[Transfer("liver", "liver", kind=IntraOrgan)],
        lethal_burden=None,
        name="Iwata2000 hepatocellular carcinoma",
    )
