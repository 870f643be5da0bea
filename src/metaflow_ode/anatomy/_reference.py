"""The whole-body reference model: anatomy data -> organs, carriers and transfers."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._emission import PowerLaw
from .._failure import Failure
from .._fluid import Fluid
from .._growth import Gompertz
from .._model import Carrier, Model, Organ, Transfer
from .._route_kinds import (
    Haematogenous,
    IntraCavity,
    Lymphatic,
    PerContinuitatem,
)
from ._cns import cns_routes
from ._data import _presets, _soil_table, organ_table
from ._failures import default_failure

__all__ = [
    "PRIMARIES",
    "SITES",
    "Physiology",
    "Preset",
    "preset",
    "reference_model",
    "soil_factors",
]

MINUTES_PER_DAY = 1440.0
#: Cells in one reference cubic centimetre of tumour, for the doubling-time definition.
REFERENCE_CELLS = 1e9

PRIMARIES = ("breast", "colorectal", "lung", "prostate", "melanoma", "pancreas", "ovary")
"""Names of the primary-specific presets of `anatomy.reference_model`."""

MEYERS_SITES = (
    "pouch_of_douglas",
    "right_lower_quadrant",
    "sigmoid_mesocolon",
    "right_paracolic_gutter",
    "greater_omentum",
    "right_subphrenic",
)
"""Pooling sites of peritoneal fluid (Meyers, Am J Roentgenol 1973; 119:198): where free cells
implant (`reference_model(peritoneum="meyers")` makes each an organ). Fluid is resorbed at the
greater omentum and the right subphrenic space, so tumour there obstructs drainage."""

SITES = {
    "bone": ("bone_axial", "bone_appendicular", "bone_marrow"),
    "peritoneum": ("peritoneum", *MEYERS_SITES),
}
"""Autopsy sites made of several compartments (a site not listed is the organ of its name;
compartments a model lacks are skipped)."""

# Contiguity and cavity routes of the metastases in each organ: (source, target, share of the
# organ's shed cells). Assumptions from anatomy: lesions at a serosal surface shed into the
# cavity or grow into the neighbouring membrane; brain lesions shed into the CSF.
# Brain lesions shed into the CSF and meninges along the CNS routes (`cns_routes`).
_CONTIGUITY = (
    ("lung", "pleura", 0.05),
    ("lung", "pericardium", 0.01),
    ("pleura", "pleural_fluid", 0.05),
    ("pericardium", "pericardial_fluid", 0.05),
    ("liver", "peritoneal_fluid", 0.02),
    ("stomach_bowel", "peritoneal_fluid", 0.05),
    ("pancreas", "peritoneal_fluid", 0.05),
    ("ovary", "peritoneal_fluid", 0.5),
)


@dataclasses.dataclass(frozen=True)
class Physiology:
    """Transit and arrest parameters of the reference model, with their sources.

    Every default is either a reference value (cited) or an assumption (stated as such);
    override any of them: `reference_model("breast", physiology=Physiology(capillary_arrest=0.5))`.

    **Arguments:**

    - `cardiac_output`: L/min by sex; ICRP 89 Table 2.39 (5.9 female, 6.5 male).
    - `blood_volume`: L by sex; ICRP 89 (3.9 female, 5.3 male).
    - `venous_blood_share`, `arterial_blood_share`: shares of the blood volume in the systemic
      veins (0.595) and arteries (0.16); ICRP 89 Table 2.13 (small and large veins 41.5 + 18 %,
      aorta, large and small arteries 6 + 10 %).
    - `portal_blood_share`: share of the blood volume in the portal veins; assumption 0.05.
    - `capillary_arrest`: share of the tumour cells reaching a capillary bed that arrest there
      on one pass (1); assumption 0.8: most cells, larger than capillaries, arrest in the first
      bed they meet (Chambers, Groom & MacDonald, Nat Rev Cancer 2002; 2:563; Luzzi et al., Am J
      Pathol 1998; 153:865).
    - `bed_arrest`: per-bed overrides of `capillary_arrest`, `{organ: share}` (e.g.
      `{"liver": 0.9}` for the sinusoids of the liver, portal and arterial inflow alike).
    - `node_arrest`: share of lymph-borne cells retained in the regional nodes (1); assumption.
    - `blood_half_life`: half-life (days) of a tumour cell in the blood against death in
      transit: survival 5e-4 over 2 h (Franssen, Lorenzi, Burgess & Chaplain, Bull Math Biol
      2019) gives `(2 h) ln 2 / ln(1 / 5e-4)`, about 11 minutes.
    - `lymph_half_life`: half-life (days) in lymph; assumption 1 day.
    - `lymph_transit`, `thoracic_duct_transit`: mean transit times (days) from the basin to its
      nodes and through the thoracic duct to the veins; assumption 1 h each.
    - `batson_transit`: mean transit time (days) through the vertebral venous plexus;
      assumption 1 minute.
    - `cavity_half_life`: half-life (days) of a free cell in the peritoneal fluid or CSF
      against death or resorption; assumption 1 day.
    - `implantation_time`: mean time (days) for a free cell in a cavity to reach the serosa or
      leptomeninges; assumption 1 day.
    - `csf_volume`, `csf_production`: mL and mL/day; 150 mL and 500 mL/day (CSF physiology
      reviews, e.g. Sakka, Coll & Chazal, Eur Ann Otorhinolaryngol 2011; 128:309: CSF turns
      over 3-4 times a day into the venous blood).
    - `ventricular_csf_volume`: mL of CSF in the ventricles; 25 mL (same source).
    - `csf_obstruction`: leptomeningeal tumour cells that halve CSF absorption (hydrocephalus
      by outflow obstruction); assumption 1e10 cells (10 mL of tumour).
    - `choroid_plexus_flow`: share of cardiac output perfusing the choroid plexus, carved out
      of the brain's share; assumption 0.15 % (about 9 mL/min).
    - `choroid_plexus_crossing_time`, `choroid_plexus_half_life`: mean time (days) for an
      arrested cell to cross the blood-CSF barrier, and its half-life before; assumptions
      30 days and 1 day (about 2 % cross).
    - `brain_to_csf`, `brain_to_meninges`, `brain_intra_organ`: shares of the cells shed by
      brain metastases entering the CSF, invading the meninges, and seeding new lesions in the
      brain; assumptions 0.05, 0.01, 0.02.
    - `marrow_perineural`, `marrow_emissary_csf`, `marrow_emissary_meninges`,
      `orbit_perineural`: shares of the cells shed by skull and vertebral marrow metastases
      (and by orbital ones) entering the spinal nerve sheaths, the emissary perivascular
      spaces towards the CSF and towards the meninges (and the optic nerve sheath);
      assumptions 0.005 each.
    - `spinal_nerve_length`, `emissary_length`, `optic_nerve_length`: conduit lengths in mm;
      assumptions 30 mm (foramen to the subarachnoid space of a spinal root), 10 mm (through
      skull or vertebral cortex and dura), 45 mm (optic nerve, orbit to chiasm; anatomy texts
      give 45-50 mm).
    - `perineural_speed`, `perivascular_speed`: mm/day along nerve sheaths and perivascular
      spaces; assumptions 1 mm/day each.
    - `conduit_stages`, `conduit_half_life`: carriers per conduit delay chain (an integer) and
      half-life (days) of a cell in a conduit; assumptions 2 and 10 days.
    - `peritoneal_fluid_volume`, `peritoneal_fluid_production`: 50 mL (a normal peritoneal
      cavity holds under 100 mL; ascites is over 100 mL, REFERENCES) and 50 mL/day
      (assumption: turnover once a day).
    - `pleural_fluid_volume`, `pleural_fluid_production`: 18 mL, both sides (0.26 mL/kg times
      70 kg; Noppen et al., Am J Respir Crit Care Med 2000; 162:1023) and 18 mL/day
      (assumption: turnover once a day).
    - `pericardial_fluid_volume`, `pericardial_fluid_production`: 30 mL (normal under 50 mL,
      REFERENCES) and 30 mL/day (assumption).
    - `serosal_secretion`: extra cavity fluid per serosal tumour cell, mL/(day cell);
      assumption 4e-9 (1e11 cells, 100 mL of implants, make 400 mL/day, the order of
      re-accumulation between paracenteses).
    - `serosal_obstruction`: tumour cells at the drainage sites that halve lymphatic drainage
      of a serous cavity; assumption 1e10.
    - `meyers_pooling`: with `reference_model(peritoneum="meyers")`, the shares of free
      peritoneal cells implanting at each pooling site of Meyers (Am J Roentgenol 1973;
      119:198; the order follows his descriptions, the numbers are assumptions), the rest on
      the diffuse `peritoneum`.
    - `meyers_volume`: share of the peritoneal serosa (volume and blood flow) at each pooling
      site; assumption 0.08 each, the rest diffuse.
    - `cell_density`: cells per mL of tumour; 1e9 (Del Monte, Cell Cycle 2009; 8:505).
    - `lethal_burden`: whole-body lethal burden in cells; 1e12 (Coumans, Siesling & Terstappen,
      BMC Cancer 2013; 13:283).
    """

    cardiac_output: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"female": 5.9, "male": 6.5}
    )
    blood_volume: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"female": 3.9, "male": 5.3}
    )
    venous_blood_share: float = 0.595
    arterial_blood_share: float = 0.16
    portal_blood_share: float = 0.05
    capillary_arrest: float = 0.8
    bed_arrest: Mapping[str, float] = dataclasses.field(default_factory=dict)
    node_arrest: float = 0.5
    blood_half_life: float = (2.0 / 24.0) * math.log(2.0) / math.log(1.0 / 5e-4)
    lymph_half_life: float = 1.0
    lymph_transit: float = 1.0 / 24.0
    thoracic_duct_transit: float = 1.0 / 24.0
    batson_transit: float = 1.0 / MINUTES_PER_DAY
    cavity_half_life: float = 1.0
    implantation_time: float = 1.0
    csf_volume: float = 150.0
    csf_production: float = 500.0
    ventricular_csf_volume: float = 25.0
    csf_obstruction: float = 1e10
    choroid_plexus_flow: float = 0.0015
    choroid_plexus_crossing_time: float = 30.0
    choroid_plexus_half_life: float = 1.0
    brain_to_csf: float = 0.05
    brain_to_meninges: float = 0.01
    brain_intra_organ: float = 0.02
    marrow_perineural: float = 0.005
    marrow_emissary_csf: float = 0.005
    marrow_emissary_meninges: float = 0.005
    orbit_perineural: float = 0.005
    spinal_nerve_length: float = 30.0
    emissary_length: float = 10.0
    optic_nerve_length: float = 45.0
    perineural_speed: float = 1.0
    perivascular_speed: float = 1.0
    conduit_stages: int = 2
    conduit_half_life: float = 10.0
    peritoneal_fluid_volume: float = 50.0
    peritoneal_fluid_production: float = 50.0
    pleural_fluid_volume: float = 18.0
    pleural_fluid_production: float = 18.0
    pericardial_fluid_volume: float = 30.0
    pericardial_fluid_production: float = 30.0
    serosal_secretion: float = 4e-9
    serosal_obstruction: float = 1e10
    meyers_pooling: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {
            "pouch_of_douglas": 0.25,
            "right_lower_quadrant": 0.15,
            "sigmoid_mesocolon": 0.12,
            "right_paracolic_gutter": 0.12,
            "greater_omentum": 0.12,
            "right_subphrenic": 0.12,
        }
    )
    meyers_volume: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(MEYERS_SITES, 0.08)
    )
    cell_density: float = 1e9
    lethal_burden: float = 1e12

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            values = value.values() if isinstance(value, Mapping) else [value]
            for v in values:
                if (
                    isinstance(v, bool)
                    or not isinstance(v, (int, float))
                    or not math.isfinite(v)
                    or v <= 0
                ):
                    raise ValueError(
                        f"`Physiology({field.name}=...)` must be a finite number > 0, got {v!r}."
                    )
        for name in ("cardiac_output", "blood_volume"):
            missing = {"female", "male"} - set(getattr(self, name))
            if missing:
                raise ValueError(
                    f"`Physiology({name}=...)` needs values for 'female' and 'male'; missing "
                    f"{sorted(missing)}."
                )
        for name in ("venous_blood_share", "arterial_blood_share", "portal_blood_share"):
            if getattr(self, name) >= 1:
                raise ValueError(f"`Physiology({name}=...)` must be a share below 1.")
        if isinstance(self.conduit_stages, bool) or not isinstance(self.conduit_stages, int):
            raise ValueError("`Physiology(conduit_stages=...)` must be a positive integer.")
        for name in ("meyers_pooling", "meyers_volume"):
            shares = getattr(self, name)
            if set(shares) != set(MEYERS_SITES) or sum(shares.values()) >= 1:
                raise ValueError(
                    f"`Physiology({name}=...)` needs a share for each of {MEYERS_SITES}, "
                    "summing to below 1 (the rest is the diffuse peritoneum)."
                )
        shares = (
            "choroid_plexus_flow",
            "brain_to_csf",
            "brain_to_meninges",
            "brain_intra_organ",
            "marrow_perineural",
            "marrow_emissary_csf",
            "marrow_emissary_meninges",
            "orbit_perineural",
        )
        for name in shares:
            if getattr(self, name) >= 1:
                raise ValueError(f"`Physiology({name}=...)` must be a share below 1.")
        for name in ("capillary_arrest", "node_arrest"):
            if getattr(self, name) > 1:
                raise ValueError(f"`Physiology({name}=...)` must be a share in (0, 1].")
        for bed, value in self.bed_arrest.items():
            if value > 1:
                raise ValueError(
                    f"`Physiology(bed_arrest=...)`: the share of {bed!r} must be in (0, 1]."
                )

    def arrest(self, bed: str) -> float:
        """Share of the cells reaching the capillary bed of organ `bed` that arrest there."""
        return self.bed_arrest.get(bed, self.capillary_arrest)


@dataclasses.dataclass(frozen=True)
class Preset:
    """The primary-specific part of a reference model (read from `anatomy/data/presets.toml`).

    **Attributes:** `primary` (preset name), `organ` (organ holding the primary tumour), `sex`,
    `lymph` (share of shed cells entering the lymphatic basin), `contiguity` (shares sent by
    contiguity or into a cavity, by target), `drainage` (split of the blood-borne share between
    `caval`, `portal`, `batson` and `pulmonary` venous drainage), `doubling_time` (days, volume
    doubling of the primary at 1e9 cells), `capacity` (cells, Gompertz capacity of the
    primary), `shedding` (cells shed per day at 1e9 cells), `exponent` (emission exponent),
    `autopsy` (share of autopsied patients with metastases in each site) and `autopsy_source`.
    """

    primary: str
    organ: str
    sex: str
    lymph: float
    contiguity: Mapping[str, float]
    drainage: Mapping[str, float]
    doubling_time: float
    capacity: float
    shedding: float
    exponent: float
    autopsy: Mapping[str, float]
    autopsy_source: str

    @property
    def growth_rate(self) -> float:
        """Gompertz rate (1/day) giving `doubling_time` at 1e9 cells: `ln 2 / (Td ln(K/1e9))`."""
        return math.log(2.0) / (self.doubling_time * math.log(self.capacity / REFERENCE_CELLS))

    @property
    def emission(self) -> PowerLaw:
        """Emission law `m x**exponent` with `m` such that 1e9 cells shed `shedding` per day."""
        return PowerLaw(
            coefficient=self.shedding / REFERENCE_CELLS**self.exponent, exponent=self.exponent
        )


def _check_primary(primary: str) -> None:
    if primary not in PRIMARIES:
        raise ValueError(
            f"`reference_model(primary=...)` must be one of {', '.join(PRIMARIES)}; got "
            f"{primary!r}."
        )


def preset(primary: str) -> Preset:
    """The [`Preset`][metaflow_ode.anatomy.Preset] of `primary` (one of `PRIMARIES`)."""
    _check_primary(primary)
    raw = dict(_presets()[primary])
    return Preset(primary=primary, **raw)


def soil_factors(primary: str) -> tuple[float, dict[str, float]]:
    """The calibrated seed efficiency and soil factors of a preset.

    Written by `scripts/calibrate_soil.py` (see docs/anatomy.md): the seed efficiency (colonies
    founded per arrested cell, before the soil factor) is fitted with uniform soil, then the
    soil factors of the autopsy sites are fitted so that the simulated involvement at death
    matches the autopsy frequencies.

    **Returns:** `(seed, {organ: soil})`; organs not listed have soil 1.
    """
    _check_primary(primary)
    table = _soil_table()
    rows = table[table["primary"] == primary]
    if rows.empty:
        raise ValueError(
            f"No calibrated soil factors for {primary!r}; run scripts/calibrate_soil.py or "
            "pass `soil=` and `seed=` to `reference_model`."
        )
    seed = float(rows.loc[rows["organ"] == "(seed)", "value"].iloc[0])
    soil = {str(r.organ): float(r.value) for r in rows.itertuples() if r.organ != "(seed)"}
    return seed, soil


def reference_model(
    primary: str = "breast",
    *,
    soil: str | Mapping[str, float] = "calibrated",
    seed: float | None = None,
    physiology: Physiology | None = None,
    sex: str | None = None,
    failure: Mapping[str, Failure | None] | None = None,
    peritoneum: str = "lumped",
) -> Model:
    """The whole-body physiological reference model for a primary tumour.

    Organs are the modelled rows of [`organ_table`][metaflow_ode.anatomy.organ_table] for the
    preset's reference sex, with volumes from ICRP 89. Blood-borne cells follow the anatomy:
    caval venous blood passes the lung capillaries first (a share `capillary_arrest` arrests,
    founding lung colonies; the rest reaches the arterial blood); arterial blood is split by
    each organ's share of cardiac output, and in each bed a share `capillary_arrest` arrests
    while the rest returns with the organ's venous drainage (portal for stomach and bowel,
    spleen and pancreas; caval otherwise); portal blood passes the liver first; the vertebral
    (Batson) plexus takes the preset's Batson share to the axial skeleton; lymph goes from the
    primary's basin to the regional nodes, then by the thoracic duct to the caval blood.
    Peritoneal, pleural and pericardial fluid carry cells between serosal surfaces, and each
    has a [`Fluid`][metaflow_ode.Fluid] volume raised by serosal tumour and by obstructed
    drainage (ascites, effusion, tamponade). The CSF and every route into and within the CNS
    come from [`cns_routes`][metaflow_ode.anatomy.cns_routes] (choroid plexus, brain lesions
    into CSF and meninges and back into the brain, perineural and perivascular conduits from
    skull and vertebral marrow). Cells arrested in tissues not modelled as organs (adipose,
    heart, ...) count as cleared. Organs fail by
    [`default_failure`][metaflow_ode.anatomy.default_failure] (docs/failure.md).

    Arrested cells found colonies with efficiency `seed * soil[organ]`: `seed` is the
    preset's overall colonisation efficiency, `soil` the organ's seed-and-soil factor.

    **Arguments:**

    - `primary`: one of [`PRIMARIES`][metaflow_ode.anatomy.PRIMARIES].
    - `soil`: `"calibrated"` (default: factors fitted to autopsy frequencies, see
      [`soil_factors`][metaflow_ode.anatomy.soil_factors]), `"uniform"` (every factor 1: blood
      flow alone), or a mapping `{organ: factor}` (dimensionless, >= 0; organs not named get 1;
      the autopsy site `"bone"` stands for all bone compartments).
    - `seed`: overall colonisation efficiency (colonies per arrested cell, in (0, 1]); default
      the calibrated value of the preset.
    - `physiology`: a [`Physiology`][metaflow_ode.anatomy.Physiology]; default reference values.
    - `sex`: `"female"` or `"male"`; default the preset's.
    - `failure`: per-organ overrides of the default failure criteria, `{organ: Failure}`
      (`None` removes an organ's criteria).
    - `peritoneum`: `"lumped"` (default: one peritoneal organ) or `"meyers"`: the peritoneum
      plus the pooling sites of Meyers (`MEYERS_SITES`) as organs, with free peritoneal cells
      implanting by `Physiology.meyers_pooling` and drainage obstructed by tumour at the
      resorption sites (greater omentum, right subphrenic space).

    **Returns:** a [`Model`][metaflow_ode.Model]; parameter paths name the transfers, e.g.
    `"arterial_blood->brain.efficiency"`.
    """
    p = preset(primary)
    phys = Physiology() if physiology is None else physiology
    if not isinstance(phys, Physiology):
        raise TypeError("`reference_model(physiology=...)` must be an `anatomy.Physiology`.")
    sex = p.sex if sex is None else sex
    if sex not in ("female", "male"):
        raise ValueError(
            f"`reference_model(sex=...)` must be 'female' or 'male' (or None for the preset's), "
            f"got {sex!r}."
        )
    table = organ_table(sex)
    if p.organ not in table.index:
        raise ValueError(
            f"`reference_model({primary!r}, sex={sex!r})`: the {sex} reference anatomy has no "
            f"{p.organ!r}."
        )
    if peritoneum not in ("lumped", "meyers"):
        raise ValueError(
            f"`reference_model(peritoneum=...)` must be 'lumped' or 'meyers', got {peritoneum!r}."
        )
    soil_map, seed = _resolve_soil(primary, soil, seed)
    organs_table = table[table["modelled"]]
    if peritoneum == "meyers":
        organs_table = _meyers_table(organs_table, phys)
    names = list(organs_table.index)
    failure = {} if failure is None else dict(failure)
    unknown = sorted(set(failure) - set(names))
    if unknown:
        raise ValueError(
            f"`reference_model(failure=...)`: {unknown} are not organs of the model; use "
            f"{', '.join(names)}."
        )
    for organ, value in failure.items():
        if value is not None and not isinstance(value, Failure):
            raise TypeError(
                f"`reference_model(failure=...)`: the value for {organ!r} must be an "
                "`mfo.Failure` or None."
            )
    beds = sorted(set(phys.bed_arrest) - set(names))
    if beds:
        raise ValueError(
            f"`Physiology(bed_arrest=...)`: {beds} are not organs of the {sex} reference model."
        )
    site_parts = {o for parts in SITES.values() for o in parts}
    soil_map = {o: v for o, v in soil_map.items() if o in names or o not in site_parts}
    unknown = sorted(set(soil_map) - set(names))
    if unknown:
        raise ValueError(
            f"`reference_model(soil=...)`: {unknown} are not organs of the {sex} reference "
            f"model; use organ names ({', '.join(names)}) or the site 'bone'."
        )

    def efficiency(organ: str) -> float:
        value = seed * soil_map.get(organ, 1.0)
        if value > 1:
            raise ValueError(
                f"`reference_model`: colonisation efficiency seed * soil = {value:.3g} of "
                f"{organ!r} exceeds 1; lower `seed` or the soil factor."
            )
        return value

    rate = p.growth_rate
    emission = p.emission
    density = phys.cell_density

    def failure_of(name: str) -> Failure | None:
        return failure[name] if name in failure else default_failure(name)

    organs = []
    for name, row in organs_table.iterrows():
        volume = float(row["volume_ml"])
        metastasis = Gompertz(rate=rate, capacity=volume * density)
        if name == p.organ:
            organs.append(
                Organ(
                    name,
                    Gompertz(rate=rate, capacity=p.capacity),
                    emission,
                    primary=True,
                    volume=volume,
                    failure=failure_of(name),
                    metastasis_growth=metastasis,
                )
            )
        else:
            organs.append(
                Organ(name, metastasis, emission, volume=volume, failure=failure_of(name))
            )

    # --- carriers ---------------------------------------------------------------------------
    co = phys.cardiac_output[sex] * 1000.0 * MINUTES_PER_DAY  # mL/day
    blood = phys.blood_volume[sex] * 1000.0  # mL
    v_caval = phys.venous_blood_share * blood
    v_arterial = phys.arterial_blood_share * blood
    v_portal = phys.portal_blood_share * blood
    share = table["cardiac_output_share"]
    portal_beds = [n for n in table.index if table.loc[n, "drainage"] == "portal"]
    q_portal = float(share[portal_beds].sum()) * co
    arrest = phys.arrest
    k_caval, k_arterial, k_portal = co / v_caval, co / v_arterial, q_portal / v_portal

    # --- CNS: CSF, choroid plexus, brain and marrow routes ----------------------------------------
    cns_carriers, cns_transfers, cns_shares = cns_routes(
        phys,
        arterial_rate=k_arterial * phys.choroid_plexus_flow * phys.capillary_arrest,
        efficiency={o: efficiency(o) for o in ("brain", "leptomeninges")},
    )
    routes = _emission_routes(p, organs_table, cns_shares)
    used = {target for targets in routes.values() for target in targets}
    H, L = Haematogenous, Lymphatic
    transfers: list[Transfer] = []
    for source, targets in routes.items():
        for target, (kind, fraction) in targets.items():
            eff = efficiency(target) if target in names else None
            transfers.append(Transfer(source, target, kind=kind, fraction=fraction, efficiency=eff))

    blood_clearance = math.log(2.0) / phys.blood_half_life
    unmodelled = float(share[~table["modelled"]].sum())
    carriers = [
        Carrier("caval_blood", H, clearance=blood_clearance, volume=v_caval),
        # cells arrested in unmodelled tissues die there: counted as arterial clearance
        Carrier(
            "arterial_blood",
            H,
            clearance=blood_clearance + k_arterial * unmodelled * phys.capillary_arrest,
            volume=v_arterial,
        ),
        Carrier("portal_blood", H, clearance=blood_clearance, volume=v_portal),
    ]
    transfers += [
        Transfer(
            "caval_blood",
            "lung",
            kind=H,
            rate=k_caval * arrest("lung"),
            efficiency=efficiency("lung"),
        ),
        Transfer("caval_blood", "arterial_blood", kind=H, rate=k_caval * (1 - arrest("lung"))),
        Transfer(
            "portal_blood",
            "liver",
            kind=H,
            rate=k_portal * arrest("liver"),
            efficiency=efficiency("liver"),
        ),
        Transfer("portal_blood", "caval_blood", kind=H, rate=k_portal * (1 - arrest("liver"))),
    ]
    to_caval = k_arterial * (unmodelled + phys.choroid_plexus_flow) * (1 - phys.capillary_arrest)
    to_portal = 0.0
    for name in names:
        q = float(organs_table.loc[name, "cardiac_output_share"])
        if name == "brain":  # the choroid plexus takes part of the brain's flow
            q -= phys.choroid_plexus_flow
        transfers.append(
            Transfer(
                "arterial_blood",
                name,
                kind=H,
                rate=k_arterial * q * arrest(name),
                efficiency=efficiency(name),
            )
        )
        if organs_table.loc[name, "drainage"] == "portal":
            to_portal += k_arterial * q * (1 - arrest(name))
        else:
            to_caval += k_arterial * q * (1 - arrest(name))
    transfers += [
        Transfer("arterial_blood", "caval_blood", kind=H, rate=to_caval),
        Transfer("arterial_blood", "portal_blood", kind=H, rate=to_portal),
    ]
    if "vertebral_plexus" in used:
        k = 1.0 / phys.batson_transit
        carriers.append(Carrier("vertebral_plexus", H, clearance=blood_clearance))
        transfers += [
            Transfer(
                "vertebral_plexus",
                "bone_axial",
                kind=H,
                rate=k * arrest("bone_axial"),
                efficiency=efficiency("bone_axial"),
            ),
            Transfer(
                "vertebral_plexus", "caval_blood", kind=H, rate=k * (1 - arrest("bone_axial"))
            ),
        ]
    lymph_clearance = math.log(2.0) / phys.lymph_half_life
    if "lymph" in used:
        k = 1.0 / phys.lymph_transit
        carriers.append(Carrier("lymph", L, clearance=lymph_clearance))
        transfers += [
            Transfer(
                "lymph",
                "regional_nodes",
                kind=L,
                rate=k * phys.node_arrest,
                efficiency=efficiency("regional_nodes"),
            ),
            Transfer("lymph", "thoracic_duct", kind=L, rate=k * (1 - phys.node_arrest)),
        ]
    carriers.append(Carrier("thoracic_duct", L, clearance=lymph_clearance))
    transfers.append(
        Transfer("thoracic_duct", "caval_blood", kind=L, rate=1.0 / phys.thoracic_duct_transit)
    )
    cavity_clearance = math.log(2.0) / phys.cavity_half_life
    implant = 1.0 / phys.implantation_time
    peritoneal_organs = [n for n in SITES["peritoneum"] if n in names]
    if peritoneum == "meyers":
        pooling = dict(phys.meyers_pooling)
        pooling["peritoneum"] = 1.0 - sum(pooling.values())
        blocking = ("greater_omentum", "right_subphrenic")
    else:
        pooling = {"peritoneum": 1.0}
        blocking = ("peritoneum",)
    serous = (
        (
            "peritoneal_fluid",
            pooling,
            phys.peritoneal_fluid_volume,
            phys.peritoneal_fluid_production,
            peritoneal_organs,
            blocking,
        ),
        (
            "pleural_fluid",
            {"pleura": 1.0},
            phys.pleural_fluid_volume,
            phys.pleural_fluid_production,
            ["pleura"],
            ("pleura",),
        ),
        (
            "pericardial_fluid",
            {"pericardium": 1.0},
            phys.pericardial_fluid_volume,
            phys.pericardial_fluid_production,
            ["pericardium"],
            ("pericardium",),
        ),
    )
    for cavity, implants, volume, production, lining, blockers in serous:
        fluid = Fluid(
            volume,
            production,
            secretion=phys.serosal_secretion,
            obstruction=phys.serosal_obstruction,
            lining=lining,
            obstructed_by=blockers,
        )
        carriers.append(
            Carrier(cavity, IntraCavity, clearance=cavity_clearance, volume=volume, fluid=fluid)
        )
        for site, share_of in implants.items():
            transfers.append(
                Transfer(
                    cavity,
                    site,
                    kind=IntraCavity,
                    rate=implant * share_of,
                    efficiency=efficiency(site),
                )
            )
    carriers += cns_carriers
    transfers += cns_transfers
    return Model(
        organs,
        carriers,
        transfers,
        cell_density=density,
        lethal_burden=phys.lethal_burden,
        name=f"whole-body reference model, {primary} primary ({sex})",
    )


_VENOUS = {
    "caval": ("caval_blood", Haematogenous),
    "portal": ("portal_blood", Haematogenous),
    "pulmonary": ("arterial_blood", Haematogenous),
    "batson": ("vertebral_plexus", Haematogenous),
    "lymph": ("thoracic_duct", Lymphatic),
    "peritoneal": ("peritoneal_fluid", IntraCavity),
    "csf": ("csf", IntraCavity),
}


def _contiguity_kind(source: str, target: str):
    if target in ("csf", "peritoneal_fluid", "pleural_fluid", "pericardial_fluid"):
        return IntraCavity
    return PerContinuitatem


def _meyers_table(organs_table: pd.DataFrame, phys: Physiology) -> pd.DataFrame:
    """Split the peritoneum row into the diffuse peritoneum and the Meyers pooling sites."""
    table = organs_table.copy()
    whole = table.loc["peritoneum"]
    rows = {}
    for site, fraction in phys.meyers_volume.items():
        row = whole.copy()
        for column in ("volume_ml", "cardiac_output_share"):
            row[column] = whole[column] * fraction
        row["source"] = (
            f"assumption: {fraction:.0%} of the peritoneal serosa, a pooling site of Meyers "
            "(Am J Roentgenol 1973; 119:198)"
        )
        rows[site] = row
    rest = 1.0 - sum(phys.meyers_volume.values())
    for column in ("volume_ml", "cardiac_output_share"):
        table.loc["peritoneum", column] = whole[column] * rest
    return pd.concat([table, pd.DataFrame(rows).T.astype(table.dtypes.to_dict())])


def _emission_routes(
    p: Preset, organs_table: pd.DataFrame, taken: Mapping[str, float]
) -> dict[str, dict]:
    """Where each organ's shed cells go: `{source: {target: (kind, fraction)}}`.

    `taken` maps source organs to the share of their emission already sent by other routes
    (the CNS routes), which their blood share gives up.
    """
    names = set(organs_table.index)
    routes: dict[str, dict] = {}

    def add(source, target, kind, fraction):
        if fraction <= 0 or (target not in names and target not in _CARRIERS):
            return
        old_kind, old = routes[source].get(target, (kind, 0.0))
        routes[source][target] = (old_kind, old + fraction)

    for name in organs_table.index:
        routes[name] = {}
        if name == p.organ:
            contiguity = dict(p.contiguity)
            lymph = p.lymph
            drainage = dict(p.drainage)
        else:
            contiguity = {t: f for s, t, f in _CONTIGUITY if s == name}
            lymph = 0.0
            drainage = {organs_table.loc[name, "drainage"]: 1.0}
        blood = 1.0 - lymph - sum(contiguity.values()) - taken.get(name, 0.0)
        for target, fraction in contiguity.items():
            add(name, target, _contiguity_kind(name, target), fraction)
        if lymph:
            add(name, "lymph", Lymphatic, lymph)
        for route, fraction in drainage.items():
            carrier, kind = _VENOUS[route]
            add(name, carrier, kind, blood * fraction)
    return routes


_CARRIERS = {
    "caval_blood",
    "arterial_blood",
    "portal_blood",
    "vertebral_plexus",
    "lymph",
    "thoracic_duct",
    "peritoneal_fluid",
    "pleural_fluid",
    "pericardial_fluid",
    "csf",
}


def _resolve_soil(primary, soil, seed) -> tuple[dict[str, float], float]:
    if isinstance(soil, str):
        if soil not in ("calibrated", "uniform"):
            raise ValueError(
                f"`reference_model(soil=...)` must be 'calibrated', 'uniform' or a mapping "
                f"{{organ: factor}}, got {soil!r}."
            )
        if soil == "calibrated":
            fitted_seed, soil_map = soil_factors(primary)
        else:
            soil_map = {}
            fitted_seed = soil_factors(primary)[0] if seed is None else seed
    elif isinstance(soil, Mapping):
        soil_map = {}
        for key, value in soil.items():
            if not isinstance(value, (int, float, np.floating)) or not value >= 0:
                raise ValueError(
                    f"`reference_model(soil=...)`: the factor of {key!r} must be a number "
                    f">= 0, got {value!r}."
                )
            for organ in SITES.get(key, (key,)):
                soil_map[organ] = float(value)
        fitted_seed = soil_factors(primary)[0] if seed is None else seed
    else:
        raise TypeError(
            "`reference_model(soil=...)` must be 'calibrated', 'uniform' or a mapping "
            "{organ: factor}."
        )
    seed = fitted_seed if seed is None else seed
    if not isinstance(seed, (int, float, np.floating)) or not 0 < seed <= 1:
        raise ValueError(f"`reference_model(seed=...)` must be a number in (0, 1], got {seed!r}.")
    return soil_map, float(seed)
