"""Whole-body reference model: anatomy data, haematogenous routing, presets, autopsy ranking."""

import numpy as np
import pytest
import xarray as xr
from scipy import stats

import metaflow_ode as mfo
from metaflow_ode import _simulate as simulate_module
from metaflow_ode import anatomy

ELIMINATED = mfo.Lumped(eliminate_carriers=True)


# --- data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sex", ["female", "male"])
def test_every_row_has_a_source_positive_volume_and_flow_and_shares_sum_to_one(sex):
    table = anatomy.organ_table(sex)
    assert table["source"].str.strip().str.len().min() > 20
    modelled = table[table["modelled"]]
    assert (modelled["volume_ml"] > 0).all() and np.isfinite(modelled["volume_ml"]).all()
    assert (table["cardiac_output_share"] > 0).all()
    assert abs(table["cardiac_output_share"].sum() - 1.0) < 1e-9
    required = {
        "lung", "liver", "brain", "bone_axial", "bone_appendicular", "bone_marrow", "adrenal",
        "kidney", "spleen", "pancreas", "stomach_bowel", "skin", "muscle", "breast",
        "regional_nodes", "peritoneum", "pleura", "pericardium", "leptomeninges",
    }  # fmt: skip
    assert required <= set(modelled.index)
    assert ("ovary" in table.index) == (sex == "female")
    assert ("prostate" in table.index) == (sex == "male")


def test_icrp89_reference_values_are_transcribed():
    # ICRP 89 Table 2.40 (male): portal inflow = stomach + intestines + spleen + pancreas =
    # total liver flow 25.5 % minus hepatic artery 6.5 %; kidneys 19 %, brain 12 %.
    male = anatomy.organ_table("male")
    portal = male.loc[male["drainage"] == "portal", "cardiac_output_share"].sum()
    assert portal == pytest.approx(0.255 - 0.065, abs=1e-12)
    assert male.loc["kidney", "cardiac_output_share"] == pytest.approx(0.19)
    assert male.loc["brain", "cardiac_output_share"] == pytest.approx(0.12)
    # ICRP 89 Table 2.8: liver 1800 g (male), 1400 g (female), soft-tissue density 1.05 g/mL.
    assert male.loc["liver", "volume_ml"] == pytest.approx(1800 / 1.05)
    assert anatomy.organ_table("female").loc["liver", "volume_ml"] == pytest.approx(1400 / 1.05)


def test_every_preset_builds_with_its_sources():
    for primary in anatomy.PRIMARIES:
        p = anatomy.preset(primary)
        assert p.autopsy and len(p.autopsy_source) > 40
        assert sum(p.drainage.values()) == pytest.approx(1.0)
        assert 0 <= p.lymph + sum(p.contiguity.values()) < 1
        model = anatomy.reference_model(primary)
        assert model.primary_organ.name == p.organ
        seed, soil = anatomy.soil_factors(primary)
        assert 0 < seed < 1 and all(v > 0 for v in soil.values())


# --- routing --------------------------------------------------------------------------------


def test_flow_only_arterial_delivery_is_proportional_to_cardiac_output():
    # Lung primary: shed cells enter the pulmonary veins, i.e. the arterial blood. With uniform
    # soil, every organ reached only from the arterial blood receives cells in proportion to
    # its share of cardiac output (whatever recirculates through the lung passes the same
    # arterial split again).
    model = anatomy.reference_model("lung", soil="uniform")
    share = anatomy.organ_table("male")["cardiac_output_share"]
    arriving = mfo.dissemination_matrix(model).sum("route").sel(source="lung")
    arterial_only = [
        "kidney", "muscle", "skin", "adrenal", "bone_marrow", "bone_appendicular",
        "spleen", "pancreas", "stomach_bowel", "breast", "prostate",
    ]  # fmt: skip
    ratio = np.array([float(arriving.sel(target=o)) / share[o] for o in arterial_only])
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-10)
    assert ratio[0] > 0
    # the brain gives the choroid plexus its share of the flow
    plexus = anatomy.Physiology().choroid_plexus_flow
    brain = float(arriving.sel(target="brain")) / (share["brain"] - plexus)
    assert brain == pytest.approx(ratio[0], rel=1e-10)


def _first_colony_times(model, level=1e-6):
    ds = mfo.simulate(model, 3000.0, saveat=mfo.every(5.0), resolution=ELIMINATED)
    colonies = ds.colonies.sum("origin")
    reached = colonies >= level
    return xr.where(reached.any("time"), ds.time.where(reached).min("time"), np.inf)


def test_portal_primary_seeds_liver_before_lung_and_caval_primary_lung_first():
    portal = anatomy.reference_model("pancreas", soil="uniform")
    p = mfo.dissemination_matrix(portal).sum("route").sel(source="pancreas")
    assert float(p.sel(target="liver")) > float(p.sel(target="lung"))
    first = _first_colony_times(portal)
    assert float(first.sel(organ="liver")) < float(first.sel(organ="lung"))

    caval = anatomy.reference_model("melanoma", soil="uniform")  # skin: caval drainage only
    p = mfo.dissemination_matrix(caval).sum("route").sel(source="skin")
    haematogenous = p.drop_sel(target=["regional_nodes", "skin"])
    assert str(haematogenous.idxmax().values) == "lung"
    first = _first_colony_times(caval).drop_sel(organ=["regional_nodes", "skin"])
    assert str(first.idxmin().values) == "lung"
    assert float(first.sel(organ="lung")) < first.drop_sel(organ="lung").min()


