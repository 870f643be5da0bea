"""Staging along the Bio Therapeutic Goals of Cancer Care model (Sparrer et al. 2025, Fig. 5)."""

import dataclasses
import json
import math

import numpy as np
import pytest
import xarray as xr

import metaflow_ode as mfo
from metaflow_ode._resolution.colonies import sphere_cells
from metaflow_ode._staging import (
    DEFAULT_STAGE_TABLE,
    DEFAULT_UNTREATABLE,
    GOALS_OF_CARE,
    STAGES,
    StageRule,
    StagingRules,
    stage,
)
from metaflow_ode.anatomy import MEYERS_SITES

NAN = math.nan


def synthetic(
    organs,
    times,
    *,
    visible=None,
    burden=None,
    warning=None,
    failure=None,
    death=NAN,
    options=None,
    parameters=None,
):
    """A hand-made dataset with what `stage` reads from a simulation."""
    n = len(organs)
    data = {
        "warning_time": ("organ", np.full(n, NAN) if warning is None else np.asarray(warning)),
        "failure_time": ("organ", np.full(n, NAN) if failure is None else np.asarray(failure)),
        "death_time": ((), np.float64(death)),
    }
    if visible is not None:
        data["visible_lesions"] = (("time", "organ"), np.asarray(visible, dtype=float))
    if burden is not None:
        data["metastatic_burden"] = (("time", "organ"), np.asarray(burden, dtype=float))
    attrs = {
        "options": json.dumps(options if options is not None else {"visible_diameter": 5.0}),
        "parameters": json.dumps(parameters or {}),
    }
    coords = {"time": np.asarray(times, dtype=float), "organ": np.array(organs, dtype=object)}
    return xr.Dataset(data, coords=coords, attrs=attrs)


# --- the rule logic, on a hand-made trajectory ----------------------------------------------

ORGANS = ["breast", "liver", "lung"]
TIMES = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
VISIBLE = [
    [0.0, 0.0, 0.4],  # localised (0.4 expected lesions round to 0)
    [0.0, 0.6, 0.0],  # 1 lesion: oligometastatic
    [0.0, 2.4, 2.0],  # 2 + 2: oligometastatic
    [0.0, 4.0, 2.5],  # 4 + 3 > 5: polymetastatic (2.5 rounds half up)
    [0.0, 0.0, 1.0],  # after an ablation: back to oligometastatic
    [0.0, 3.0, 1.0],  # liver warning at 45: threatened
    [0.0, 9.0, 1.0],  # liver failure at 55
    [0.0, 9.0, 9.0],  # death at 65
]


@pytest.fixture(scope="module")
def staged():
    ds = synthetic(
        ORGANS, TIMES, visible=VISIBLE, warning=[NAN, 45.0, NAN], failure=[NAN, 55.0, NAN], death=65
    )
    return ds, stage(ds)


def test_stage_sequence_by_hand(staged):
    _, out = staged
    expected = [0, 1, 1, 2, 1, 3, 4, 5]
    np.testing.assert_array_equal(out.stage_index.values, expected)
    assert list(out.stage.values) == [STAGES[k] for k in expected]
    assert out.stage.dtype == object and out.stage_index.dtype == np.int64
    np.testing.assert_array_equal(
        out.visible_metastases.sel(organ="lung").values, [0, 0, 2, 3, 1, 1, 1, 9]
    )
    np.testing.assert_array_equal(
        out.visible_metastases.sel(organ="liver").values, [0, 1, 2, 4, 0, 3, 9, 9]
    )


def test_entry_times_and_durations_by_hand(staged):
    _, out = staged
    assert list(out.stage_name.values) == list(STAGES)
    np.testing.assert_array_equal(out.stage_entry_time.values, [0, 10, 30, 45, 55, 65])
    # the stage at save i holds for t_{i+1} - t_i = 10 days; the last save holds nothing
    np.testing.assert_array_equal(out.stage_duration.values, [10, 30, 10, 10, 10, 0])
    assert float(out.stage_duration.sum()) == TIMES[-1] - TIMES[0]


def test_goal_of_care_and_therapies_follow_the_table(staged):
    _, out = staged
    for name, goal, therapies in zip(
        out.stage.values, out.goal_of_care.values, out.indicated_therapies.values, strict=True
    ):
        assert goal == DEFAULT_STAGE_TABLE[name].goal_of_care
        assert therapies == "; ".join(DEFAULT_STAGE_TABLE[name].therapies)
    assert list(out.stage_goal.values) == [
        "cure",
        "long-term control",
        "disease control",
        "maintain organ function",
        "maintain organ function",
        "symptom control / end-of-life care",
    ]
    assert out.goal_of_care.values[0] == "cure"
    assert "local ablative therapy (surgery, SBRT)" in out.indicated_therapies.values[1]


