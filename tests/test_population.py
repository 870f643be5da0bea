"""Population summaries of a cohort: Kaplan-Meier curves, causes of death, time to visible.

The cohorts are built by hand (numpy), with event times whose survival is known in closed
form, and a small example whose product-limit estimate is worked out by hand below.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from metaflow_ode._population import cause_of_death_shares, kaplan_meier, time_to_visible
from metaflow_ode._resolution.colonies import sphere_cells
from metaflow_ode._staging import StagingRules, stage

NAN = math.nan


def cohort(
    death,
    failure,
    *,
    organs=("liver", "lung"),
    times=None,
    cause=None,
    status=None,
    burden=None,
    metastatic=None,
    visible=None,
    lethal=None,
    attrs=None,
):
    """A cohort dataset with what the population summaries read from `simulate_cohort`."""
    death = np.asarray(death, dtype=float)
    n = len(death)
    failure = np.asarray(failure, dtype=float).reshape(n, len(organs))
    times = np.arange(11.0) if times is None else np.asarray(times, dtype=float)
    if cause is None:
        # the first lethal failure; "whole_body" where no organ failed by then
        cause = []
        for p in range(n):
            if not np.isfinite(death[p]):
                cause.append("")
                continue
            hit = [o for k, o in enumerate(organs) if failure[p, k] == death[p]]
            cause.append(hit[0] if hit else "whole_body")
    if status is None:
        status = ["successful"] * n
    if burden is None:
        burden = np.ones((n, len(times), len(organs)))
    data = {
        "death_time": (("patient",), death, {"units": "day"}),
        "failure_time": (("patient", "organ"), failure, {"units": "day"}),
        "cause_of_death": (("patient",), np.array(cause, dtype=object), {}),
        "solver_status": (("patient",), np.array(status, dtype=object), {}),
        "burden": (("patient", "time", "organ"), np.asarray(burden, dtype=float), {}),
    }
    if metastatic is not None:
        data["metastatic_burden"] = (("patient", "time", "organ"), metastatic, {})
    if visible is not None:
        data["visible_lesions"] = (("patient", "time", "organ"), visible, {})
    if lethal is not None:
        data["failure_lethal"] = (("organ",), np.asarray(lethal, dtype=bool), {})
    return xr.Dataset(
        {k: xr.Variable(d, v, attrs=a) for k, (d, v, a) in data.items()},
        coords={
            "patient": np.arange(n),
            "time": ("time", times, {"units": "day"}),
            "organ": ("organ", np.array(organs, dtype=object)),
        },
        attrs=attrs or {},
    )


# --- Product-limit estimate by hand -------------------------------------------------------------

# Six patients followed to day 10 (organs liver, lung):
#   0: liver fails at 2 and kills        -> liver event 2,       death 2
#   1: lung fails at 3 and kills         -> liver censored at 3, death 3
#   2: liver fails at 5 (not lethal), lung kills at 8 -> liver event 5, death 8
#   3: nothing                           -> liver censored at 10, alive (censored at 10)
#   4: lung kills at 4, liver would fail at 6 -> liver censored at 4 (death first), death 4
#   5: liver fails at 7 and kills        -> liver event 7,       death 7
HAND_DEATH = [2.0, 3.0, 8.0, NAN, 4.0, 7.0]
HAND_FAILURE = [[2.0, NAN], [NAN, 3.0], [5.0, 8.0], [NAN, NAN], [6.0, 4.0], [7.0, NAN]]
#
# Liver failure-free survival, ordered times 2e 3c 4c 5e 7e 10c:
#   t = 2: 6 at risk, 1 event -> S = 5/6
#   t = 5: 3 at risk, 1 event -> S = 5/6 * 2/3 = 5/9
#   t = 7: 2 at risk, 1 event -> S = 5/9 * 1/2 = 5/18
# Greenwood: V(t) = sum d / (n (n - d)) = 1/30, + 1/6, + 1/2; log-log interval
# S ** exp(-/+ z sqrt(V) / log S) (Kalbfleisch & Prentice 2002, 4.3).
# Overall survival, deaths at 2, 3, 4, 7, 8, one censored at 10: S = 5/6, 4/6, 3/6, 2/6, 1/6.


def test_hand_computed_product_limit():
    km = kaplan_meier(cohort(HAND_DEATH, HAND_FAILURE))
    assert list(km["endpoint"].values) == ["death", "failure:liver", "failure:lung"]
    assert list(km["event"].values) == ["death", "failure", "failure"]
    assert list(km["endpoint_organ"].values) == ["", "liver", "lung"]
    np.testing.assert_array_equal(km["time"].values, np.arange(11.0))

    liver = km.sel(endpoint="failure:liver")
    s = np.array([1, 1, 5 / 6, 5 / 6, 5 / 6, 5 / 9, 5 / 9, 5 / 18, 5 / 18, 5 / 18, 5 / 18])
    np.testing.assert_allclose(liver["survival"].values, s, rtol=1e-12)
    np.testing.assert_array_equal(liver["at_risk"].values, [6, 6, 6, 5, 4, 3, 2, 2, 1, 1, 1])
    np.testing.assert_array_equal(liver["events"].values, [0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 3])
    np.testing.assert_array_equal(liver["censored"].values, [0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 3])
    assert int(liver["n_events"]) == 3

    z = stats.norm.ppf(0.975)
    steps = np.array([5 / 6, 5 / 9, 5 / 18])
    v = np.cumsum([1 / 30, 1 / 6, 1 / 2])
    low = steps ** np.exp(-z * np.sqrt(v) / np.log(steps))
    high = steps ** np.exp(z * np.sqrt(v) / np.log(steps))
    at = [2, 5, 7]
    np.testing.assert_allclose(liver["survival_lower"].values[at], low, rtol=1e-10)
    np.testing.assert_allclose(liver["survival_upper"].values[at], high, rtol=1e-10)
    # before the first event the estimate is exact
    assert liver["survival_lower"].values[0] == liver["survival_upper"].values[0] == 1.0
    assert liver["survival_lower"].values[-1] == pytest.approx(low[-1], rel=1e-10)

    # median 7 (first S <= 0.5); its interval: the lower band reaches 0.5 at 2, the upper
    # band (0.70 at the last event) never does
    assert float(liver["median_time"]) == 7.0
    assert float(liver["median_time_lower"]) == 2.0
    assert math.isnan(float(liver["median_time_upper"]))

    death = km.sel(endpoint="death")
    s = np.array([1, 1, 5, 4, 3, 3, 3, 2, 1, 1, 1]) / np.array([1, 1, 6, 6, 6, 6, 6, 6, 6, 6, 6])
    np.testing.assert_allclose(death["survival"].values, s, rtol=1e-12)
    assert float(death["median_time"]) == 4.0  # S = 1/2 exactly at day 4
    np.testing.assert_array_equal(death["censored"].values[-1], 1)

    lung = km.sel(endpoint="failure:lung")  # events 3, 4, 8; censored 2 (death), 7, 10
    s = np.array([1, 1, 1, 4 / 5, 3 / 5, 3 / 5, 3 / 5, 3 / 5, 3 / 10, 3 / 10, 3 / 10])
    np.testing.assert_allclose(lung["survival"].values, s, rtol=1e-12)

    assert km.attrs["n_patients"] == 6
    assert km.attrs["n_solver_failed"] == 0
    assert km.attrs["follow_up"] == 10.0
    assert km.attrs["confidence_level"] == 0.95
    assert "Kaplan EL, Meier P" in km.attrs["citations"]
    assert km["survival"].attrs["units"] == "1" and km["median_time"].attrs["units"] == "day"


def test_ties_events_before_censoring():
    # liver: event at 5 and a censoring (death of the lung) at 5: the censored patient is at
    # risk at 5, so S(5) = 1 - 1/3
    km = kaplan_meier(cohort([5.0, NAN, NAN], [[5.0, NAN], [NAN, NAN], [NAN, NAN]]))
    assert float(km["survival"].sel(endpoint="failure:liver", time=5.0)) == pytest.approx(2 / 3)
    km = kaplan_meier(cohort([5.0, 5.0, NAN], [[NAN, 5.0], [5.0, NAN], [NAN, NAN]]))
    assert float(km["survival"].sel(endpoint="failure:liver", time=5.0)) == pytest.approx(2 / 3)


def test_confidence_level_and_times():
    data = cohort(HAND_DEATH, HAND_FAILURE)
    wide = kaplan_meier(data, confidence=0.99)
    narrow = kaplan_meier(data, confidence=0.8)
    t = dict(endpoint="death", time=4.0)
    assert float(wide["survival_lower"].sel(**t)) < float(narrow["survival_lower"].sel(**t))
    assert float(wide["survival_upper"].sel(**t)) > float(narrow["survival_upper"].sel(**t))
    assert "99%" in wide["survival_lower"].attrs["long_name"]

    km = kaplan_meier(data, times=[0.5, 2.0, 4.5, 20.0])
    np.testing.assert_allclose(
        km["survival"].sel(endpoint="death").values[:3], [1.0, 5 / 6, 3 / 6], rtol=1e-12
    )
    assert np.isnan(km["survival"].sel(endpoint="death").values[3])  # after follow-up


def test_follow_up():
    data = cohort(HAND_DEATH, HAND_FAILURE)
    km = kaplan_meier(data, follow_up=5.0)
    assert km["time"].values[-1] == 5.0
    death = km.sel(endpoint="death")
    assert int(death["n_events"]) == 3  # deaths at 7 and 8 are after follow-up
    np.testing.assert_array_equal(death["at_risk"].values[-1], 3)
    assert float(death["median_time"]) == 4.0
    liver = km.sel(endpoint="failure:liver")
    assert int(liver["n_events"]) == 2
    assert km.attrs["follow_up"] == 5.0


def test_solver_failure_is_censored_at_last_finite_save():
    burden = np.ones((3, 11, 2))
    burden[1, 6:, :] = NAN  # patient 1 fails after day 5
    burden[2, 8:, 0] = NAN  # patient 2 after day 7
    data = cohort(
        [NAN, NAN, 7.5],  # patient 2 died at 7.5, found before the solver failed
        [[NAN, NAN], [3.0, NAN], [NAN, 7.5]],
        status=["successful", "max_steps reached", "non-finite state"],
        burden=burden,
    )
    km = kaplan_meier(data)
    assert km.attrs["n_solver_failed"] == 2
    death = km.sel(endpoint="death")
    # patient 1 censored at 5: at risk up to 5, not after; patient 2 dies at 7.5
    np.testing.assert_array_equal(death["at_risk"].values, [3] * 6 + [2, 2, 1, 1, 1])
    np.testing.assert_array_equal(death["censored"].values, [0] * 5 + [1] * 5 + [2])
    assert int(death["n_events"]) == 1
    liver = km.sel(endpoint="failure:liver")
    assert int(liver["n_events"]) == 1  # the failure at 3, before the solver failed
    # the patients of a failed solver can be left out by selecting first
    ok = kaplan_meier(data.isel(patient=data.solver_status == "successful"))
    assert ok.attrs["n_patients"] == 1 and ok.attrs["n_solver_failed"] == 0


def _exponential_cohort(n, *, seed, liver_mean, lung_mean, t1):
    """Liver failure (not lethal) and lung failure (lethal) at independent exponential times;
    the simulation ends at `t1`, so later times are not reached (NaN)."""
    rng = np.random.default_rng(seed)
    liver = rng.exponential(liver_mean, n)
    lung = rng.exponential(lung_mean, n)
    liver[liver > t1] = NAN
    lung[lung > t1] = NAN
    return cohort(lung, np.stack([liver, lung], axis=1), times=np.linspace(0.0, t1, 61))


def test_exponential_event_times_match_closed_form():
    km = kaplan_meier(
        _exponential_cohort(3000, seed=1, liver_mean=400.0, lung_mean=500.0, t1=600.0)
    )
    t = km["time"].values
    for endpoint, mean in (("death", 500.0), ("failure:liver", 400.0), ("failure:lung", 500.0)):
        curve = km.sel(endpoint=endpoint)
        truth = np.exp(-t / mean)
        s, low, high = (curve[v].values for v in ("survival", "survival_lower", "survival_upper"))
        assert np.all(low <= s + 1e-15) and np.all(s <= high + 1e-15)
        se = (high - low) / (2 * stats.norm.ppf(0.975))  # about the Greenwood standard error
        assert np.all(np.abs(s - truth) <= 4 * se + 1e-12), endpoint
    # median overall survival, 500 ln 2 = 346.6 days, inside its interval
    death = km.sel(endpoint="death")
    assert (
        float(death["median_time_lower"]) <= 500 * math.log(2) <= float(death["median_time_upper"])
    )
    assert float(death["median_time"]) == pytest.approx(500 * math.log(2), rel=0.08)
    # the liver's cause-specific curve is not the fraction failing: deaths censor it
    liver = km.sel(endpoint="failure:liver")
    events = int(liver["n_events"])
    assert 1 - float(liver["survival"][-1]) > events / 3000


def test_interval_coverage():
    # liver failure at Exp(1), death (lung) at Exp(mean 2) censors it; at t = ln 2 the
    # failure-free survival is 1/2. Pointwise 95% intervals cover it in about 95% of cohorts.
    truth_time = math.log(2.0)
    covered = []
    for seed in range(300):
        data = _exponential_cohort(60, seed=seed, liver_mean=1.0, lung_mean=2.0, t1=3.0)
        km = kaplan_meier(data, times=[truth_time])
        curve = km.sel(endpoint="failure:liver")
        covered.append(
            float(curve["survival_lower"][0]) <= 0.5 <= float(curve["survival_upper"][0])
        )
    rate = np.mean(covered)
    # binomial sd at 300 cohorts is 0.0126: accept 3 sd around 0.95
    assert 0.95 - 3 * 0.0126 <= rate <= 0.95 + 3 * 0.0126


def test_no_events_and_all_events():
    km = kaplan_meier(cohort([NAN, NAN], [[NAN, NAN], [NAN, NAN]]))
    np.testing.assert_array_equal(km["survival"].values, 1.0)
    np.testing.assert_array_equal(km["survival_lower"].values, 1.0)
    assert np.all(np.isnan(km["median_time"].values))
    km = kaplan_meier(cohort([2.0, 4.0], [[2.0, NAN], [4.0, NAN]]))
    liver = km.sel(endpoint="failure:liver")
    assert liver["survival"].values[-1] == 0.0
    assert liver["survival_lower"].values[-1] == 0.0  # trivially true bound
    assert np.isnan(liver["survival_upper"].values[-1])  # undefined at 0 (log-log)
    assert float(liver["median_time"]) == 2.0


# --- Causes of death ----------------------------------------------------------------------------


def wilson(k, n, confidence=0.95):
    """Wilson's score interval (Wilson, J Am Stat Assoc 1927; 22:209)."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return max(0.0, centre - half), min(1.0, centre + half)


