"""Cavity fluid volumes (ascites, effusion, tamponade, hydrocephalus) and the reserve criterion.

Every expected value is a closed form of the fluid equation
`dV/dt = p + s S(t) - (p / V0) V / (1 + B / h)`, or an independent scipy solution of it.
With `S = S0 exp(r t)` and constant `B`, `k = (p / V0) / (1 + B / h)`:

    V(t)  = p/k + (V0 - p/k) exp(-k t) + s S0 (exp(r t) - exp(-k t)) / (r + k)
    V'(t) = -k (V0 - p/k) exp(-k t) + s S0 (r exp(r t) + k exp(-k t)) / (r + k)
"""

import jax
import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

import metaflow_ode as mfo
from metaflow_ode import _simulate

V0, P, S_PER_CELL, H = 50.0, 50.0, 1e-8, 1e9
S0, R, B = 1e8, 0.01, 1e8
V_FAIL, RATE_FAIL = 3000.0, 20.0
TOL = dict(rtol=1e-12, atol=1e-9)


def volume(t, *, s0=S0, r=R, b=B, s=S_PER_CELL):
    k = P / V0 / (1 + b / H)
    return (
        P / k + (V0 - P / k) * np.exp(-k * t) + s * s0 * (np.exp(r * t) - np.exp(-k * t)) / (r + k)
    )


def rate(t, *, s0=S0, r=R, b=B, s=S_PER_CELL):
    k = P / V0 / (1 + b / H)
    return -k * (V0 - P / k) * np.exp(-k * t) + s * s0 * (
        r * np.exp(r * t) + k * np.exp(-k * t)
    ) / (r + k)


def crossing(f, level, t1=5000.0):
    return brentq(lambda t: f(t) - level, 0.0, t1, xtol=1e-13, rtol=1e-15)


def cavity_model(growth=None, *, failure=True):
    """A serosa (the primary, sending nothing) lining a cavity whose drainage a second organ
    of constant burden obstructs."""
    return mfo.Model(
        [
            mfo.Organ(
                "serosa",
                mfo.Exponential(R) if growth is None else growth,
                primary=True,
                initial=S0,
                failure=mfo.Failure(
                    fluid_volume=V_FAIL,
                    fluid_rate=RATE_FAIL,
                    labels={"fluid_volume": "ascites", "fluid_rate": "tamponade"},
                )
                if failure
                else None,
            ),
            mfo.Organ("blocker", mfo.Exponential(0.0), initial=B),
        ],
        [
            mfo.Carrier(
                "cavity",
                mfo.IntraCavity,
                clearance=1.0,
                fluid=mfo.Fluid(
                    V0,
                    P,
                    secretion=S_PER_CELL,
                    obstruction=H,
                    lining="serosa",
                    obstructed_by="blocker",
                ),
            )
        ],
        lethal_burden=None,
    )


@pytest.fixture(scope="module")
def model():
    return cavity_model()


def test_fluid_volume_and_rate_follow_the_closed_form(model):
    ds = mfo.simulate(model, 700.0, saveat=mfo.every(100.0), **TOL)
    t = ds.time.values
    np.testing.assert_allclose(ds.fluid_volume.sel(carrier="cavity"), volume(t), rtol=1e-9)
    np.testing.assert_allclose(ds.fluid_rate.sel(carrier="cavity"), rate(t), rtol=1e-8)
    assert ds.fluid_volume.attrs["units"] == "mL"


def test_tamponade_and_ascites_crossings_within_1e_6_days(model):
    ds = mfo.simulate(model, 1000.0, saveat=mfo.every(250.0), **TOL)
    by = ds.failure_time_by_mechanism.sel(organ="serosa")
    warn = ds.warning_time_by_mechanism.sel(organ="serosa")
    t_rate, t_volume = crossing(rate, RATE_FAIL), crossing(volume, V_FAIL)
    assert t_rate < t_volume  # the rate criterion comes first with these numbers
    assert abs(float(by.sel(mechanism="fluid_rate")) - t_rate) < 1e-6
    assert abs(float(by.sel(mechanism="fluid_volume")) - t_volume) < 1e-6
    # warnings: half the rate; halfway from the baseline volume to the failure volume
    assert abs(float(warn.sel(mechanism="fluid_rate")) - crossing(rate, RATE_FAIL / 2)) < 1e-6
    half_volume = V0 + 0.5 * (V_FAIL - V0)
    assert abs(float(warn.sel(mechanism="fluid_volume")) - crossing(volume, half_volume)) < 1e-6
    assert str(ds.cause_of_death.values) == "serosa"
    assert str(ds.death_mechanism.values) == "fluid_rate"
    assert str(ds.death_condition.values) == "tamponade"
    assert float(ds.death_time) == pytest.approx(t_rate, abs=1e-6)


