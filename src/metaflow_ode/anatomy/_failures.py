"""Default organ-failure criteria of the reference model, each with its source or assumption."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from .._failure import Failure

__all__ = ["FailureDefault", "FAILURE_DEFAULTS", "default_failure", "failure_table"]


@dataclasses.dataclass(frozen=True)
class FailureDefault:
    """One organ's default failure criteria.

    **Attributes:** `organ`; `criteria` (keyword arguments of [`Failure`][metaflow_ode.Failure]:
    cells, shares, mL or mL/day); `fluid` (the carrier whose fluid the criteria read, or
    `None`); `labels` (clinical names per mechanism); `source` (the reference, or the explicit
    assumption, behind each number).
    """

    organ: str
    criteria: Mapping[str, float]
    labels: Mapping[str, str]
    source: str
    fluid: str | None = None

    def failure(self) -> Failure:
        """The [`Failure`][metaflow_ode.Failure] these numbers describe (warning at half)."""
        return Failure(**self.criteria, fluid=self.fluid, labels=self.labels)


FAILURE_DEFAULTS: dict[str, FailureDefault] = {
    d.organ: d
    for d in (
        FailureDefault(
            "liver",
            {"replaced_fraction": 0.75},
            {"burden": "liver failure"},
            "the safe future liver remnant after resection is 20-25 % of a normal liver "
            "(Vauthey et al., Surgery 2000; 127:512): failure at 75 % replaced",
        ),
        FailureDefault(
            "lung",
            {"replaced_fraction": 0.75},
            {"burden": "respiratory failure"},
            "assumption, mirroring the liver (patients survive a pneumonectomy, about 55 % of "
            "the lung); effusion is the pleura's criterion",
        ),
        FailureDefault(
            "bone_marrow",
            {"replaced_fraction": 0.75},
            {"burden": "marrow failure (cytopenia)"},
            "assumption, mirroring the liver: cytopenia when most of the marrow is replaced",
        ),
        FailureDefault(
            "brain",
            {"reserve": 75.0},
            {"reserve": "raised intracranial pressure"},
            "Monro-Kellie: the skull holds brain (about 1.4 kg), blood (50-70 mL) and CSF "
            "(50-120 mL); assumption: about half of the displaceable CSF and venous blood, "
            "75 mL, is the reserve that tumour volume and excess CSF exhaust",
            fluid="csf",
        ),
        FailureDefault(
            "leptomeninges",
            {"fluid_volume": 200.0, "burden": 1e10},
            {"fluid_volume": "hydrocephalus", "burden": "cranial nerve and root infiltration"},
            "assumptions: hydrocephalus when the CSF exceeds its 150 mL by a third; 1e10 cells "
            "(10 mL) of leptomeningeal tumour infiltrate nerves (median survival of "
            "leptomeningeal metastasis about 3 months, Freret & Boire, J Exp Med 2024)",
            fluid="csf",
        ),
        FailureDefault(
            "peritoneum",
            {"fluid_volume": 5000.0, "burden": 2e11},
            {"fluid_volume": "malignant ascites", "burden": "bowel obstruction"},
            "assumptions: ascites is over 100 mL (REFERENCES), tense malignant ascites "
            "several litres (5 L); bowel obstruction at 2e11 cells (200 mL) of diffuse "
            "carcinomatosis",
            fluid="peritoneal_fluid",
        ),
        FailureDefault(
            "right_lower_quadrant",
            {"burden": 3e10},
            {"burden": "small-bowel obstruction"},
            "assumption: 30 mL of implants at the end of the small-bowel mesentery "
            "(Meyers' right lower quadrant pool) obstruct the terminal ileum",
        ),
        FailureDefault(
            "sigmoid_mesocolon",
            {"burden": 3e10},
            {"burden": "large-bowel obstruction"},
            "assumption: 30 mL of implants on the sigmoid mesocolon obstruct the sigmoid colon",
        ),
        FailureDefault(
            "pleura",
            {"fluid_volume": 2000.0},
            {"fluid_volume": "malignant pleural effusion"},
            "assumption: a massive effusion, about 2 L, fills a hemithorax",
            fluid="pleural_fluid",
        ),
        FailureDefault(
            "pericardium",
            {"fluid_volume": 1000.0, "fluid_rate": 100.0},
            {"fluid_volume": "cardiac tamponade", "fluid_rate": "cardiac tamponade"},
            "normal pericardial fluid is under 50 mL and fast accumulation causes tamponade at "
            "small volumes (REFERENCES); assumptions: 1 L accumulating slowly, or a rise "
            "faster than 100 mL/day",
            fluid="pericardial_fluid",
        ),
    )
}
"""Default failure criteria per organ of the reference model (see docs/failure.md)."""


def default_failure(organ: str) -> Failure | None:
    """The default [`Failure`][metaflow_ode.Failure] of a reference-model organ, or `None`.

    Every number and its source is in [`FAILURE_DEFAULTS`][metaflow_ode.anatomy.FAILURE_DEFAULTS]
    (few validated thresholds exist; most are explicit assumptions). Override them with
    `reference_model(..., failure={organ: mfo.Failure(...)})` or by parameter path, e.g.
    `model.with_parameters({"liver.failure.replaced_fraction": 0.8})`.
    """
    default = FAILURE_DEFAULTS.get(organ)
    return None if default is None else default.failure()


def failure_table() -> pd.DataFrame:
    """The default failure criteria as a table: organ, criterion, value, units, label, source."""
    units = {
        "burden": "cells",
        "replaced_fraction": "1",
        "reserve": "mL",
        "fluid_volume": "mL",
        "fluid_rate": "mL/day",
    }
    mechanism = {
        "burden": "burden",
        "replaced_fraction": "burden",
        "reserve": "reserve",
        "fluid_volume": "fluid_volume",
        "fluid_rate": "fluid_rate",
    }
    rows = []
    for d in FAILURE_DEFAULTS.values():
        for criterion, value in d.criteria.items():
            rows.append(
                {
                    "organ": d.organ,
                    "criterion": criterion,
                    "value": value,
                    "units": units[criterion],
                    "fluid": d.fluid or "",
                    "condition": d.labels.get(mechanism[criterion], ""),
                    "source": d.source,
                }
            )
    return pd.DataFrame(rows)