def test_cause_of_death_shares_hand():
    shares = cause_of_death_shares(cohort(HAND_DEATH, HAND_FAILURE))
    assert isinstance(shares, pd.DataFrame)
    assert list(shares.index) == ["liver", "lung", "alive"]
    np.testing.assert_array_equal(shares["patients"].values, [2, 3, 1])
    np.testing.assert_allclose(shares["share"].values, [2 / 6, 3 / 6, 1 / 6])
    assert shares["share"].sum() == pytest.approx(1.0)
    for cause, row in shares.iterrows():
        low, high = wilson(row["patients"], 6)
        assert row["lower"] == pytest.approx(low, rel=1e-9, abs=1e-12), cause
        assert row["upper"] == pytest.approx(high, rel=1e-9), cause
    assert shares.attrs["n_patients"] == 6 and shares.attrs["follow_up"] == 10.0

    early = cause_of_death_shares(cohort(HAND_DEATH, HAND_FAILURE), follow_up=5.0)
    np.testing.assert_array_equal(early["patients"].values, [1, 2, 3])  # later deaths alive


def test_cause_of_death_rows():
    data = cohort(
        [4.0, NAN, 6.0, NAN],
        [[NAN, NAN], [NAN, NAN], [NAN, NAN], [NAN, NAN]],
        cause=["whole_body", "", "liver", ""],
        status=["successful", "successful", "successful", "diverged"],
        lethal=[True, False],
    )
    data["burden"][3, 5:, :] = NAN
    shares = cause_of_death_shares(data, confidence=0.9)
    # lung cannot kill (failure_lethal False); a death of whole_body listed; solver failure
    assert list(shares.index) == ["liver", "whole_body", "alive", "solver_failed"]
    np.testing.assert_array_equal(shares["patients"].values, [1, 1, 1, 1])
    low, high = wilson(1, 4, 0.9)
    assert shares.loc["alive", "lower"] == pytest.approx(low)
    assert shares.loc["alive", "upper"] == pytest.approx(high)
    # zero counts keep an informative upper bound
    none = cause_of_death_shares(cohort([NAN] * 20, np.full((20, 2), NAN)))
    assert none.loc["liver", "patients"] == 0
    assert none.loc["liver", "upper"] == pytest.approx(wilson(0, 20)[1])


