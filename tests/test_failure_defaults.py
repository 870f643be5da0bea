"""Default failure criteria of the whole-body model: documented, used, overridable."""

from pathlib import Path

import pytest

import metaflow_ode as mfo
from metaflow_ode import anatomy

DOCS = Path(__file__).resolve().parents[1] / "docs" / "failure.md"
REQUIRED = ("liver", "lung", "brain", "leptomeninges", "peritoneum", "pleura", "pericardium",
            "bone_marrow")  # fmt: skip


def test_every_required_organ_has_a_sourced_default_in_the_docs_table():
    text = DOCS.read_text()
    for organ in REQUIRED:
        default = anatomy.FAILURE_DEFAULTS[organ]
        assert len(default.source) > 40
        for criterion, value in default.criteria.items():
            assert f"| {organ} | `{criterion}` | {value:g} |" in text, (organ, criterion)


def test_reference_model_uses_the_defaults_and_accepts_overrides():
    model = anatomy.reference_model("breast")
    organs = dict(zip(model.organ_names, model.organs, strict=True))
    for organ in REQUIRED:
        failure = organs[organ].failure
        for criterion, value in anatomy.FAILURE_DEFAULTS[organ].criteria.items():
            assert float(getattr(failure, criterion)) == value
        assert failure.labels == anatomy.default_failure(organ).labels
    assert organs["pericardium"].failure.mechanisms == ("fluid_volume", "fluid_rate")
    assert organs["brain"].failure.fluid == "csf"
    custom = anatomy.reference_model(
        "breast", failure={"liver": mfo.Failure(burden=1e11), "brain": None}
    )
    organs = dict(zip(custom.organ_names, custom.organs, strict=True))
    assert float(organs["liver"].failure.burden) == 1e11 and organs["brain"].failure is None
    changed = model.with_parameters({"pericardium.failure.fluid_rate": 50.0})
    assert float(mfo.parameters(changed).loc["pericardium.failure.fluid_rate", "value"]) == 50.0
    with pytest.raises(ValueError, match="not organs of the model"):
        anatomy.reference_model("breast", failure={"heart": None})
    with pytest.raises(TypeError, match="mfo.Failure"):
        anatomy.reference_model("breast", failure={"liver": 0.75})


def test_meyers_peritoneum_pools_and_obstructs_at_the_resorption_sites():
    model = anatomy.reference_model("ovary", peritoneum="meyers")
    assert set(anatomy.MEYERS_SITES) <= set(model.organ_names)
    fluid = model.carriers[model.carrier_names.index("peritoneal_fluid")].fluid
    assert fluid.obstructed_by == ("greater_omentum", "right_subphrenic")
    assert set(fluid.lining) == {"peritoneum", *anatomy.MEYERS_SITES}
    pooling = anatomy.Physiology().meyers_pooling
    rates = {t.target: float(t.rate) for t in model.transfers if t.source == "peritoneal_fluid"}
    implant = 1.0 / anatomy.Physiology().implantation_time
    for site, share in pooling.items():
        assert rates[site] == pytest.approx(implant * share)
    assert rates["peritoneum"] == pytest.approx(implant * (1 - sum(pooling.values())))
    # the volumes of the split peritoneum add up to the lumped one
    lumped = anatomy.reference_model("ovary")
    volume = {o.name: float(o.volume) for o in model.organs}
    whole = float(lumped.organs[lumped.organ_names.index("peritoneum")].volume)
    assert sum(volume[o] for o in ("peritoneum", *anatomy.MEYERS_SITES)) == pytest.approx(whole)
    with pytest.raises(ValueError, match="'lumped' or 'meyers'"):
        anatomy.reference_model("ovary", peritoneum="split")