def test_obstruction_alone_raises_the_steady_volume_without_recompiling(model):
    # No secretion and no growth: only the obstructed drainage moves the volume, to
    # V0 (1 + B / h) = 55 mL. New numbers reuse the compiled solve.
    _simulate._trace_count = 0
    model.with_parameters({"cavity.fluid.secretion": 0.0})  # warm the checks
    quiet = model.with_parameters({"cavity.fluid.secretion": 0.0, "serosa.growth.rate": 0.0})
    mfo.simulate(model, 1000.0, saveat=mfo.every(250.0), **TOL)
    traces = _simulate._trace_count
    ds = mfo.simulate(quiet, 1000.0, saveat=mfo.every(250.0), **TOL)
    assert _simulate._trace_count == traces
    k = P / V0 / (1 + B / H)
    expected = V0 * (1 + B / H) + (V0 - V0 * (1 + B / H)) * np.exp(-k * ds.time.values)
    np.testing.assert_allclose(ds.fluid_volume.sel(carrier="cavity"), expected, rtol=1e-10)
    assert np.isnan(float(ds.death_time))


def test_gompertz_serosa_crossing_against_an_independent_scipy_solve():
    a, cap = 0.01, 1e12
    model = cavity_model(mfo.Gompertz(a, cap))

    def serosa(t):
        return cap * np.exp(np.log(S0 / cap) * np.exp(-a * t))

    k = P / V0 / (1 + B / H)
    ref = solve_ivp(
        lambda t, v: P + S_PER_CELL * serosa(t) - k * v,
        (0.0, 2000.0),
        [V0],
        method="DOP853",
        rtol=1e-13,
        atol=1e-10,
        dense_output=True,
    )
    t_volume = brentq(lambda t: ref.sol(t)[0] - V_FAIL, 0.0, 2000.0, xtol=1e-13)

    def excess_rate(t):
        return P + S_PER_CELL * serosa(t) - k * ref.sol(t)[0] - RATE_FAIL

    grid = np.linspace(0.0, 2000.0, 2001)
    first = np.argmax([excess_rate(t) > 0 for t in grid])  # the rate rises, then falls
    t_rate = brentq(excess_rate, grid[first - 1], grid[first], xtol=1e-13)
    ds = mfo.simulate(model, 2000.0, saveat=mfo.every(500.0), **TOL)
    by = ds.failure_time_by_mechanism.sel(organ="serosa")
    assert abs(float(by.sel(mechanism="fluid_volume")) - t_volume) < 1e-6
    assert abs(float(by.sel(mechanism="fluid_rate")) - t_rate) < 1e-6


def test_monro_kellie_reserve_and_hydrocephalus():
    # A brain lesion grows exponentially while leptomeningeal tumour (constant) obstructs CSF
    # absorption. Reserve used = brain tumour volume + CSF excess over baseline, in mL:
    #   u(t) = x0 exp(r t) / density + V0 (b / h) (1 - exp(-k t)),  k = (p / V0) / (1 + b / h).
    csf_v0, csf_p, h, b, x0, r, reserve = 150.0, 500.0, 1e8, 3e7, 1e9, 0.02, 75.0
    density = 1e9
    hydro = 180.0  # CSF volume of hydrocephalus, mL
    model = mfo.Model(
        [
            mfo.Organ(
                "brain",
                mfo.Exponential(r),
                primary=True,
                initial=x0,
                failure=mfo.Failure(reserve=reserve, fluid="csf", labels={"reserve": "herniation"}),
            ),
            mfo.Organ(
                "leptomeninges",
                mfo.Exponential(0.0),
                initial=b,
                failure=mfo.Failure(fluid_volume=hydro, labels={"fluid_volume": "hydrocephalus"}),
            ),
        ],
        [
            mfo.Carrier(
                "csf",
                mfo.IntraCavity,
                clearance=1.0,
                fluid=mfo.Fluid(
                    csf_v0,
                    csf_p,
                    obstruction=h,
                    lining="leptomeninges",
                    obstructed_by="leptomeninges",
                ),
            )
        ],
        cell_density=density,
        lethal_burden=None,
    )
    k = csf_p / csf_v0 / (1 + b / h)

    def excess(t):
        return csf_v0 * (b / h) * (1 - np.exp(-k * t))

    def used(t):
        return x0 * np.exp(r * t) / density + excess(t)

    ds = mfo.simulate(model, 400.0, saveat=mfo.every(100.0), **TOL)
    t_reserve = crossing(used, reserve, 400.0)
    t_hydro = crossing(lambda t: csf_v0 + excess(t), hydro, 400.0)
    assert abs(float(ds.failure_time.sel(organ="brain")) - t_reserve) < 1e-6
    assert abs(float(ds.failure_time.sel(organ="leptomeninges")) - t_hydro) < 1e-6
    assert float(ds.warning_time.sel(organ="brain")) == pytest.approx(
        crossing(used, reserve / 2, 400.0), abs=1e-6
    )
    assert str(ds.death_condition.values) == "hydrocephalus"  # t_hydro < t_reserve here
    assert t_hydro < t_reserve