def test_cause_of_death_shares_coverage_of_truth():
    # deaths of the lung with probability 1 - exp(-600/500); the interval covers it
    data = _exponential_cohort(2000, seed=4, liver_mean=400.0, lung_mean=500.0, t1=600.0)
    shares = cause_of_death_shares(data)
    truth = 1 - math.exp(-600 / 500)
    assert shares.loc["lung", "lower"] <= truth <= shares.loc["lung", "upper"]


# --- Time to visible metastasis ---------------------------------------------------------------


def agrees_with_stage(data, out, rules):
    """The first save at or after `visible_time` is the first one `stage` counts a lesion at."""
    times = data["time"].values
    organs = data.sizes["organ"]
    for p in range(data.sizes["patient"]):
        one = data.isel(patient=p).assign(
            warning_time=("organ", np.full(organs, NAN)),
            failure_time=("organ", np.full(organs, NAN)),
        )
        staged = stage(one, rules)
        for k in range(organs):
            counted = np.flatnonzero(staged["visible_metastases"].values[:, k] >= 1)
            t = out["visible_time"].values[p, k]
            if np.isnan(t):
                assert counted.size == 0
            else:
                assert times[counted[0]] == times[times >= t][0]


def test_time_to_visible_lumped_exponential():
    times = np.arange(0.0, 901.0, 30.0)
    b0 = np.array([[1.0, 10.0], [50.0, 1e-3], [2e8, 1.0]])  # (patient, organ) cells at day 0
    rate = np.array([[0.03, 0.02], [0.025, 0.001], [0.01, 0.04]])  # 1/day
    metastatic = b0[:, None, :] * np.exp(rate[:, None, :] * times[None, :, None])
    threshold = sphere_cells(5.0, 2e9)  # 1.3e8 cells
    data = cohort(
        [NAN, 400.0, NAN],
        np.full((3, 2), NAN),
        times=times,
        cause=["", "whole_body", ""],
        metastatic=metastatic,
        attrs={"parameters": json.dumps({"cell_density": 2e9})},
    )
    out = time_to_visible(data)
    # exact for exponential growth: x(t) = b0 exp(rate t) reaches the threshold at
    # log(threshold / b0) / rate (day 623 and 820; 591 and never; 0 and 467)
    expected = np.log(threshold / b0) / rate
    expected[expected > times[-1]] = NAN  # patient 1's lung: never within the run
    expected[2, 0] = 0.0  # already visible at the first save
    np.testing.assert_allclose(out["visible_time"].values, expected, rtol=1e-9)
    assert out.attrs["visible_diameter"] == 5.0
    assert "model's `cell_density`" in out.attrs["visibility"]
    assert list(out["endpoint"].values) == ["visible:liver", "visible:lung", "visible:any"]
    assert list(out["endpoint_organ"].values) == ["liver", "lung", "any"]
    assert out["visible_time"].attrs["units"] == "day"
    # patient 1's liver lesion (day 591) comes after their death (day 400): censored at 400
    assert expected[1, 0] > 400.0
    liver = out.sel(endpoint="visible:liver")
    assert int(liver["n_events"]) == 2
    assert int(liver["at_risk"].sel(time=390.0)) == 2  # patients 0 and 1
    assert int(liver["at_risk"].sel(time=420.0)) == 1  # patient 1 censored at death
    assert int(out.sel(endpoint="visible:any")["n_events"]) == 2  # patients 0 and 2
    assert float(out["survival"].sel(endpoint="visible:any", time=0.0)) == pytest.approx(2 / 3)
    agrees_with_stage(data, out, StagingRules())