def test_attrs_and_input_untouched(staged):
    ds, out = staged
    for name in (
        "visible_metastases",
        "stage",
        "stage_index",
        "goal_of_care",
        "indicated_therapies",
        "stage_entry_time",
        "stage_duration",
    ):
        assert {"units", "long_name"} <= set(out[name].attrs), name
        assert name not in ds
    assert out.stage_entry_time.attrs["units"] == "day"
    assert "rounded" in out.visible_metastases.attrs["long_name"]
    rules = json.loads(out.attrs["staging_rules"])
    assert rules["max_lesions"] == 5 and rules["max_organs"] is None
    assert rules["untreatable"] == list(DEFAULT_UNTREATABLE)
    assert set(rules["stages"]) == set(STAGES)
    assert "Sparrer" in out.attrs["staging_sources"]
    assert "Lievens" in out.attrs["staging_sources"]
    assert out.attrs["options"] == ds.attrs["options"]


def test_restaging_replaces_the_staging(staged):
    _, out = staged
    again = stage(out, StagingRules(max_lesions=1))
    # 2 lesions at t = 20 are now polymetastatic
    assert again.stage.values[2] == "polymetastatic"
    assert json.loads(again.attrs["staging_rules"])["max_lesions"] == 1


def test_staged_dataset_writes_to_netcdf(staged, tmp_path):
    _, out = staged
    path = mfo.write_netcdf(out, tmp_path / "staged.nc")
    with xr.open_dataset(path) as back:
        assert list(back.stage.values) == list(out.stage.values)


# --- event stages -----------------------------------------------------------------------------


def test_events_between_saves_use_exact_times():
    # warning, failure and death all at 41, between the saves at 40 and 50
    ds = synthetic(
        ["breast", "liver"],
        [0.0, 20.0, 40.0, 50.0, 60.0],
        visible=np.zeros((5, 2)),
        warning=[NAN, 41.0],
        failure=[NAN, 41.0],
        death=41.0,
    )
    out = stage(ds)
    assert list(out.stage.values) == ["localised"] * 3 + ["end_of_life"] * 2
    np.testing.assert_array_equal(out.stage_entry_time.values, [0, NAN, NAN, 41, 41, 41])
    np.testing.assert_array_equal(out.stage_duration.values, [50, 0, 0, 0, 0, 10])


def test_superseded_and_out_of_span_events():
    # organ a fails (no warning) at 15, before organ b's warning at 25: never threatened
    ds = synthetic(
        ["a", "b"],
        [0.0, 10.0, 20.0, 30.0],
        visible=np.zeros((4, 2)),
        warning=[NAN, 25.0],
        failure=[15.0, NAN],
        death=100.0,  # after the last save
    )
    out = stage(ds)
    assert list(out.stage_index.values) == [0, 0, 4, 4]
    np.testing.assert_array_equal(out.stage_entry_time.values, [0, NAN, NAN, NAN, 15, NAN])
    # a warning before the first save: entered at the first save, not at the warning
    sliced = synthetic(["a"], [50.0, 60.0], visible=[[0.0], [0.0]], warning=[30.0], failure=[NAN])
    out = stage(sliced)
    assert list(out.stage.values) == ["organ_function_threatened"] * 2
    assert float(out.stage_entry_time.sel(stage_name="organ_function_threatened")) == 50.0


def test_threatened_stays_threatened_when_lesions_fall():
    ds = synthetic(
        ["breast", "liver"],
        [0.0, 10.0, 20.0],
        visible=[[0.0, 3.0], [0.0, 0.0], [0.0, 0.0]],
        warning=[NAN, 5.0],
        failure=[NAN, NAN],
    )
    assert list(stage(ds).stage_index.values) == [1, 3, 3]


# --- lesion counting --------------------------------------------------------------------------


def test_lumped_burden_threshold_is_one_visible_sphere():
    density = 2e9
    threshold = sphere_cells(5.0, density)
    assert threshold == pytest.approx(math.pi / 6 * 0.125 * density)
    burden = [[0.0, 0.999 * threshold], [0.0, 1.001 * threshold], [0.0, 1e3 * threshold]]
    ds = synthetic(
        ["breast", "liver"],
        [0.0, 1.0, 2.0],
        burden=burden,
        options={"resolution": "Lumped"},
        parameters={"cell_density": density},
    )
    out = stage(ds)
    # one lesion per involved organ, however large its burden: a lower bound
    np.testing.assert_array_equal(out.visible_metastases.sel(organ="liver").values, [0, 1, 1])
    assert list(out.stage.values) == ["localised", "oligometastatic", "oligometastatic"]
    assert "lower bound" in out.visible_metastases.attrs["long_name"]
    # a 10 mm visible size needs 8 times the cells
    big = stage(ds, StagingRules(visible_diameter=10.0))
    np.testing.assert_array_equal(big.visible_metastases.sel(organ="liver").values, [0, 0, 1])


