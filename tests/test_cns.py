"""Every route into and within the CNS, each on a small graph with a hand-calculated answer.

A source organ sheds a constant `E` cells/day (`PowerLaw(E, 0)`); nothing else sheds. With
eliminated carriers every carrier is at its quasi-steady state, so a target organ is colonised
at a constant rate: `E` times the product, along the route, of the probability of taking each
exit of each carrier (`rate / (sum of its exits + clearance)`), times the conduit survival
`(k / (k + c))**stages` and the colonisation efficiency. Colonies after `T` days = rate * T.
"""

import math

import numpy as np
import pytest

import metaflow_ode as mfo
from metaflow_ode import anatomy

E, T = 1e4, 10.0
EFF = {"leptomeninges": 0.3, "brain": 0.2}
P = anatomy.Physiology()
LN2 = math.log(2.0)


def csf_to_meninges(p=P):
    """Probability that a free cell in the subarachnoid CSF implants on the leptomeninges."""
    implant = 1.0 / p.implantation_time
    absorb = p.csf_production / p.csf_volume
    return implant / (implant + absorb + LN2 / p.cavity_half_life)


def conduit_survival(length, speed, p=P):
    k = p.conduit_stages * speed / length
    return (k / (k + LN2 / p.conduit_half_life)) ** p.conduit_stages


def build(source, *, physiology=P, arterial_rate=None, **routes):
    """Organs: the shedding source (primary), brain and leptomeninges; carriers: the CNS
    routes, the venous blood absorbing the CSF, and an arterial carrier when asked for."""
    organs = [
        mfo.Organ(
            n,
            mfo.Exponential(0.0),
            mfo.PowerLaw(E, 0.0) if n == source else None,
            primary=n == source,
            initial=1e12 if n == source else 0.0,
        )
        for n in dict.fromkeys([source, "brain", "leptomeninges"])
    ]
    carriers, transfers, shares = anatomy.cns_routes(
        physiology,
        arterial="arterial_blood" if arterial_rate else None,
        arterial_rate=arterial_rate,
        efficiency=EFF,
        **routes,
    )
    carriers = [*carriers, mfo.Carrier("caval_blood", mfo.Haematogenous, clearance=100.0)]
    if arterial_rate:
        carriers.append(mfo.Carrier("arterial_blood", mfo.Haematogenous, clearance=50.0))
        transfers.append(
            mfo.Transfer(source, "arterial_blood", kind=mfo.Haematogenous, fraction=1.0)
        )
    return mfo.Model(organs, carriers, transfers, lethal_burden=None), shares


def colonisation(model):
    ds = mfo.simulate(
        model,
        T,
        saveat=mfo.at([T]),
        resolution=mfo.Lumped(eliminate_carriers=True),
        rtol=1e-12,
        atol=1e-9,
    )
    # cells from the source's primary tumour (its metastases would shed too)
    rate = ds.seeding_rate.sel(origin="primary").isel(time=-1)
    return ds.colonies.sel(origin="primary").isel(time=-1) / T, rate


def test_choroid_plexus_route_arterial_blood_to_ventricles_to_meninges():
    a = 20.0  # 1/day, arterial cells arresting in the plexus
    model, _ = build("tumour", arterial_rate=a, brain=None, marrow=None)
    colonies, _ = colonisation(model)
    cross = 1 / P.choroid_plexus_crossing_time
    outflow = P.csf_production / P.ventricular_csf_volume
    expected = (
        E
        * a / (a + 50.0)  # arterial blood -> plexus (the carrier's clearance is 50/day)
        * cross / (cross + LN2 / P.choroid_plexus_half_life)  # across the blood-CSF barrier
        * outflow / (outflow + LN2 / P.cavity_half_life)  # ventricular -> subarachnoid CSF
        * csf_to_meninges()
        * EFF["leptomeninges"]
    )  # fmt: skip
    assert float(colonies.sel(organ="leptomeninges")) == pytest.approx(expected, rel=1e-9)
    assert float(colonies.sel(organ="brain")) == 0.0


def test_brain_lesions_seed_csf_meninges_and_the_brain_itself():
    model, shares = build("brain", marrow=None)
    colonies, rate = colonisation(model)
    assert shares["brain"] == pytest.approx(
        P.brain_to_csf + P.brain_to_meninges + P.brain_intra_organ
    )
    meninges = rate.sel(organ="leptomeninges")
    via_csf = E * P.brain_to_csf * csf_to_meninges() * EFF["leptomeninges"]
    direct = E * P.brain_to_meninges * EFF["leptomeninges"]
    assert float(meninges.sel(route="intra_cavity")) == pytest.approx(via_csf, rel=1e-9)
    assert float(meninges.sel(route="brain_to_csf")) == pytest.approx(direct, rel=1e-9)
    assert float(colonies.sel(organ="leptomeninges")) == pytest.approx(via_csf + direct, rel=1e-9)
    # secondary intra-organ spread: new brain lesions from the brain's own shed cells
    intra = E * P.brain_intra_organ * EFF["brain"]
    assert float(rate.sel(organ="brain", route="intra_organ")) == pytest.approx(intra, rel=1e-9)