def test_time_to_visible_cell_density_sources():
    times = np.arange(0.0, 101.0, 10.0)
    metastatic = np.exp(0.2 * times)[None, :, None] * np.ones((2, 1, 1))
    data = cohort(
        [NAN, NAN], np.full((2, 1), NAN), organs=("liver",), times=times, metastatic=metastatic
    )
    default = time_to_visible(data)  # 1e9 cells/mL
    expected = math.log(sphere_cells(5.0, 1e9)) / 0.2
    np.testing.assert_allclose(default["visible_time"].values, expected, rtol=1e-9)
    assert "default cell density" in default.attrs["visibility"]
    per_patient = data.assign(cell_density=("patient", [1e9, 1e8]))
    out = time_to_visible(per_patient, visible_diameter=3.0)
    expected = np.log(sphere_cells(3.0, np.array([1e9, 1e8]))) / 0.2
    np.testing.assert_allclose(out["visible_time"].values[:, 0], expected, rtol=1e-9)
    assert out.attrs["visible_diameter"] == 3.0
    # the layout of `simulate_cohort`: sampled values in `parameter_value` (patient, parameter)
    sampled = data.assign(
        parameter_value=(("patient", "parameter"), [[0.01, 1e9], [0.01, 1e8]])
    ).assign_coords(parameter=["liver.growth.rate", "cell_density"])
    out = time_to_visible(sampled, visible_diameter=3.0)
    np.testing.assert_allclose(out["visible_time"].values[:, 0], expected, rtol=1e-9)
    assert "sampled `cell_density`" in out.attrs["visibility"]