def test_lumped_default_density_is_1e9():
    threshold = sphere_cells(5.0, 1e9)
    ds = synthetic(["p", "liver"], [0.0, 1.0], burden=[[0, 0.99 * threshold], [0, threshold]])
    del ds.attrs["parameters"]
    assert list(stage(ds).visible_metastases.sel(organ="liver").values) == [0, 1]


def test_untreatable_organ_makes_it_polymetastatic():
    organs = ["breast", "liver", "peritoneum", "greater_omentum"]
    visible = [[0, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]
    ds = synthetic(organs, [0.0, 1.0, 2.0], visible=visible)
    assert list(stage(ds).stage.values) == ["oligometastatic", "polymetastatic", "polymetastatic"]
    relaxed = stage(ds, StagingRules(untreatable=()))
    assert list(relaxed.stage.values) == ["oligometastatic"] * 3
    # an expected 0.4 lesions in the peritoneum is no visible lesion
    faint = synthetic(organs, [0.0], visible=[[0, 1, 0.4, 0]])
    assert stage(faint).stage.values[0] == "oligometastatic"


def test_max_organs_and_max_lesions():
    organs = ["breast", "liver", "lung", "bone_axial"]
    ds = synthetic(organs, [0.0, 1.0], visible=[[0, 1, 1, 0], [0, 1, 1, 1]])
    assert list(stage(ds).stage.values) == ["oligometastatic"] * 2
    by_organs = stage(ds, StagingRules(max_organs=2))
    assert list(by_organs.stage.values) == ["oligometastatic", "polymetastatic"]
    by_lesions = stage(ds, StagingRules(max_lesions=2))
    assert list(by_lesions.stage.values) == ["oligometastatic", "polymetastatic"]
    five = synthetic(organs, [0.0, 1.0], visible=[[0, 3, 2, 0], [0, 3, 2, 1]])
    assert list(stage(five).stage.values) == ["oligometastatic", "polymetastatic"]


def test_custom_stage_table():
    table = {
        **DEFAULT_STAGE_TABLE,
        "oligometastatic": StageRule("cure", ("SBRT",), "assumption for this test"),
    }
    ds = synthetic(["breast", "liver"], [0.0], visible=[[0, 1]])
    out = stage(ds, StagingRules(stages=table))
    assert out.goal_of_care.values[0] == "cure"
    assert out.indicated_therapies.values[0] == "SBRT"
    assert out.stage_goal.sel(stage_name="oligometastatic").item() == "cure"


# --- rules and their validation ---------------------------------------------------------------


def test_defaults():
    assert STAGES[0] == "localised" and STAGES[-1] == "end_of_life" and len(STAGES) == 6
    assert set(MEYERS_SITES) < set(DEFAULT_UNTREATABLE)
    assert {"peritoneum", "pleura", "pericardium", "leptomeninges"} < set(DEFAULT_UNTREATABLE)
    assert tuple(DEFAULT_STAGE_TABLE) == STAGES
    assert all(rule.goal_of_care in GOALS_OF_CARE for rule in DEFAULT_STAGE_TABLE.values())
    assert all("Sparrer" in rule.source for rule in DEFAULT_STAGE_TABLE.values())
    assert "Guckenberger" in DEFAULT_STAGE_TABLE["oligometastatic"].source
    rules = StagingRules()
    assert rules == StagingRules() and hash(rules) == hash(StagingRules())
    assert dataclasses.replace(rules, max_lesions=3).max_lesions == 3
    with pytest.raises(TypeError):
        StagingRules(5)  # keyword-only
    with pytest.raises(TypeError):
        rules.stages["localised"] = DEFAULT_STAGE_TABLE["end_of_life"]  # read-only


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_lesions": 0}, ValueError, r"max_lesions=\.\.\.\)` must be an integer >= 1"),
        ({"max_lesions": 2.5}, ValueError, r"max_lesions=\.\.\.\)` must be an integer >= 1"),
        ({"max_lesions": True}, ValueError, r"max_lesions"),
        ({"max_organs": 0}, ValueError, r"max_organs=\.\.\.\)` must be an integer >= 1 or None"),
        ({"visible_diameter": 0.0}, ValueError, r"visible_diameter=\.\.\.\)` must be a finite"),
        ({"visible_diameter": math.inf}, ValueError, r"visible_diameter"),
        ({"visible_diameter": math.nan}, ValueError, r"visible_diameter"),
        ({"visible_diameter": "5"}, TypeError, r"must be a number in mm"),
        ({"untreatable": "peritoneum"}, TypeError, r"untreatable=\.\.\.\)` must be a tuple"),
        ({"untreatable": ("pleura", 1)}, TypeError, r"only non-empty strings"),
        ({"stages": {}}, ValueError, r"exactly the stages"),
        ({"stages": {**DEFAULT_STAGE_TABLE, "cured": None}}, ValueError, r"unknown \['cured'\]"),
        ({"stages": {s: "cure" for s in STAGES}}, TypeError, r"must be `StageRule"),
        ({"stages": ["localised"]}, TypeError, r"must map each stage name"),
    ],
)
def test_rules_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        StagingRules(**kwargs)