def test_fluid_state_under_the_colonies_fidelity():
    # The primary lines the cavity; with emission m x (exponent 1) it grows at r - m exactly.
    m = 1e-4
    model = mfo.Model(
        [
            mfo.Organ("serosa", mfo.Exponential(R), mfo.PowerLaw(m, 1.0), primary=True, initial=S0),
            mfo.Organ("liver", mfo.Exponential(0.05)),
        ],
        [
            mfo.Carrier(
                "cavity",
                mfo.IntraCavity,
                clearance=1.0,
                fluid=mfo.Fluid(V0, P, secretion=S_PER_CELL, lining="serosa"),
            )
        ],
        [mfo.Transfer("serosa", "liver", kind=mfo.Haematogenous, efficiency=1e-3)],
        lethal_burden=None,
    )
    ds = mfo.simulate(
        model, 300.0, saveat=mfo.every(100.0), resolution=mfo.Colonies(windows=8), rtol=1e-10
    )
    expected = volume(ds.time.values, r=R - m, b=0.0)
    np.testing.assert_allclose(ds.fluid_volume.sel(carrier="cavity"), expected, rtol=1e-7)


def test_fluid_under_jit_and_grad():
    model = cavity_model(failure=False)  # no criteria: a single solve to differentiate

    def final_volume(secretion):
        m = model.with_parameters({"cavity.fluid.secretion": secretion})
        sol = mfo.solve(m, 100.0, saveat=mfo.at([100.0]), **TOL)
        return sol.fluid_volume[-1, 0]

    value, grad = jax.value_and_grad(final_volume)(S_PER_CELL)
    k = P / V0 / (1 + B / H)
    dv_ds = S0 * (np.exp(R * 100.0) - np.exp(-k * 100.0)) / (R + k)
    assert float(value) == pytest.approx(volume(100.0), rel=1e-9)
    assert float(grad) == pytest.approx(dv_ds, rel=1e-6)


# --- validation ----------------------------------------------------------------------------


def _cavity(**fluid):
    return mfo.Carrier("cavity", mfo.IntraCavity, clearance=1.0, fluid=mfo.Fluid(**fluid))


def _organs(failure=None):
    return [mfo.Organ("serosa", mfo.Exponential(0.01), primary=True, failure=failure)]


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: mfo.Fluid(0.0, 1.0), ValueError, r"Fluid\(volume=...\)"),
        (lambda: mfo.Fluid(10.0, -1.0), ValueError, r"Fluid\(production=...\)"),
        (lambda: mfo.Fluid(10.0, 1.0, obstruction=1e9), ValueError, "needs `obstructed_by=`"),
        (lambda: mfo.Fluid(10.0, 1.0, obstructed_by="x"), ValueError, "needs `obstruction=`"),
        (lambda: mfo.Fluid(10.0, 1.0, secretion=1e-9), ValueError, "needs `lining=`"),
        (lambda: mfo.Fluid(10.0, 1.0, lining=3), TypeError, "list of names"),
        (
            lambda: mfo.Model(_organs(), [_cavity(volume=10.0, production=1.0, lining="liver")]),
            ValueError,
            "'liver' is not an organ",
        ),
        (
            lambda: mfo.Model(_organs(mfo.Failure(fluid_volume=100.0))),
            ValueError,
            "needs one cavity fluid",
        ),
        (
            lambda: mfo.Model(
                _organs(mfo.Failure(fluid_volume=5.0)),
                [_cavity(volume=10.0, production=1.0, lining="serosa")],
            ),
            ValueError,
            "must exceed the baseline volume",
        ),
        (
            lambda: mfo.Model(
                _organs(mfo.Failure(reserve=5.0, fluid="blood")),
                [mfo.Carrier("blood", mfo.Haematogenous, clearance=1.0)],
            ),
            ValueError,
            "has no fluid volume",
        ),
        (lambda: mfo.Failure(burden=1e9, labels={"ascites": "x"}), ValueError, "not mechanisms"),
        (
            lambda: mfo.Failure(burden=1e9, labels={"fluid_volume": "ascites"}),
            ValueError,
            "no criterion for",
        ),
        (
            lambda: mfo.Carrier("c", mfo.IntraCavity, clearance=1.0, fluid=10.0),
            TypeError,
            "must be a `Fluid` instance",
        ),
    ],
)
def test_bad_input_is_rejected_at_construction(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_fluid_parameters_are_listed_with_units(model):
    table = mfo.parameters(model)
    assert table.loc["cavity.fluid.production", "units"] == "mL/day"
    assert table.loc["serosa.failure.fluid_rate", "units"] == "mL/day"
    with pytest.raises(ValueError, match="must exceed the baseline"):
        model.with_parameters({"serosa.failure.fluid_volume": 40.0})