def test_time_to_visible_colonies_agrees_with_stage():
    times = np.arange(0.0, 301.0, 25.0)
    start = np.array([[40.0, 500.0], [NAN, 90.0], [-20.0, 260.0]])  # lesions appear from here
    slope = np.array([[0.01, 0.02], [0.0, 0.004], [0.03, 0.002]])  # expected lesions per day
    visible = np.nan_to_num(
        np.clip(slope[:, None, :] * (times[None, :, None] - start[:, None, :]), 0, None)
    )
    data = cohort(
        [NAN, NAN, NAN],
        np.full((3, 2), NAN),
        times=times,
        visible=visible,
        attrs={"options": json.dumps({"resolution": "Colonies", "visible_diameter": 4.0})},
    )
    out = time_to_visible(data)
    expected = start + 0.5 / np.where(slope > 0, slope, np.inf)
    expected[np.isnan(start) | (expected > times[-1])] = NAN
    expected[2, 0] = 0.0  # visible (0.6 expected lesions) at the first save
    np.testing.assert_allclose(out["visible_time"].values, expected, rtol=1e-12)
    assert out.attrs["visible_diameter"] == 4.0
    agrees_with_stage(data, out, StagingRules(visible_diameter=4.0))
    with pytest.raises(ValueError, match=r"counted `visible_lesions` at 4.0 mm"):
        time_to_visible(data, visible_diameter=5.0)


