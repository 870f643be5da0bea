"""Benzekry et al. 2021: high-risk neuroblastoma, exponential growth and dissemination.

Benzekry S, Sentis C, Coze C, Tessonnier L, Andre N. Development and validation of a
prediction model of overall survival in high-risk neuroblastoma using mechanistic modeling of
metastasis. JCO Clin Cancer Inform 2021; 5:81-90.

Primary tumour and metastases grow exponentially from 1 cell at `rate = ln 2 / 2 days` =
0.346574 per day (48 h doubling); the primary emits `mu x` colonies per day, `mu = 1e-3` per
day; metastases do not emit. Cell density 1e6 cells per mm3 (1e9 per mL). A primary of
1.142859e12 cells (an ellipsoid of 146 x 130 x 115 mm) is reached at
`T = ln(S) / rate` = 80.112 days.

Published models keep shed cells in the primary; the library removes them. The primary's
gross growth rate here is therefore `rate + mu`, so that its net growth is the published
`rate`. Organs: `adrenal` (primary) and `distant` (all metastatic sites together).
"""

from __future__ import annotations

import math

from .._emission import PowerLaw
from .._growth import Exponential
from .._model import Model, Organ, Transfer
from .._route_kinds import Haematogenous

RATE = math.log(2.0) / 2.0  # 1/day
MU = 1e-3  # 1/day
CELL_DENSITY = 1e9  # cells/mL


def model() -> Model:
    """The published neuroblastoma model (parameters above)."""
    return Model(
        [
            Organ(
                "adrenal",
                Exponential(rate=RATE + MU),
                PowerLaw(coefficient=MU, exponent=1.0),
                primary=True,
            ),
            Organ("distant", Exponential(rate=RATE)),
        ],
        transfers=[Transfer("adrenal", "distant", kind=Haematogenous)],
        cell_density=CELL_DENSITY,
        lethal_burden=None,
        name="Benzekry2021 neuroblastoma",
    )