def test_per_bed_arrest_shifts_cells_to_that_bed():
    base = anatomy.reference_model("pancreas", soil="uniform")
    tight = anatomy.reference_model(
        "pancreas", soil="uniform", physiology=anatomy.Physiology(bed_arrest={"liver": 0.99})
    )
    p0, p1 = (
        mfo.dissemination_matrix(m).sum("route").sel(source="pancreas") for m in (base, tight)
    )
    assert float(p1.sel(target="liver")) > float(p0.sel(target="liver"))
    assert float(p1.sel(target="lung")) < float(p0.sel(target="lung"))
    with pytest.raises(ValueError, match="livr"):
        anatomy.reference_model("pancreas", physiology=anatomy.Physiology(bed_arrest={"livr": 0.5}))


@pytest.mark.parametrize("primary", anatomy.PRIMARIES)
def test_dissemination_rows_sum_to_at_most_one(primary):
    matrix = mfo.dissemination_matrix(anatomy.reference_model(primary)).sum(("route", "target"))
    assert float(matrix.max()) <= 1.0 + 1e-12
    assert float(matrix.min()) > 0.5  # most shed cells arrest somewhere before dying in transit


def test_every_shed_cell_arrives_or_is_cleared_or_lost():
    model = anatomy.reference_model("breast")
    ds = mfo.simulate(
        model,
        1500.0,
        saveat=mfo.at([500.0, 1500.0]),
        resolution=mfo.Lumped(eliminate_carriers=True, accounting=True),
    )
    shed = ds.cumulative_shed.sum(("organ", "origin"))
    accounted = (
        ds.cumulative_arrived.sum(("organ", "origin"))
        + ds.cumulative_cleared.sum(("carrier", "origin"))
        + ds.cumulative_lost.sum(("organ", "origin"))
    )
    assert float(shed[-1]) > 1e9
    np.testing.assert_allclose(accounted.values, shed.values, rtol=1e-7)
    cleared_share = float(ds.cumulative_cleared.sum()) / float(shed[-1])
    assert 0 < cleared_share < 0.5


# --- calibration against autopsy ------------------------------------------------------------

# Cho SY, Choi HY, Am J Clin Pathol 1980; 73:232 (../shared/REFERENCES.md): share of breast
# cancer autopsies with metastases in each site, typed in here independently of the preset.
CHO_1980 = {"lung": 60, "bone": 54, "liver": 54, "adrenal": 36, "pleura": 36, "brain": 26}


def test_breast_preset_reproduces_the_cho_1980_autopsy_ranking():
    model = anatomy.reference_model("breast")
    sites = list(CHO_1980)
    simulated = anatomy.involvement(model, sites)
    rho = stats.spearmanr(simulated.values, [CHO_1980[s] for s in sites]).statistic
    assert rho >= 0.8, (rho, simulated)
    assert simulated.attrs["cause_of_death"] != ""
    # The calibration targets the frequencies themselves, not only their order.
    np.testing.assert_allclose(simulated.values, [CHO_1980[s] / 100 for s in sites], atol=0.01)


def test_new_soil_factors_do_not_recompile():
    sites = ["lung", "liver"]
    anatomy.involvement(anatomy.reference_model("breast", soil="uniform"), sites)
    before = simulate_module._trace_count
    anatomy.involvement(anatomy.reference_model("breast", soil={"liver": 3.0, "bone": 0.5}), sites)
    assert simulate_module._trace_count == before


# --- input validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"primary": "kidney"}, "primary"),
        ({"soil": "flat"}, "soil"),
        ({"soil": {"liver": -1.0}}, "liver"),
        ({"soil": {"livre": 2.0}}, "livre"),
        ({"soil": ["liver"]}, "soil"),
        ({"seed": 2.0}, "seed"),
        ({"seed": 1e-3, "soil": {"adrenal": 1e4}}, "exceeds 1"),
        ({"primary": "prostate", "sex": "female"}, "prostate"),
        ({"sex": "other"}, "sex"),
        ({"physiology": "default"}, "physiology"),
    ],
)
def test_reference_model_rejects_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        anatomy.reference_model(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"capillary_arrest": 1.5},
        {"blood_half_life": 0.0},
        {"venous_blood_share": 2.0},
        {"bed_arrest": {"liver": 1.2}},
        {"bed_arrest": {"liver": -0.1}},
    ],
)
def test_physiology_rejects_bad_values(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        anatomy.Physiology(**kwargs)


def test_involvement_rejects_unknown_sites():
    with pytest.raises(ValueError, match="spleen_x"):
        anatomy.involvement(anatomy.reference_model("breast"), ["spleen_x"])