# --- Errors ------------------------------------------------------------------------------------

FUNCTIONS = [kaplan_meier, cause_of_death_shares, time_to_visible]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_needs_a_cohort(function):
    with pytest.raises(TypeError, match=r"needs the `xarray.Dataset` of a cohort"):
        function({"death_time": [1.0]})
    single = cohort(HAND_DEATH, HAND_FAILURE).isel(patient=0)
    with pytest.raises(ValueError, match=r"has no `patient` dimension.*expand_dims"):
        function(single)
    with pytest.raises(ValueError, match=r"the cohort has no patients"):
        function(cohort(HAND_DEATH, HAND_FAILURE).isel(patient=slice(0, 0)))
    with pytest.raises(ValueError, match=r"no `time` coordinate"):
        function(cohort(HAND_DEATH, HAND_FAILURE).drop_vars("time"))
    unsorted = cohort(HAND_DEATH, HAND_FAILURE, times=np.arange(11.0)[::-1])
    with pytest.raises(ValueError, match=r"`time` must be strictly increasing"):
        function(unsorted)
    for bad in (0.0, 1.0, 95):
        with pytest.raises(ValueError, match=r"confidence=...\)` must lie strictly between"):
            function(cohort(HAND_DEATH, HAND_FAILURE), confidence=bad)
    with pytest.raises(TypeError, match=r"confidence=...\)` must be a number"):
        function(cohort(HAND_DEATH, HAND_FAILURE), confidence="95%")
    with pytest.raises(ValueError, match=r"follow_up=...\)` must lie within the saved times"):
        function(cohort(HAND_DEATH, HAND_FAILURE), follow_up=11.0)
    with pytest.raises(TypeError, match=r"follow_up=...\)` must be a time in days"):
        function(cohort(HAND_DEATH, HAND_FAILURE), follow_up="end")


