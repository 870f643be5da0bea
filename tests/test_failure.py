"""Threshold crossings located by root finding, against closed-form crossing times."""

import numpy as np
import pytest

import metaflow_ode as mfo

# Validation case V1 (Iwata, Kawasaki & Shigesada 2000): Gompertz a = 0.00286 /day,
# b = 7.3e10 cells, from 1 cell, reaches 1e10 cells at t = 885.44 d.
A, B = 0.00286, 7.3e10


def gompertz_crossing(level, x0=1.0):
    return -np.log(np.log(level / B) / np.log(x0 / B)) / A


def test_iwata_primary_reaches_1e10_at_885_44_days():
    exact = gompertz_crossing(1e10)
    assert abs(exact - 885.44) < 5e-3  # the published figure, independently
    model = mfo.Model(
        [mfo.Organ("liver", mfo.Gompertz(A, B), primary=True, failure=mfo.Failure(burden=1e10))],
        lethal_burden=None,
    )
    # Coarse save grid on purpose: the crossing must not be read off it.
    ds = mfo.simulate(model, 1500.0, saveat=mfo.every(100.0), rtol=1e-12, atol=1e-6)
    assert abs(float(ds.failure_time.sel(organ="liver")) - exact) < 1e-6
    assert abs(float(ds.warning_time.sel(organ="liver")) - gompertz_crossing(5e9)) < 1e-6
    assert str(ds.cause_of_death.values) == "liver"
    assert float(ds.death_time) == float(ds.failure_time.sel(organ="liver"))


@pytest.fixture(scope="module")
def two_organ_exponential():
    # Primary grows exponentially and sends nothing; the liver starts with a given burden.
    return mfo.Model(
        [
            mfo.Organ(
                "primary_site",
                mfo.Exponential(0.01),
                primary=True,
                initial=1e6,
                volume=100.0,
                failure=mfo.Failure(replaced_fraction=0.5, warning=0.1),
            ),
            mfo.Organ(
                "liver",
                mfo.Exponential(0.02),
                initial=1e5,
                volume=1800.0,
                failure=mfo.Failure(burden=1e9, replaced_fraction=0.8),
            ),
        ],
        lethal_burden=2e11,
    )


def test_exponential_crossings_and_cause_of_death(two_organ_exponential):
    ds = mfo.simulate(two_organ_exponential, 2000.0, saveat=mfo.every(250.0), rtol=1e-12, atol=1e-6)
    # replaced fraction 0.5 of 100 mL at 1e9 cells/mL = 5e10 cells; warning at 10 % of that.
    np.testing.assert_allclose(
        ds.failure_time.values,
        [np.log(5e10 / 1e6) / 0.01, np.log(1e9 / 1e5) / 0.02],  # liver: burden 1e9 < 0.8*1.8e12
        atol=1e-6,
    )
    np.testing.assert_allclose(
        ds.warning_time.values,
        [np.log(5e9 / 1e6) / 0.01, np.log(5e8 / 1e5) / 0.02],
        atol=1e-6,
    )
    # Whole body: 1e6 e^{0.01 t} + 1e5 e^{0.02 t} = 2e11, solved by scipy independently.
    from scipy.optimize import brentq

    lethal = brentq(
        lambda t: 1e6 * np.exp(0.01 * t) + 1e5 * np.exp(0.02 * t) - 2e11, 0, 2000, xtol=1e-12
    )
    assert abs(float(ds.lethal_burden_time) - lethal) < 1e-6
    first = min(ds.failure_time.min().item(), lethal)
    assert float(ds.death_time) == pytest.approx(first, abs=1e-9)
    assert str(ds.cause_of_death.values) == "liver"


def test_new_thresholds_do_not_recompile(two_organ_exponential):
    from metaflow_ode import _simulate

    mfo.simulate(two_organ_exponential, 2000.0, saveat=mfo.every(250.0))
    before = _simulate._trace_count
    changed = two_organ_exponential.with_parameters(
        {"liver.failure.burden": 2e9, "lethal_burden": 5e11, "liver.growth.rate": 0.03}
    )
    ds = mfo.simulate(changed, 2000.0, saveat=mfo.every(250.0))
    assert _simulate._trace_count == before
    assert float(ds.failure_time.sel(organ="liver")) == pytest.approx(
        np.log(2e9 / 1e5) / 0.03, abs=1e-4
    )


def test_no_crossing_gives_nan(two_organ_exponential):
    ds = mfo.simulate(two_organ_exponential, 100.0)
    assert np.all(np.isnan(ds.failure_time.values))
    assert np.isnan(float(ds.death_time))
    assert str(ds.cause_of_death.values) == ""


@pytest.mark.parametrize("t1", [300.0, 800.0, 1500.0])
def test_state_saved_at_t1_is_exact_with_and_without_crossings(t1):
    # Regression: with threshold criteria the solve runs in segments; the save at exactly t1
    # must hold the state at t1, whether no crossing (t1 = 300), one (800) or both (1500)
    # happened before it, and the empty segments after t1 must not overwrite it.
    model = mfo.Model(
        [mfo.Organ("liver", mfo.Gompertz(A, B), primary=True, failure=mfo.Failure(burden=1e10))],
        lethal_burden=None,
    )
    exact = lambda t: B * np.exp(np.log(1.0 / B) * np.exp(-A * t))  # noqa: E731
    for saveat in (mfo.at([t1]), mfo.at([t1 / 3, t1]), mfo.every(t1 / 4)):
        ds = mfo.simulate(model, t1, saveat=saveat, rtol=1e-12, atol=1e-6)
        got = ds.primary_burden.values
        np.testing.assert_allclose(got, exact(ds.time.values), rtol=1e-7)