def test_stage_rule_validation():
    with pytest.raises(ValueError, match=r"goal_of_care=\.\.\.\)` must be one of"):
        StageRule("palliation", ("x",), "source")
    with pytest.raises(ValueError, match=r"therapies=\.\.\.\)` is empty"):
        StageRule("cure", (), "source")
    with pytest.raises(TypeError, match=r"therapies=\.\.\.\)` must be a tuple"):
        StageRule("cure", "surgery", "source")
    with pytest.raises(TypeError, match=r"source=\.\.\.\)` must be a non-empty string"):
        StageRule("cure", ("surgery",), "")
    assert StageRule("cure", ["surgery"], "s").therapies == ("surgery",)


def test_stage_errors():
    ds = synthetic(["breast", "liver"], [0.0, 1.0], visible=[[0, 0], [0, 1]])
    with pytest.raises(TypeError, match=r"needs the `xarray.Dataset` that `mfo.simulate`"):
        stage(ds.to_dataframe())
    with pytest.raises(TypeError, match=r"rules=\.\.\.\)` must be `StagingRules"):
        stage(ds, {"max_lesions": 5})
    with pytest.raises(TypeError, match=r"no variable `warning_time`.*mfo.simulate"):
        stage(ds.drop_vars("warning_time"))
    with pytest.raises(TypeError, match=r"no variable `metastatic_burden`"):
        stage(ds.drop_vars("visible_lesions"))
    cohort = xr.concat([ds, ds], dim="patient")
    with pytest.raises(ValueError, match=r"one simulation at a time"):
        stage(cohort)
    with pytest.raises(ValueError, match=r"counted `visible_lesions` at 5\.0 mm"):
        stage(ds, StagingRules(visible_diameter=10.0))
    broken = synthetic(["breast", "liver"], [0.0, 1.0, 2.0], visible=[[0, 0], [0, 1], [0, NAN]])
    with pytest.raises(ValueError, match=r"NaN from time 2 day.*isel\(time=slice\(None, 2\)\)"):
        stage(broken)
    backwards = synthetic(["breast"], [1.0, 0.0], visible=[[0], [0]])
    with pytest.raises(ValueError, match=r"strictly increasing"):
        stage(backwards)


# --- a real simulation ------------------------------------------------------------------------


def test_simulated_two_organ_model_is_staged_monotonically():
    model = mfo.Model(
        [
            mfo.Organ(
                "breast", mfo.Exponential(0.05), mfo.PowerLaw(1e-3, 1.0), primary=True, initial=1e6
            ),
            mfo.Organ("liver", mfo.Gompertz(0.05, 1e12), failure=mfo.Failure(burden=1e11)),
        ],
        transfers=[mfo.Transfer("breast", "liver", kind=mfo.Haematogenous, fraction=0.1)],
    )
    ds = mfo.simulate(model, 100.0, saveat=mfo.every(5.0))
    out = stage(ds)
    index = out.stage_index.values
    death = float(ds.death_time)
    assert 0.0 < death < 100.0
    assert index[0] == 0  # no visible metastasis at t = 0
    assert np.all(np.diff(index) >= 0)
    after = out.time.values >= death
    assert after.any() and np.all(out.stage.values[after] == "end_of_life")
    assert np.all(index[~after] < STAGES.index("end_of_life"))
    entry = out.stage_entry_time
    assert float(entry.sel(stage_name="end_of_life")) == death
    assert float(entry.sel(stage_name="organ_function_threatened")) == float(
        ds.warning_time.sel(organ="liver")
    )
    # death is the liver's failure: organ failure is entered and left at once
    assert float(entry.sel(stage_name="organ_failure")) == death
    assert float(out.stage_duration.sum()) == pytest.approx(100.0)
    assert "lower bound" in out.visible_metastases.attrs["long_name"]