def test_missing_and_misshapen_variables():
    data = cohort(HAND_DEATH, HAND_FAILURE)
    with pytest.raises(ValueError, match=r"no variable `death_time`"):
        kaplan_meier(data.drop_vars("death_time"))
    with pytest.raises(ValueError, match=r"no variable `failure_time`"):
        kaplan_meier(data.drop_vars("failure_time"))
    with pytest.raises(ValueError, match=r"`failure_time` has dimensions \('patient',\)"):
        kaplan_meier(data.assign(failure_time=("patient", np.ones(6))))
    with pytest.raises(ValueError, match=r"no variable `cause_of_death`"):
        cause_of_death_shares(data.drop_vars("cause_of_death"))
    with pytest.raises(ValueError, match=r"neither `visible_lesions`.*nor `metastatic_burden`"):
        time_to_visible(data)
    failed = data.assign(solver_status=("patient", np.array(["diverged"] * 6, dtype=object)))
    with pytest.raises(ValueError, match=r"6 patients' solvers failed.*no `burden`"):
        kaplan_meier(failed.drop_vars("burden"))


def test_argument_errors():
    data = cohort(HAND_DEATH, HAND_FAILURE)
    with pytest.raises(ValueError, match=r"times=...\)` must be finite and strictly increasing"):
        kaplan_meier(data, times=[3.0, 1.0])
    with pytest.raises(ValueError, match=r"times=...\)` must be a non-empty 1-D array"):
        kaplan_meier(data, times=[[1.0]])
    with pytest.raises(TypeError, match=r"times=...\)` must be a 1-D array"):
        kaplan_meier(data, times=["a"])
    inconsistent = data.assign(
        cause_of_death=("patient", np.array(["liver", "", "", "", "", ""], dtype=object))
    )
    with pytest.raises(ValueError, match=r"patient 1 has death_time 3.0 but cause_of_death ''"):
        cause_of_death_shares(inconsistent)
    lumped = data.assign(metastatic_burden=data["burden"])
    with pytest.raises(ValueError, match=r"visible_diameter=...\)` must be a finite diameter > 0"):
        time_to_visible(lumped, visible_diameter=0.0)
    with pytest.raises(TypeError, match=r"visible_diameter=...\)` must be a diameter in mm"):
        time_to_visible(lumped, visible_diameter="5 mm")
