"""The routes into and within the central nervous system, and the CSF as a fluid carrier."""

from __future__ import annotations

import math
from collections.abc import Mapping

from .._fluid import Fluid
from .._model import Carrier, Transfer
from .._resolution.conduits import conduit
from .._route_kinds import (
    BrainToCSF,
    ChoroidPlexus,
    IntraCavity,
    IntraOrgan,
    PerineuralOptic,
    PerineuralSpinal,
    PerivascularEmissary,
)

__all__ = ["cns_routes", "CNS_ROUTES"]

CNS_ROUTES = (
    "choroid_plexus",
    "brain_to_csf",
    "brain_to_meninges",
    "brain_intra_organ",
    "perineural_spinal",
    "emissary_to_csf",
    "emissary_to_meninges",
    "perineural_optic",
)
"""Names of the CNS routes built by [`cns_routes`][metaflow_ode.anatomy.cns_routes]."""


def cns_routes(
    physiology=None,
    *,
    arterial: str | None = "arterial_blood",
    arterial_rate: float | None = None,
    venous: str = "caval_blood",
    brain: str | None = "brain",
    leptomeninges: str = "leptomeninges",
    marrow: str | None = "bone_axial",
    orbit: str | None = None,
    efficiency: Mapping[str, float] | None = None,
) -> tuple[list[Carrier], list[Transfer], dict[str, float]]:
    """Carriers and transfers of the CSF and of every route into and within the CNS.

    - **Choroid plexus:** `arterial` blood -> `choroid_plexus` (cells arrested in the plexus
      stroma, leaving at `arterial_rate` per day) -> `ventricular_csf` (crossing the
      blood-CSF barrier after a mean `choroid_plexus_crossing_time`, dying with
      `choroid_plexus_half_life` before) -> `csf` (the subarachnoid CSF, at the ventricular
      outflow `csf_production / ventricular_csf_volume`).
    - **CSF:** `csf` carries the [`Fluid`][metaflow_ode.Fluid] of the whole CSF (volume,
      production, absorption obstructed by leptomeningeal tumour: hydrocephalus). Free cells
      deposit on the `leptomeninges` after a mean `implantation_time`, leave with the absorbed
      CSF into the `venous` blood at `csf_production / csf_volume` per day, and die with
      `cavity_half_life`.
    - **From brain lesions** (`brain`): shares of their shed cells into the CSF
      (`brain_to_csf`), into the meninges (`brain_to_meninges`), and back into the brain as
      new lesions (`brain_intra_organ`, secondary intra-organ spread).
    - **From skull and vertebral marrow** (`marrow`): perineural along the spinal nerve roots
      into the CSF (a conduit of `spinal_nerve_length` at `perineural_speed`), perivascular
      along emissary vessels into the CSF and into the meninges (conduits of
      `emissary_length` at `perivascular_speed`).
    - **From the orbit** (`orbit`, optional): perineural along the optic nerve into the CSF
      (`optic_nerve_length`).

    Conduits are delay chains of `conduit_stages` carriers (see
    [`conduit`][metaflow_ode.conduit]); their cells die with `conduit_half_life`. All numbers
    are fields of [`Physiology`][metaflow_ode.anatomy.Physiology], with their sources.

    **Arguments:**

    - `physiology`: a `Physiology` (default reference values).
    - `arterial`: name of the arterial blood carrier, or `None` for no choroid-plexus route.
    - `arterial_rate`: rate (1/day) at which arterial cells arrest in the choroid plexus;
      needed with `arterial`.
    - `venous`: carrier receiving the absorbed CSF.
    - `brain`, `leptomeninges`, `marrow`, `orbit`: organ names (`None` leaves a route out).
    - `efficiency`: colonisation efficiency per target organ (default 1).

    **Returns:** `(carriers, transfers, shares)`: `shares` maps each source organ to the share
    of its emission these routes take (to reduce its other routes so the shares sum to <= 1).
    """
    from ._reference import Physiology

    p = Physiology() if physiology is None else physiology
    if not isinstance(p, Physiology):
        raise TypeError("`cns_routes(physiology=...)` must be an `anatomy.Physiology`.")
    if arterial is not None and (arterial_rate is None or not arterial_rate > 0):
        raise ValueError(
            "`cns_routes(arterial_rate=...)` must be a rate > 0 (1/day): the arterial cells "
            "arresting in the choroid plexus. Pass `arterial=None` to leave the route out."
        )
    eff = {} if efficiency is None else dict(efficiency)

    def efficiency_of(organ: str) -> float:
        return eff.get(organ, 1.0)

    cavity_clearance = math.log(2.0) / p.cavity_half_life
    carriers = [
        Carrier(
            "csf",
            IntraCavity,
            clearance=cavity_clearance,
            volume=p.csf_volume,
            fluid=Fluid(
                p.csf_volume,
                p.csf_production,
                obstruction=p.csf_obstruction,
                lining=(leptomeninges,),
                obstructed_by=(leptomeninges,),
            ),
        )
    ]
    transfers = [
        Transfer(
            "csf",
            leptomeninges,
            kind=IntraCavity,
            rate=1.0 / p.implantation_time,
            efficiency=efficiency_of(leptomeninges),
        ),
        Transfer("csf", venous, kind=IntraCavity, rate=p.csf_production / p.csf_volume),
    ]
    shares: dict[str, float] = {}
    if arterial is not None:
        carriers += [
            Carrier("choroid_plexus", ChoroidPlexus, half_life=p.choroid_plexus_half_life),
            Carrier(
                "ventricular_csf",
                IntraCavity,
                clearance=cavity_clearance,
                volume=p.ventricular_csf_volume,
            ),
        ]
        transfers += [
            Transfer(arterial, "choroid_plexus", kind=ChoroidPlexus, rate=arterial_rate),
            Transfer(
                "choroid_plexus",
                "ventricular_csf",
                kind=ChoroidPlexus,
                rate=1.0 / p.choroid_plexus_crossing_time,
            ),
            Transfer(
                "ventricular_csf",
                "csf",
                kind=IntraCavity,
                rate=p.csf_production / p.ventricular_csf_volume,
            ),
        ]
    if brain is not None:
        transfers += [
            Transfer(brain, "csf", kind=BrainToCSF, fraction=p.brain_to_csf),
            Transfer(
                brain,
                leptomeninges,
                kind=BrainToCSF,
                fraction=p.brain_to_meninges,
                efficiency=efficiency_of(leptomeninges),
            ),
            Transfer(
                brain,
                brain,
                kind=IntraOrgan,
                fraction=p.brain_intra_organ,
                efficiency=efficiency_of(brain),
            ),
        ]
        shares[brain] = p.brain_to_csf + p.brain_to_meninges + p.brain_intra_organ

    def add(name, source, target, kind, length, speed, fraction):
        c, t = conduit(
            name,
            source,
            target,
            kind=kind,
            length=length,
            speed=speed,
            stages=p.conduit_stages,
            half_life=p.conduit_half_life,
            fraction=fraction,
            efficiency=efficiency_of(target) if target == leptomeninges else None,
        )
        carriers.extend(c)
        transfers.extend(t)
        shares[source] = shares.get(source, 0.0) + fraction

    if marrow is not None:
        add(
            "spinal_nerve",
            marrow,
            "csf",
            PerineuralSpinal,
            p.spinal_nerve_length,
            p.perineural_speed,
            p.marrow_perineural,
        )
        add(
            "emissary_csf",
            marrow,
            "csf",
            PerivascularEmissary,
            p.emissary_length,
            p.perivascular_speed,
            p.marrow_emissary_csf,
        )
        add(
            "emissary_meninges",
            marrow,
            leptomeninges,
            PerivascularEmissary,
            p.emissary_length,
            p.perivascular_speed,
            p.marrow_emissary_meninges,
        )
    if orbit is not None:
        add(
            "optic_nerve",
            orbit,
            "csf",
            PerineuralOptic,
            p.optic_nerve_length,
            p.perineural_speed,
            p.orbit_perineural,
        )
    return carriers, transfers, shares