def test_simulated_colonies_fidelity_counts_rounded_visible_lesions():
    # Colonies seeded into the liver become visible from about day 200 and multiply: the
    # trajectory passes localised -> oligometastatic -> polymetastatic -> end of life.
    model = mfo.Model(
        [
            mfo.Organ(
                "breast", mfo.Exponential(0.05), mfo.PowerLaw(2e-8, 1.0), primary=True, initial=1e6
            ),
            mfo.Organ("liver", mfo.Exponential(0.1)),
        ],
        transfers=[mfo.Transfer("breast", "liver", kind=mfo.Haematogenous, fraction=1.0)],
    )
    resolution = mfo.Colonies(windows=4, nodes=1)
    ds = mfo.simulate(model, 300.0, saveat=mfo.every(20.0), resolution=resolution)
    out = stage(ds)
    np.testing.assert_array_equal(
        out.visible_metastases.values, np.floor(ds.visible_lesions.values + 0.5)
    )
    total = out.visible_metastases.sum("organ").values
    index = out.stage_index.values
    before_death = out.time.values < float(ds.death_time)
    np.testing.assert_array_equal(
        index[before_death], np.where(total > 5, 2, np.where(total >= 1, 1, 0))[before_death]
    )
    assert {0, 1, 2, 5} <= set(index.tolist())
    assert np.all(np.diff(index) >= 0)
    with pytest.raises(ValueError, match=r"Colonies\(visible_diameter=10.0\)"):
        stage(ds, StagingRules(visible_diameter=10.0))


def test_a_non_lethal_failure_opens_the_organ_failure_stage_until_death():
    # Liver and lung grow as e^{0.05 t} from 1e6 and 1e5 cells and fail at 1e8 cells: the
    # liver at ln(100)/0.05 = 92.10 d (declared non-lethal), the lung at ln(1000)/0.05 =
    # 138.16 d, which is the death. Closed forms; stages in between read from them.
    import metaflow_ode as mfo

    def organ(name, x0, lethal):
        return mfo.Organ(
            name,
            mfo.Exponential(0.05),
            initial=x0,
            failure=mfo.Failure(burden=1e8, warning=None, lethal=lethal),
        )

    model = mfo.Model(
        [
            mfo.Organ("breast", mfo.Exponential(0.0), initial=1e3, primary=True),
            organ("liver", 1e6, False),
            organ("lung", 1e5, True),
        ],
        lethal_burden=None,
    )
    ds = mfo.simulate(model, 200.0, saveat=mfo.every(10.0))
    liver, lung = np.log(100.0) / 0.05, np.log(1000.0) / 0.05
    assert float(ds.failure_time.sel(organ="liver")) == pytest.approx(liver, abs=1e-6)
    assert float(ds.death_time) == pytest.approx(lung, abs=1e-6)
    assert str(ds.cause_of_death.values) == "lung"
    assert ds.failure_lethal.values.tolist() == [False, False, True]
    entry = ds.stage_entry_time
    assert float(entry.sel(stage_name="organ_failure")) == pytest.approx(liver, abs=1e-6)
    assert float(entry.sel(stage_name="end_of_life")) == pytest.approx(lung, abs=1e-6)
    stages = ds.stage.sel(time=[90.0, 100.0, 130.0, 140.0]).values.tolist()
    # at 90 d only the liver is visible (from ln(65)/0.05 = 83.5 d): one lesion, OMD
    assert stages == ["oligometastatic", "organ_failure", "organ_failure", "end_of_life"]
    # saves at 100, 110, 120, 130 hold organ failure on the grid
    assert float(ds.stage_duration.sel(stage_name="organ_failure")) == pytest.approx(40.0)


def test_simulate_stages_by_default_and_takes_rules_or_none():
    import metaflow_ode as mfo

    model = mfo.parameter_sets.load("Benzekry2021")
    strict = mfo.simulate(model, 80.0, saveat=mfo.every(10.0), staging=mfo.StagingRules())
    assert "stage" in strict and strict.attrs["staging_rules"]
    unstaged = mfo.simulate(model, 80.0, saveat=mfo.every(10.0), staging=None)
    assert "stage" not in unstaged and "stage_entry_time" not in unstaged
    with pytest.raises(TypeError, match=r"simulate\(staging=...\)"):
        mfo.simulate(model, 80.0, staging="ESTRO")
