"""Dissemination route kinds: the taxonomy of how tumour cells travel.

The taxonomy follows Sparrer et al., Mol Cancer 2025; 24:203 (Figs. 3 and 4): vascular routes
(haematogenous, lymphatic), the alternative non-vascular routes (iatrogenic, intra-cavity,
intraluminal, per continuitatem, perineural, perivascular), secondary spread inside one organ,
and the routes into and within the central nervous system (choroid plexus, perineural along the
optic nerve and the spinal nerves, perivascular along emissary vessels, and secondary spread
from brain lesions into the CSF and the meninges).
"""

from __future__ import annotations

import dataclasses

__all__ = [
    "RouteKind",
    "Haematogenous",
    "Lymphatic",
    "IntraCavity",
    "Intraluminal",
    "PerContinuitatem",
    "Perineural",
    "Perivascular",
    "Iatrogenic",
    "IntraOrgan",
    "ChoroidPlexus",
    "PerineuralOptic",
    "PerineuralSpinal",
    "PerivascularEmissary",
    "BrainToCSF",
    "ROUTE_KINDS",
]


@dataclasses.dataclass(frozen=True)
class RouteKind:
    """A dissemination route kind, e.g. [`Haematogenous`][metaflow_ode.Haematogenous].

    Route kinds are static labels: they decide how fluxes are reported (the `route` dimension
    of every output) and, in later model parts, which physiology applies. Use the module-level
    instances; they compare by value.

    **Attributes:**

    - `name`: identifier used as the `route` coordinate in outputs.
    - `long_name`: human-readable name.
    - `family`: the name of the top-level kind this one refines (its own name for top-level
      kinds), e.g. `"perineural"` for `PerineuralOptic`.
    - `cns`: whether this is one of the routes into or within the central nervous system.
    """

    name: str
    long_name: str
    family: str
    cns: bool = False

    def __repr__(self) -> str:
        return f"RouteKind({self.name!r})"


Haematogenous = RouteKind("haematogenous", "haematogenous (blood-borne)", "haematogenous")
Lymphatic = RouteKind("lymphatic", "lymphatic", "lymphatic")
IntraCavity = RouteKind(
    "intra_cavity", "intra-cavity (peritoneal, pleural, pericardial)", "intra_cavity"
)
Intraluminal = RouteKind(
    "intraluminal", "intraluminal (along a hollow organ's lumen)", "intraluminal"
)
PerContinuitatem = RouteKind(
    "per_continuitatem", "per continuitatem (direct invasion)", "per_continuitatem"
)
Perineural = RouteKind("perineural", "perineural (along nerve sheaths)", "perineural")
Perivascular = RouteKind("perivascular", "perivascular (along vessel walls)", "perivascular")
Iatrogenic = RouteKind("iatrogenic", "iatrogenic (displaced by a procedure)", "iatrogenic")
IntraOrgan = RouteKind("intra_organ", "secondary spread inside one organ", "intra_organ")
ChoroidPlexus = RouteKind(
    "choroid_plexus", "across the blood-CSF barrier at the choroid plexus", "choroid_plexus", True
)
PerineuralOptic = RouteKind(
    "perineural_optic", "perineural along the optic nerve (cranial nerve II)", "perineural", True
)
PerineuralSpinal = RouteKind(
    "perineural_spinal", "perineural along the spinal nerves", "perineural", True
)
PerivascularEmissary = RouteKind(
    "perivascular_emissary",
    "perivascular along emissary vessels from skull or vertebral marrow to the CSF",
    "perivascular",
    True,
)
BrainToCSF = RouteKind(
    "brain_to_csf",
    "secondary spread from brain lesions into the CSF and meninges",
    "brain_to_csf",
    True,
)

#: Every route kind, in the order used for the `route` dimension of outputs.
ROUTE_KINDS: tuple[RouteKind, ...] = (
    Haematogenous,
    Lymphatic,
    IntraCavity,
    Intraluminal,
    PerContinuitatem,
    Perineural,
    Perivascular,
    Iatrogenic,
    IntraOrgan,
    ChoroidPlexus,
    PerineuralOptic,
    PerineuralSpinal,
    PerivascularEmissary,
    BrainToCSF,
)