def test_marrow_perineural_spinal_and_emissary_routes():
    model, shares = build("bone_axial", brain=None, marrow="bone_axial")
    _, rate = colonisation(model)
    spinal = conduit_survival(P.spinal_nerve_length, P.perineural_speed)
    emissary = conduit_survival(P.emissary_length, P.perivascular_speed)
    meninges = rate.sel(organ="leptomeninges")
    into_csf = E * (P.marrow_perineural * spinal + P.marrow_emissary_csf * emissary)
    expected_csf = into_csf * csf_to_meninges() * EFF["leptomeninges"]
    expected_direct = E * P.marrow_emissary_meninges * emissary * EFF["leptomeninges"]
    assert float(meninges.sel(route="intra_cavity")) == pytest.approx(expected_csf, rel=1e-9)
    assert float(meninges.sel(route="perivascular_emissary")) == pytest.approx(
        expected_direct, rel=1e-9
    )
    assert shares["bone_axial"] == pytest.approx(
        P.marrow_perineural + P.marrow_emissary_csf + P.marrow_emissary_meninges
    )


def test_spinal_route_alone_by_physiology():
    # Almost shut the emissary routes: what reaches the meninges is the perineural route.
    p = anatomy.Physiology(marrow_emissary_csf=1e-300, marrow_emissary_meninges=1e-300)
    model, _ = build("bone_axial", physiology=p, brain=None, marrow="bone_axial")
    colonies, _ = colonisation(model)
    spinal = conduit_survival(p.spinal_nerve_length, p.perineural_speed, p)
    expected = E * p.marrow_perineural * spinal * csf_to_meninges(p) * EFF["leptomeninges"]
    assert float(colonies.sel(organ="leptomeninges")) == pytest.approx(expected, rel=1e-9)


def test_perineural_optic_route_from_the_orbit():
    model, _ = build("orbit", brain=None, marrow=None, orbit="orbit")
    colonies, _ = colonisation(model)
    optic = conduit_survival(P.optic_nerve_length, P.perineural_speed)
    expected = E * P.orbit_perineural * optic * csf_to_meninges() * EFF["leptomeninges"]
    assert float(colonies.sel(organ="leptomeninges")) == pytest.approx(expected, rel=1e-9)
    kinds = {t.kind.name for t in model.transfers}
    assert "perineural_optic" in kinds


def test_optic_conduit_is_built_with_the_physiological_length_and_speed():
    # Wiring only: the optic route is a conduit of `conduit_stages` stages whose stage rate is
    # stages * speed / length. That such a conduit delays arrival by length / speed on average
    # is measured in tests/test_conduits.py.
    model, _ = build("orbit", brain=None, marrow=None, orbit="orbit")
    stages = [c.name for c in model.carriers if c.name.startswith("optic_nerve_")]
    assert len(stages) == P.conduit_stages
    k = [t.rate for t in model.transfers if t.source == stages[0]][0]
    assert float(k) * P.optic_nerve_length / P.perineural_speed == pytest.approx(P.conduit_stages)


def test_csf_fluid_obstructed_by_leptomeningeal_tumour():
    # Leptomeningeal tumour of constant size b: the CSF settles at V0 (1 + b / h).
    b = 5e9
    organs = [
        mfo.Organ("brain", mfo.Exponential(0.0), primary=True, initial=1.0),
        mfo.Organ("leptomeninges", mfo.Exponential(0.0), initial=b),
    ]
    carriers, transfers, _ = anatomy.cns_routes(arterial=None, brain=None, marrow=None)
    carriers.append(mfo.Carrier("caval_blood", mfo.Haematogenous, clearance=1.0))
    model = mfo.Model(organs, carriers, transfers, lethal_burden=None)
    ds = mfo.simulate(model, 30.0, saveat=mfo.at([1.0, 30.0]), rtol=1e-12, atol=1e-9)
    k = P.csf_production / P.csf_volume / (1 + b / P.csf_obstruction)
    steady = P.csf_volume * (1 + b / P.csf_obstruction)
    expected = steady + (P.csf_volume - steady) * np.exp(-k * ds.time.values)
    np.testing.assert_allclose(ds.fluid_volume.sel(carrier="csf"), expected, rtol=1e-9)


def test_cns_routes_rejects_a_missing_arterial_rate():
    with pytest.raises(ValueError, match="arterial_rate"):
        anatomy.cns_routes()
    with pytest.raises(TypeError, match="Physiology"):
        anatomy.cns_routes({"csf_volume": 1.0}, arterial=None)


def test_reference_model_has_every_cns_route_and_the_fluids():
    model = anatomy.reference_model("breast")
    kinds = {t.kind.name for t in model.transfers}
    for kind in (
        "choroid_plexus",
        "brain_to_csf",
        "intra_organ",
        "perineural_spinal",
        "perivascular_emissary",
    ):
        assert kind in kinds
    fluids = {c.name for c in model.carriers if c.fluid is not None}
    assert fluids == {"peritoneal_fluid", "pleural_fluid", "pericardial_fluid", "csf"}
    table = mfo.parameters(model)
    assert table.loc["csf.fluid.production", "value"] == P.csf_production
