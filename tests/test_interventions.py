"""Interventions against closed forms, matrix exponentials and a renewal solver.

References: the V2 closed form (Benzekry et al. 2021; ../shared/REFERENCES.md) with the
primary's emission cut at the resection time, the renewal equations of tests/renewal.py, the
matrix exponential of the linear model of tests/test_linear.py per therapy segment, and the
closed-form relaxation of a fluid volume.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from scipy import integrate, optimize

import metaflow_ode as mfo
from metaflow_ode import _simulate as simulate_module
from metaflow_ode.parameter_sets import Benzekry2021
from renewal import renewal
from test_linear import build_model, system_matrix

A, MU = Benzekry2021.RATE, Benzekry2021.MU
V2 = Benzekry2021.model()
T_CUT = 30.0
TIMES = np.array([10.0, 20.0, 30.0, 40.0, 50.0, 60.0])


def colonies_closed_form(t, T):
    """Colonies founded by `t` when the primary (e^{A t}) emitting MU x is removed at T."""
    return MU * np.expm1(A * np.minimum(t, T)) / A


def burden_closed_form(t, T):
    """Metastatic cells at t: colonies born at tau < min(t, T) each grown to e^{A (t - tau)}."""
    return MU * np.minimum(t, T) * np.exp(A * t)


# --- resection ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "resolution, rtol",
    [(mfo.Lumped(), 1e-7), (mfo.Colonies(windows=60), 1e-4)],
    ids=["lumped", "colonies"],
)
def test_resection_of_the_v2_primary_against_the_closed_form(resolution, rtol):
    # The colonies burden is a Gauss quadrature over birth windows: rtol 1e-4 as for V2 without
    # resection (../shared/REFERENCES.md). The cut at 30 d lies on a window edge of
    # Colonies(windows=60) over [0, 60]; a source switched off inside a window is projected
    # onto the window's polynomial (see Resection).
    ds = mfo.simulate(
        V2,
        60.0,
        saveat=mfo.at(TIMES),
        resolution=resolution,
        interventions=[mfo.Resection("adrenal", T_CUT)],
        rtol=1e-10,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        ds.colonies.sel(organ="distant").sum("origin"),
        colonies_closed_form(TIMES, T_CUT),
        rtol=1e-7,
    )
    np.testing.assert_allclose(
        ds.metastatic_burden.sel(organ="distant"), burden_closed_form(TIMES, T_CUT), rtol=rtol
    )
    primary = np.where(TIMES < T_CUT, np.exp(A * TIMES), 0.0)
    np.testing.assert_allclose(ds.primary_burden, primary, rtol=1e-7)
    assert float(ds.intervention_time.sel(intervention="Resection(adrenal)", occurrence=0)) == 30


def test_resection_inside_a_birth_window_keeps_the_count_exact():
    # The colony count is a plain integral of the seeding rate: exact wherever the cut falls.
    T = 33.3
    ds = mfo.simulate(
        V2,
        60.0,
        saveat=mfo.at(TIMES),
        resolution=mfo.Colonies(windows=60),
        interventions=[mfo.Resection("adrenal", T)],
        rtol=1e-10,
        atol=1e-10,
    )
    np.testing.assert_allclose(
        ds.colonies.sel(organ="distant").sum("origin"), colonies_closed_form(TIMES, T), rtol=1e-7
    )
    # visible lesions: colonies older than the visibility age (51.928 d in V2) at t = 60 d
    visible_age = np.log(mfo.Colonies().visible_cells(1e9)) / A
    expected = colonies_closed_form(60.0 - visible_age, T)
    np.testing.assert_allclose(ds.visible_lesions.sel(organ="distant", time=60.0), expected, 1e-3)


def secondary_model(mu2=2e-3):
    """V2 with secondary dissemination: metastases shed mu2 x, all of it re-seeding."""
    return mfo.Model(
        [
            mfo.Organ("adrenal", mfo.Exponential(A + MU), mfo.PowerLaw(MU, 1.0), primary=True),
            mfo.Organ("distant", mfo.Exponential(A), mfo.PowerLaw(mu2, 1.0)),
        ],
        transfers=[
            mfo.Transfer("adrenal", "distant", kind=mfo.Haematogenous),
            mfo.Transfer("distant", "distant", kind=mfo.IntraOrgan),
        ],
        lethal_burden=None,
    )


@pytest.mark.parametrize(
    "resolution", [mfo.Lumped(), mfo.Colonies(windows=60)], ids=["lumped", "colonies"]
)
def test_resection_with_secondary_dissemination_against_a_renewal_solution(resolution):
    mu2 = 2e-3
    times = np.array([20.0, 35.0, 45.0, 60.0])  # not at T itself, where the reference jumps
    ds = mfo.simulate(
        secondary_model(mu2),
        60.0,
        saveat=mfo.at(times),
        resolution=resolution,
        interventions=[mfo.Resection("adrenal", T_CUT)],
        rtol=1e-10,
        atol=1e-10,
    )

    def primary_emission(t):
        # the source is cut at T: on the grid point T itself the mean of the one-sided values,
        # so that the trapezoidal rule stays second order across the jump
        e = MU * np.exp(A * t)
        return np.where(t < T_CUT, e, np.where(t == T_CUT, 0.5 * e, 0.0))

    net = A - mu2  # a colony sheds what it emits
    ref = renewal(
        times,
        primary_emission,
        np.array([1.0]),
        np.array([[1.0]]),
        lambda a: (mu2 * np.exp(net * a))[None, :],
        lambda a: np.exp(net * a)[None, :],
        dt=0.05,
    )
    distant = ds.sel(organ="distant")
    np.testing.assert_allclose(distant.colonies.sum("origin"), ref["N"][0], rtol=2e-5)
    np.testing.assert_allclose(distant.metastatic_burden, ref["M"][0], rtol=2e-5)
    # after the cut the primary founds no more colonies
    after = distant.colonies.sel(origin="primary", time=[45.0, 60.0]).values
    np.testing.assert_allclose(after, colonies_closed_form(T_CUT, T_CUT), rtol=1e-7)


# --- local ablation and iatrogenic spill --------------------------------------------------------


def test_local_ablation_scales_the_metastases_and_spares_the_primary():
    phi, T = 0.9, 40.0
    ds = mfo.simulate(
        V2,
        60.0,
        saveat=mfo.at(TIMES),
        interventions=[mfo.LocalAblation("distant", T, phi)],
        rtol=1e-10,
        atol=1e-10,
    )
    t = TIMES
    kept = np.where(t < T, MU * t, (1 - phi) * MU * T + MU * (t - T)) * np.exp(A * t)
    np.testing.assert_allclose(ds.metastatic_burden.sel(organ="distant"), kept, rtol=1e-7)
    np.testing.assert_allclose(ds.primary_burden, np.exp(A * t), rtol=1e-7)


def test_ablation_of_visible_lesions_spares_the_micrometastases():
    # Colonies of V2 are visible from the age A_vis = ln(6.545e7) / A = 51.93 d. Ablating the
    # visible ones at T = A_vis + 3 destroys the colonies born before 3 d (a window edge of
    # Colonies(windows=60) over [0, 60], so birth nodes resolve it exactly); those born later
    # grow on: at 60 d the visible ones were born in (3, 60 - A_vis], the burden in (3, 60].
    visible_age = np.log(mfo.Colonies().visible_cells(1e9)) / A
    T = visible_age + 3.0
    ds = mfo.simulate(
        V2,
        60.0,
        saveat=mfo.at([T, 60.0]),
        resolution=mfo.Colonies(windows=60),
        interventions=[mfo.LocalAblation("distant", T, visible_only=True)],
        rtol=1e-10,
        atol=1e-10,
    )
    distant = ds.sel(organ="distant")
    born = lambda lo, hi: MU * (np.exp(A * hi) - np.exp(A * lo)) / A  # noqa: E731
    assert float(distant.visible_lesions.sel(time=T)) == pytest.approx(0.0, abs=1e-9)
    # counts inside a birth window come from the window's polynomial: 2.4e-4 relative error
    # here with or without ablation, within the rtol 1e-3 of the V1 counts
    assert float(distant.visible_lesions.sel(time=60.0)) == pytest.approx(
        born(3.0, 60.0 - visible_age), rel=1e-3
    )
    assert float(distant.metastatic_burden.sel(time=60.0)) == pytest.approx(
        MU * (60.0 - 3.0) * np.exp(A * 60.0), rel=1e-4
    )
    with pytest.raises(ValueError, match=r"visible_only=True\)` needs lesions"):
        mfo.simulate(V2, 60.0, interventions=[mfo.LocalAblation("distant", T, visible_only=True)])


def test_ablation_of_visible_lesions_under_therapy_reads_the_treated_sizes():
    # As above, with the metastases killed at 0.2/day over [30, 45): a colony born at tau is
    # visible at t >= 45 when A (t - tau) - 3 >= ln(6.545e7). At T = 3 + (ln S + 3) / A =
    # 63.58 d the visible colonies are those born before 3 d (a window edge of
    # Colonies(windows=80) over [0, 80]); at 80 d those born in (3, 80 - (ln S + 3) / A].
    log_cells = np.log(mfo.Colonies().visible_cells(1e9))
    shift = (log_cells + 3.0) / A
    T = 3.0 + shift
    ds = mfo.simulate(
        V2,
        80.0,
        saveat=mfo.at([T, 80.0]),
        resolution=mfo.Colonies(windows=80),
        interventions=[
            mfo.SystemicTherapy(30.0, 45.0, mfo.KillRate(0.2), organs=["distant"]),
            mfo.LocalAblation("distant", T, visible_only=True),
        ],
        rtol=1e-10,
        atol=1e-10,
    )
    distant = ds.sel(organ="distant")
    born = lambda lo, hi: MU * (np.exp(A * hi) - np.exp(A * lo)) / A  # noqa: E731
    assert float(distant.visible_lesions.sel(time=T)) == pytest.approx(0.0, abs=1e-6)
    assert float(distant.visible_lesions.sel(time=80.0)) == pytest.approx(
        born(3.0, 80.0 - shift), rel=1e-3
    )
    # burden: MU e^{80 A} times int_3^80 e^{-0.2 overlap}: 27 e^-3 + (1 - e^-3) / 0.2 + 35
    kept = 27.0 * np.exp(-3.0) + -np.expm1(-3.0) / 0.2 + 35.0
    assert float(distant.metastatic_burden.sel(time=80.0)) == pytest.approx(
        MU * np.exp(A * 80.0) * kept, rel=1e-4
    )


def test_spill_into_an_organ_founds_a_colony_per_displaced_cell():
    f, T = 1e-3, 20.0
    ds = mfo.simulate(
        V2,
        60.0,
        saveat=mfo.at(TIMES),
        interventions=[mfo.IatrogenicSpill("adrenal", "distant", T, f)],
        rtol=1e-10,
        atol=1e-10,
    )
    t = TIMES
    P_T = np.exp(A * T)
    late = t >= T
    colonies = np.where(
        late,
        colonies_closed_form(T, T) + f * P_T + (1 - f) * MU * (np.exp(A * t) - P_T) / A,
        colonies_closed_form(t, T),
    )
    burden = np.where(
        late,
        (MU * T + f + (1 - f) * MU * (t - T)) * np.exp(A * t),
        MU * t * np.exp(A * t),
    )
    distant = ds.sel(organ="distant")
    np.testing.assert_allclose(distant.colonies.sum("origin"), colonies, rtol=1e-7)
    np.testing.assert_allclose(distant.metastatic_burden, burden, rtol=1e-7)
    np.testing.assert_allclose(ds.primary_burden, np.exp(A * t) * np.where(late, 1 - f, 1), 1e-7)


def test_spill_in_the_colonies_fidelity_founds_colonies_at_the_spill_time():
    # As above, in the colonies fidelity with a visible size of 0.1 mm (523 cells, reached at
    # age A = 18.04 d), so the spilled colonies become visible inside the run. The point mass
    # of births sits on the birth nodes around T (non-negative weights): counts never go
    # negative, and visible counts and burden follow the closed forms once T is a few node
    # spacings behind.
    f, T = 1e-3, 20.99
    times = np.arange(21.0, 60.01, 0.25)
    resolution = mfo.Colonies(windows=60, visible_diameter=0.1)
    ds = mfo.simulate(
        V2,
        60.0,
        saveat=mfo.at(times),
        resolution=resolution,
        interventions=[mfo.IatrogenicSpill("adrenal", "distant", T, f)],
        rtol=1e-10,
        atol=1e-10,
    )
    distant = ds.sel(organ="distant")
    visible, colonies = distant.visible_lesions.values, distant.colonies.sum("origin").values
    assert visible.min() >= 0 and np.all(visible <= colonies * (1 + 1e-9))
    age = np.log(resolution.visible_cells(1e9)) / A
    P_T = np.exp(A * T)
    later = times >= 45.0
    born = times[later] - age  # visible colonies were born before this (all after T here)
    expected_visible = (
        colonies_closed_form(T, T) + f * P_T + (1 - f) * MU * (np.exp(A * born) - P_T) / A
    )
    np.testing.assert_allclose(visible[later], expected_visible, rtol=1e-3)
    burden = (MU * T + f + (1 - f) * MU * (times - T)) * np.exp(A * times)
    np.testing.assert_allclose(
        distant.metastatic_burden.values[times >= 23.0], burden[times >= 23.0], rtol=1e-3
    )


def test_jumps_at_the_same_time_apply_in_the_order_given():
    # Spill then resect: the spilled cells found colonies; resect then spill: nothing is left
    # to spill. Closed forms as above.
    f, T = 1e-2, 20.0
    spill = mfo.IatrogenicSpill("adrenal", "distant", T, f)
    resect = mfo.Resection("adrenal", T)
    counts = {}
    for name, order in (("spill first", [spill, resect]), ("resect first", [resect, spill])):
        ds = mfo.simulate(
            V2, 40.0, saveat=mfo.at([40.0]), interventions=order, rtol=1e-10, atol=1e-10
        )
        counts[name] = float(ds.colonies.sel(organ="distant").sum("origin")[-1])
    assert counts["spill first"] == pytest.approx(
        colonies_closed_form(T, T) + f * np.exp(A * T), rel=1e-7
    )
    assert counts["resect first"] == pytest.approx(colonies_closed_form(T, T), rel=1e-7)


def blood_model():
    """adrenal -> blood (clearance k) -> distant (rate r, efficiency eta)."""
    return mfo.Model(
        [
            mfo.Organ("adrenal", mfo.Exponential(A + MU), mfo.PowerLaw(MU, 1.0), primary=True),
            mfo.Organ("distant", mfo.Exponential(A)),
        ],
        carriers=[mfo.Carrier("blood", mfo.Haematogenous, clearance=6.0)],
        transfers=[
            mfo.Transfer("adrenal", "blood", kind=mfo.Haematogenous),
            mfo.Transfer("blood", "distant", kind=mfo.Haematogenous, rate=4.0, efficiency=0.25),
        ],
        lethal_burden=None,
    )


@pytest.mark.parametrize("eliminate", [True, False], ids=["eliminated", "dynamic"])
def test_spill_into_a_carrier_is_delivered_by_its_absorbing_chain(eliminate):
    # Spill a fraction f of the primary into the blood at T, then resect it. Every cell that
    # ever entered the blood colonises with probability eta r / (k + r) = 0.1; after 10 days
    # (100 transit times) the dynamic carrier has delivered everything up to e^-100.
    f, T, share = 0.01, 20.0, 0.25 * 4.0 / 10.0
    ds = mfo.simulate(
        blood_model(),
        40.0,
        saveat=mfo.at([30.0, 40.0]),
        resolution=mfo.Lumped(eliminate_carriers=eliminate),
        interventions=[
            mfo.IatrogenicSpill("adrenal", "blood", T, f),
            mfo.Resection("adrenal", T),
        ],
        rtol=1e-11,
        atol=1e-11,
    )
    entered = MU * np.expm1(A * T) / A + f * np.exp(A * T)
    np.testing.assert_allclose(
        ds.colonies.sel(organ="distant").sum("origin"), share * entered, rtol=1e-7
    )


# --- systemic and intrathecal therapy in the linear model ---------------------------------------


def test_systemic_and_intrathecal_therapy_against_the_matrix_exponential_of_each_segment():
    # test_linear's model: state [primary, M_organ (4), carrier (2 origins x 2), colonies (4)]
    model = build_model()
    k1, k2, inhibit = 0.03, 0.5, 0.6
    therapies = [
        mfo.SystemicTherapy(50.0, 150.0, mfo.KillRate(k1), carriers=("blood",)),
        mfo.IntrathecalTherapy(
            100.0, 200.0, mfo.KillRate(k2), carriers=("lymph",), organs=("lung",)
        ),
        mfo.SystemicTherapy(120.0, 250.0, mfo.GrowthInhibition(inhibit), organs=("liver",)),
    ]
    times = np.array([40.0, 100.0, 130.0, 180.0, 220.0, 300.0])
    ds = mfo.simulate(
        model, 300.0, saveat=mfo.at(times), interventions=therapies, rtol=1e-12, atol=1e-12
    )
    A0, z0, n_o, n_c = system_matrix()
    names = ["prim", "liver", "lung", "bone"]
    P, M = 0, 1
    carrier = lambda origin, k: 1 + n_o + origin * n_c + k  # noqa: E731
    rates = {"prim": 0.05, "liver": 0.03, "lung": 0.04, "bone": 0.02}

    def matrix(t):
        """System matrix in force at time t (therapy windows are half-open)."""
        a = A0.copy()
        if 50 <= t < 150:
            for i in range(n_o):
                a[M + i, M + i] -= k1
            a[P, P] -= k1
            for origin in (0, 1):
                a[carrier(origin, 0), carrier(origin, 0)] -= k1
        if 100 <= t < 200:
            a[M + names.index("lung"), M + names.index("lung")] -= k2
            for origin in (0, 1):
                a[carrier(origin, 1), carrier(origin, 1)] -= k2
        if 120 <= t < 250:
            a[M + 1, M + 1] -= inhibit * rates["liver"]
        return a

    edges = [0.0, 50.0, 100.0, 120.0, 150.0, 200.0, 250.0, 300.0]
    expected = []
    for t in times:
        z = z0.copy()
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            if lo >= t:
                break
            z = scipy.linalg.expm(matrix(lo) * (min(hi, t) - lo)) @ z
        expected.append(z)
    expected = np.array(expected)
    burden = expected[:, 1 : 1 + n_o].copy()
    burden[:, 0] += expected[:, 0]
    np.testing.assert_allclose(ds.burden.values, burden, rtol=1e-8, atol=1e-12)
    carriers = expected[:, 1 + n_o : 1 + n_o + 2 * n_c].reshape(len(times), 2, n_c)
    np.testing.assert_allclose(
        ds.carrier_cells.transpose("time", "origin", "carrier").values, carriers, rtol=1e-8
    )
    np.testing.assert_allclose(
        ds.colonies.sum("origin").values, expected[:, 1 + n_o + 2 * n_c :], rtol=1e-8
    )


def test_carrier_kill_with_eliminated_carriers_equals_a_raised_clearance():
    # Over the whole run a kill rate on blood is the same model as blood with clearance 6 + k.
    k = 2.0
    run = lambda model, interventions=(): mfo.simulate(  # noqa: E731
        model,
        40.0,
        saveat=mfo.at([20.0, 40.0]),
        resolution=mfo.Lumped(eliminate_carriers=True),
        interventions=interventions,
        rtol=1e-11,
        atol=1e-11,
    )
    therapy = mfo.SystemicTherapy(0.0, 50.0, mfo.KillRate(k), organs=(), carriers=("blood",))
    treated = run(blood_model(), [therapy])
    raised = run(blood_model().with_parameters({"blood.clearance": 6.0 + k}))
    np.testing.assert_allclose(treated.colonies.values, raised.colonies.values, rtol=1e-9)
    np.testing.assert_allclose(treated.burden.values, raised.burden.values, rtol=1e-9)


def test_dosed_kill_of_an_exponential_primary_against_the_integrated_exposure():
    # ln P(t) = a t - k int_0^t exposure; each dose at t_j adds (1 - e^{-lam (t - t_j)}) / lam.
    a, k, interval, half_life = 0.05, 0.4, 7.0, 1.5
    model = mfo.Model(
        [mfo.Organ("breast", mfo.Exponential(a), initial=1e6, primary=True)], lethal_burden=None
    )
    dosing = mfo.Dosing(interval, half_life)
    times = np.array([5.0, 10.0, 30.0, 45.0, 80.0])
    ds = mfo.simulate(
        model,
        80.0,
        saveat=mfo.at(times),
        interventions=[mfo.SystemicTherapy(10.0, 40.0, mfo.KillRate(k), dosing=dosing)],
        rtol=1e-11,
        atol=1e-6,
    )
    lam = np.log(2.0) / half_life
    doses = np.array([10.0, 17.0, 24.0, 31.0, 38.0])  # every 7 days from 10 while before 40
    integral = np.array(
        [np.sum(np.where(t > doses, -np.expm1(-lam * (t - doses)) / lam, 0.0)) for t in times]
    )
    np.testing.assert_allclose(ds.primary_burden, 1e6 * np.exp(a * times - k * integral), 1e-8)
    explicit = lambda t: np.sum(np.where(t >= doses, np.exp(-lam * (t - doses)), 0.0))  # noqa: E731
    for t in (9.0, 10.0, 12.5, 38.0, 39.9, 55.0):
        assert float(dosing.exposure(t, 10.0, 40.0)) == pytest.approx(explicit(t), rel=1e-12)


def test_gradient_through_a_dosing_schedule_that_has_not_started():
    # Before the first dose the exposure is 0; its gradient must be finite, not inf * 0. The
    # reference derivative is a central difference of the closed form above.
    a, k, start, stop = 0.05, 0.4, 30.0, 60.0
    model = mfo.Model(
        [mfo.Organ("breast", mfo.Exponential(a), initial=1e6, primary=True)], lethal_burden=None
    )

    def log_burden(half_life, t1):
        therapy = mfo.SystemicTherapy(
            start, stop, mfo.KillRate(k), dosing=mfo.Dosing(7.0, half_life)
        )
        solution = mfo.solve(
            model, t1, saveat=mfo.at([t1]), interventions=[therapy], rtol=1e-11, atol=1e-6
        )
        return jnp.log(solution.primary[-1])

    def closed_form(half_life, t):
        lam = np.log(2.0) / half_life
        doses = start + 7.0 * np.arange(5)  # 30, 37, ..., 58
        given = doses[doses <= t]
        return np.log(1e6) + a * t - k * np.sum(-np.expm1(-lam * (t - given)) / lam)

    before = jax.grad(log_burden)(jnp.asarray(0.5), 20.0)  # every dose still to come
    assert float(before) == 0.0
    during = float(jax.grad(log_burden)(jnp.asarray(0.5), 45.0))
    h = 1e-5
    reference = (closed_form(0.5 + h, 45.0) - closed_form(0.5 - h, 45.0)) / (2 * h)
    assert during == pytest.approx(reference, rel=1e-5)


# --- drainage -----------------------------------------------------------------------------------

P_FLUID, SECRETION, V0, S0 = 1.0, 1e-9, 50.0, 2e9
RELAX = P_FLUID / V0  # 1/day
V_STAR = (P_FLUID + SECRETION * S0) / RELAX  # 150 mL: the volume the fluid relaxes to


def cavity_model():
    """A constant serosal tumour S0 raising production: V -> V* exponentially at rate p/V0."""
    return mfo.Model(
        [mfo.Organ("ovary", mfo.Exponential(0.0), initial=S0, primary=True)],
        carriers=[
            mfo.Carrier(
                "peritoneal_fluid",
                mfo.IntraCavity,
                clearance=1.0,
                fluid=mfo.Fluid(V0, P_FLUID, secretion=SECRETION, lining=("ovary",)),
            )
        ],
        lethal_burden=None,
    )


def volume(t, start, v_start):
    return V_STAR + (v_start - V_STAR) * np.exp(-RELAX * (t - start))


DRAINED = (40.0, 60.0, 55.0)  # first drainage at 40 d to 60 mL; the second at 55 d to V0


@pytest.fixture(scope="module")
def drained():
    # One solve (one compiled program) for the two tests below.
    T, to, T2 = DRAINED
    return mfo.simulate(
        cavity_model(),
        70.0,
        saveat=mfo.at([20.0, 40.0, 50.0, 70.0]),
        interventions=[
            mfo.Drainage("peritoneal_fluid", T, to=to),
            mfo.Drainage("peritoneal_fluid", T2),  # to the fluid's baseline volume V0
        ],
        rtol=1e-11,
        atol=1e-9,
    )


def test_scheduled_drainage_resets_the_fluid_volume(drained):
    T, to, T2 = DRAINED
    expected = [volume(20.0, 0.0, V0), to, volume(50.0, T, to), volume(70.0, T2, V0)]
    np.testing.assert_allclose(drained.fluid_volume.sel(carrier="peritoneal_fluid"), expected, 1e-8)


def test_two_drainages_of_one_cavity_get_distinct_labels(drained):
    from metaflow_ode import plot

    ds = drained
    assert ds.intervention.values.tolist() == [
        "Drainage(peritoneal_fluid)",
        "Drainage(peritoneal_fluid) #2",
    ]
    assert ds.intervention_time.sel(occurrence=0).values.tolist() == [DRAINED[0], DRAINED[2]]
    ax = plot.stage_timeline(ds)
    assert len([line for line in ax.lines if line.get_marker() == "v"]) == 2


def test_triggered_drainage_fires_each_time_the_volume_reaches_the_trigger():
    trigger, times = 80.0, 3
    ds = mfo.simulate(
        cavity_model(),
        70.0,
        saveat=mfo.at([70.0]),
        interventions=[mfo.Drainage("peritoneal_fluid", trigger=trigger, times=times)],
        rtol=1e-11,
        atol=1e-9,
    )
    interval = np.log((V_STAR - V0) / (V_STAR - trigger)) / RELAX  # 17.83 d from V0 to 80 mL
    fired = ds.intervention_time.sel(intervention="Drainage(peritoneal_fluid)").values
    # crossing times are located to 1e-6 d (as failure times, tests/test_cavities.py)
    np.testing.assert_allclose(fired, interval * np.arange(1, 4), rtol=0, atol=1e-6)
    # after the third drainage the fluid rises freely from V0
    np.testing.assert_allclose(
        ds.fluid_volume.sel(carrier="peritoneal_fluid", time=70.0), volume(70.0, fired[-1], V0)
    )


# --- compiled once: vmap and grad over times and doses ------------------------------------------


def test_vmap_over_100_patients_compiles_once_and_matches_single_runs():
    def run(T, k, trigger):
        solution = mfo.solve(
            V2,
            60.0,
            saveat=mfo.at([60.0]),
            interventions=[
                mfo.Resection("adrenal", T),
                mfo.SystemicTherapy(T, T + 10.0, mfo.KillRate(k), organs=["distant"]),
            ],
        )
        drained = mfo.solve(
            cavity_model(),
            70.0,
            saveat=mfo.at([70.0]),
            interventions=[mfo.Drainage("peritoneal_fluid", trigger=trigger)],
        )
        return solution.metastatic[-1, 1], drained.intervention_times[0, 0]

    rng = np.random.default_rng(0)
    T = rng.uniform(20.0, 40.0, 100)
    k = rng.uniform(0.0, 0.2, 100)
    trigger = rng.uniform(60.0, 120.0, 100)
    before = simulate_module._trace_count
    burden, fired = jax.vmap(run)(jnp.asarray(T), jnp.asarray(k), jnp.asarray(trigger))
    assert simulate_module._trace_count - before == 2  # one trace per model, 100 patients
    # closed form: colonies born before T, each killed at k for 10 days
    expected = MU * T * np.exp(A * 60.0 - k * 10.0)
    np.testing.assert_allclose(burden, expected, rtol=1e-6)
    interval = np.log((V_STAR - V0) / (V_STAR - trigger)) / RELAX
    np.testing.assert_allclose(fired, np.where(interval <= 70.0, interval, np.nan), rtol=1e-6)


def test_new_intervention_numbers_do_not_recompile():
    def metastases(T, k, fraction):
        solution = mfo.solve(
            V2,
            60.0,
            saveat=mfo.at([60.0]),
            interventions=[
                mfo.IatrogenicSpill("adrenal", "distant", T - 1.0, fraction),
                mfo.Resection("adrenal", T),
                mfo.SystemicTherapy(T, T + 10.0, mfo.KillRate(k), organs=["distant"]),
            ],
        )
        return float(solution.metastatic[-1, 1])

    first = metastases(30.0, 0.1, 1e-3)
    before = simulate_module._trace_count
    second = metastases(25.0, 0.05, 1e-4)
    assert simulate_module._trace_count == before  # plain Python floats, no retrace
    assert second != first


def test_gradient_with_respect_to_the_resection_time():
    # d/dT of MU T e^{A t1} is MU e^{A t1}
    def burden(T):
        solution = mfo.solve(
            V2, 60.0, saveat=mfo.at([60.0]), interventions=[mfo.Resection("adrenal", T)]
        )
        return solution.metastatic[-1, 1]

    grad = jax.grad(burden)(jnp.asarray(30.0))
    assert float(grad) == pytest.approx(MU * np.exp(A * 60.0), rel=1e-5)


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "interventions, error, match",
    [
        ([mfo.Resection("liver", 10.0)], ValueError, r"Resection\(organ='liver'\).*not an organ"),
        ([mfo.Resection("adrenal", -1.0)], ValueError, r"before the start"),
        ([mfo.Drainage("blood", 10.0)], ValueError, r"not a carrier"),
        (["resect"], TypeError, r"each item must be an intervention"),
        (
            [mfo.SystemicTherapy(20.0, 10.0, mfo.KillRate(0.1))],
            ValueError,
            r"stop must be after start",
        ),
        (
            [mfo.IatrogenicSpill("adrenal", "csf", 10.0, 0.1)],
            ValueError,
            r"target='csf'.*not an organ or carrier",
        ),
    ],
)
def test_bad_interventions_are_rejected_before_solving(interventions, error, match):
    with pytest.raises(error, match=match):
        mfo.simulate(V2, 60.0, interventions=interventions)


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: mfo.Drainage("x"), ValueError, r"exactly one of `at=`"),
        (lambda: mfo.Drainage("x", 1.0, trigger=2.0), ValueError, r"exactly one"),
        (lambda: mfo.Drainage("x", trigger=2.0, times=0), ValueError, r"times=.*positive"),
        (lambda: mfo.LocalAblation("x", 1.0, 1.5), ValueError, r"fraction=.*\[0, 1\]"),
        (lambda: mfo.SystemicTherapy(0.0, 1.0, 0.1), TypeError, r"effect=.*KillRate"),
        (lambda: mfo.KillRate(-1.0), ValueError, r"rate=.*>= 0"),
        (lambda: mfo.Dosing(0.0, 1.0), ValueError, r"interval=.*> 0"),
        (
            lambda: mfo.SystemicTherapy(0, 1, mfo.GrowthInhibition(0.5), carriers=["blood"]),
            ValueError,
            r"only a `KillRate` acts on cells in transit",
        ),
        (lambda: mfo.Resection(3, 1.0), TypeError, r"organ=.*name"),
        (lambda: mfo.IatrogenicSpill("x", "x", 1.0, 0.1), ValueError, r"source and target"),
        (
            lambda: mfo.SystemicTherapy(0, 1, mfo.KillRate(0.1), organs=["liver", "liver"]),
            ValueError,
            r"names \['liver'\] more than once",
        ),
    ],
)
def test_bad_intervention_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_drainage_needs_a_fluid_and_a_level_below_its_trigger():
    with pytest.raises(ValueError, match=r"has no fluid volume"):
        mfo.simulate(blood_model(), 10.0, interventions=[mfo.Drainage("blood", 5.0)])
    with pytest.raises(ValueError, match=r"must be below the trigger"):
        mfo.simulate(
            cavity_model(),
            10.0,
            interventions=[mfo.Drainage("peritoneal_fluid", trigger=40.0)],  # baseline 50 mL
        )


def test_therapy_of_colonies_against_closed_forms():
    # V2, the metastases killed at k = 0.2/day over [30, 45) d (the primary untreated). A
    # colony born at tau has at t the size exp(A (t - tau) - k |[tau, t] & [30, 45]|):
    # burden = int_0^t MU e^{A tau} size d tau (scipy quad); colonies at or above a size S
    # were born before the tau* where size = S (brentq), MU (e^{A tau*} - 1) / A of them; the
    # largest lesion was born when the count reached 1, at ln(1 + A / MU) / A.
    w0, w1, k = 30.0, 45.0, 0.2
    times = np.array([35.0, 40.0, 45.0, 50.0, 55.0, 60.0])
    resolution = mfo.Colonies(windows=60, visible_diameter=0.1)  # visible: 523 cells
    ds = mfo.simulate(
        V2,
        60.0,
        saveat=mfo.at(times),
        resolution=resolution,
        interventions=[mfo.SystemicTherapy(w0, w1, mfo.KillRate(k), organs=["distant"])],
        rtol=1e-10,
        atol=1e-10,
    )
    overlap = lambda tau, t: max(0.0, min(t, w1) - max(tau, w0))  # noqa: E731

    def log_size(tau, t):
        return A * (t - tau) - k * overlap(tau, t)

    def burden(t):
        integrand = lambda tau: MU * np.exp(A * tau + log_size(tau, t))  # noqa: E731
        return integrate.quad(integrand, 0.0, t, points=[w0, w1], limit=200, epsrel=1e-12)[0]

    def count_above(t, cells):
        if log_size(0.0, t) < np.log(cells):
            return 0.0
        tau = optimize.brentq(lambda u: log_size(u, t) - np.log(cells), 0.0, t, xtol=1e-13)
        return MU * np.expm1(A * tau) / A

    distant = ds.sel(organ="distant")
    np.testing.assert_allclose(
        distant.metastatic_burden, [burden(t) for t in times], rtol=1e-4
    )  # the quadrature error of V2 itself
    visible = resolution.visible_cells(1e9)
    np.testing.assert_allclose(
        distant.visible_lesions, [count_above(t, visible) for t in times], rtol=1e-3
    )
    above = distant.size_distribution.where(ds.size_lower >= 1e4 * (1 - 1e-12), 0).sum("size")
    np.testing.assert_allclose(above, [count_above(t, 1e4) for t in times], rtol=1e-3)
    first = np.log1p(A / MU) / A
    np.testing.assert_allclose(
        distant.largest_lesion, [np.exp(log_size(first, t)) for t in times], rtol=1e-3
    )
    np.testing.assert_allclose(ds.primary_burden, np.exp(A * times), rtol=1e-7)


def test_therapy_with_secondary_dissemination_agrees_between_the_fidelities():
    # Linear laws: the lumped fidelity is exact (checked against matrix exponentials above);
    # the colonies fidelity follows each birth node's size under a growth inhibition and a
    # kill, and treated colonies shed (and seed) less. Without the interpolated open window
    # (untreated midpoint sizes) the secondary colonies were 0.75 % too many.
    times = np.array([30.0, 40.0, 50.0, 60.0])
    therapies = [
        mfo.SystemicTherapy(20.0, 40.0, mfo.GrowthInhibition(0.5), organs=["distant"]),
        mfo.SystemicTherapy(35.0, 50.0, mfo.KillRate(0.15)),
    ]
    runs = {
        name: mfo.simulate(
            secondary_model(2e-3),
            60.0,
            saveat=mfo.at(times),
            resolution=resolution,
            interventions=therapies,
            rtol=1e-10,
            atol=1e-10,
        )
        for name, resolution in (("lumped", mfo.Lumped()), ("colonies", mfo.Colonies(60)))
    }
    lumped, colonies = runs["lumped"].sel(organ="distant"), runs["colonies"].sel(organ="distant")
    np.testing.assert_allclose(colonies.metastatic_burden, lumped.metastatic_burden, rtol=1e-4)
    # the open window's colonies shed at an interpolated size: 9e-5 measured
    np.testing.assert_allclose(colonies.colonies, lumped.colonies, rtol=2e-4)
    np.testing.assert_allclose(
        runs["colonies"].primary_burden, runs["lumped"].primary_burden, rtol=1e-8
    )


def test_gradient_through_treated_colonies():
    # d/dk of the V2 burden at 60 d under a kill over [30, 45): -int MU e^{A t} o e^{-k o},
    # o the overlap of [tau, t] with the window (scipy quad)
    w0, w1, k = 30.0, 45.0, 0.2

    def burden(rate):
        therapy = mfo.SystemicTherapy(w0, w1, mfo.KillRate(rate), organs=["distant"])
        solution = mfo.solve(
            V2,
            60.0,
            saveat=mfo.at([60.0]),
            resolution=mfo.Colonies(windows=60),
            interventions=[therapy],
            rtol=1e-10,
            atol=1e-10,
        )
        return solution.metastatic[-1, 1]

    overlap = lambda tau: max(0.0, min(60.0, w1) - max(tau, w0))  # noqa: E731
    reference = integrate.quad(
        lambda tau: -MU * np.exp(A * 60.0) * overlap(tau) * np.exp(-k * overlap(tau)),
        0.0,
        60.0,
        points=[w0, w1],
        limit=200,
    )[0]
    assert float(jax.grad(burden)(jnp.asarray(k))) == pytest.approx(reference, rel=1e-4)
