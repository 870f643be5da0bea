"""Size-structured colonies fidelity against independent references.

References: the table of validation case V1 (Iwata et al. 2000, computed independently; see
../shared/REFERENCES.md), the closed form of V2 (Benzekry et al. 2021), and a renewal-equation
solver written for the tests (tests/renewal.py).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize

import metaflow_ode as mfo
from metaflow_ode import _simulate as simulate_module
from metaflow_ode.parameter_sets import Benzekry2021, Iwata2000
from renewal import cumulative_at, renewal

A, B, m, ALPHA = Iwata2000.RATE, Iwata2000.CAPACITY, Iwata2000.COEFFICIENT, Iwata2000.EXPONENT
TIMES = np.array([500.0, 700.0, 1000.0, 1500.0, 2000.0])


def gompertz(t, x0=1.0):
    return B * np.exp(np.log(x0 / B) * np.exp(-A * np.asarray(t)))


@pytest.fixture(scope="module")
def iwata():
    model = mfo.parameter_sets.load("Iwata2000")
    ds = mfo.simulate(model, 2000.0, saveat=mfo.at(TIMES), resolution=mfo.Colonies())
    return model, ds


@pytest.fixture(scope="module")
def iwata_reference():
    # One organ; colonies and primary share the Gompertz law and the emission. The library
    # removes shed cells from colonies and primary; at m x^alpha < 1 cell/day on 1e10 cells
    # that is a relative change below 1e-8, so the closed form is used for sizes here.
    beta = lambda x: m * x**ALPHA  # noqa: E731
    return renewal(
        TIMES,
        lambda t: beta(gompertz(t)),
        np.array([1.0]),
        np.array([[1.0]]),
        lambda a: beta(gompertz(a))[None, :],
        lambda a: gompertz(a)[None, :],
        births_by_primary=True,
    )


def test_v1_every_number_of_the_iwata_table(iwata):
    model, ds = iwata
    liver = dict(organ="liver")
    colonies = ds.colonies.sel(**liver)
    # ../shared/REFERENCES.md, validation case V1 (rtol 1e-3 unless stated)
    np.testing.assert_allclose(
        colonies.sum("origin"), [1.1598, 10.453, 76.421, 1227.7, 23036], rtol=1e-3
    )
    np.testing.assert_allclose(
        colonies.sel(origin="primary", time=[1000.0, 1500.0]), [70.534, 330.56], rtol=1e-3
    )
    bins = ds.size_distribution.sel(**liver)
    above_1e9 = bins.where(ds.size_lower >= 1e9 * (1 - 1e-12), 0).sum("size")
    above_1e8 = bins.where(ds.size_lower >= 1e8 * (1 - 1e-12), 0).sum("size")
    np.testing.assert_allclose(above_1e9.sel(time=TIMES[2:]), [0.1813, 39.6, 608], rtol=1e-3)
    np.testing.assert_allclose(above_1e8.sel(time=TIMES[2:]), [1.813, 91.21, 1507], rtol=1e-3)
    np.testing.assert_allclose(
        ds.metastatic_burden.sel(**liver, time=TIMES[2:]), [9.994e8, 2.110e11, 4.955e12], rtol=1e-3
    )
    np.testing.assert_allclose(
        ds.primary_burden.sel(time=[500.0, 1000.0, 2000.0]),
        [1.835e8, 1.743e10, 6.725e10],
        rtol=1e-3,
    )
    # The primary reaches 1e10 cells at t = 885.44 d, located by root finding: put the colonies
    # in an organ of their own so that the liver's burden is the primary alone.
    liver = model.organs[0]
    split = mfo.Model(
        [
            mfo.Organ(
                "liver",
                liver.growth,
                liver.emission,
                primary=True,
                failure=mfo.Failure(burden=1e10, warning=None),
            ),
            mfo.Organ("colonies", liver.growth, liver.emission),
        ],
        transfers=[
            mfo.Transfer("liver", "colonies", kind=mfo.IntraOrgan),
            mfo.Transfer("colonies", "colonies", kind=mfo.IntraOrgan),
        ],
        lethal_burden=None,
    )
    crossing = mfo.simulate(
        split, 1000.0, saveat=mfo.at([1000.0]), resolution=mfo.Colonies(), rtol=1e-12, atol=1e-6
    )
    t_fail = float(crossing.failure_time.sel(organ="liver"))
    exact = -np.log(np.log(1e10 / B) / np.log(1 / B)) / A
    assert abs(exact - 885.44) < 5e-3
    # The library removes shed cells from the primary, which delays the crossing by 4.5e-5 d;
    # against the same equation solved by scipy the event is located to 1e-6 d.
    event = lambda t, x: x[0] - 1e10  # noqa: E731
    event.terminal = True
    shed = integrate.solve_ivp(
        lambda t, x: [A * x[0] * np.log(B / x[0]) - m * x[0] ** ALPHA],
        (0.0, 1000.0),
        [1.0],
        method="DOP853",
        rtol=1e-13,
        atol=1e-10,
        events=event,
    )
    assert abs(t_fail - shed.t_events[0][0]) < 1e-6
    assert abs(t_fail - exact) < 1e-4


def test_v1_malthusian_rate_of_the_colonies(iwata):
    # lambda solves int_0^inf beta(X(a)) e^(-lambda a) da = 1 with the library's colony sizes.
    model, _ = iwata
    system = mfo._colonies.ColoniesSystem(
        model, mfo.Colonies(size_edges=(1.0, 10.0)), 0.0, 20000.0, dynamic_carriers=False
    )
    ages = np.linspace(0.0, 20000.0, 200_001)
    sizes = np.exp(np.asarray(system.log_size_all(ages))[:, 0])
    np.testing.assert_allclose(sizes[::20000], gompertz(ages[::20000]), rtol=1e-7)
    kernel = m * sizes**ALPHA
    rate = optimize.brentq(
        lambda lam: integrate.trapezoid(kernel * np.exp(-lam * ages), ages) - 1.0, 1e-4, 0.1
    )
    assert abs(rate / 0.0058057 - 1) < 1e-5


def test_default_grid_meets_1e_3_against_the_renewal_equation(iwata, iwata_reference):
    _, ds = iwata
    N = ds.colonies.sel(organ="liver").sum("origin").values
    M = ds.metastatic_burden.sel(organ="liver").values
    err_n = np.max(np.abs(N / iwata_reference["N"][0] - 1))
    err_m = np.max(np.abs(M / iwata_reference["M"][0] - 1))
    assert err_n < 1e-4 and err_m < 1e-4, (err_n, err_m)  # the target is 1e-3
    primary = ds.colonies.sel(organ="liver", origin="primary").values
    np.testing.assert_allclose(primary, iwata_reference["N_primary"][0], rtol=1e-6)


def test_largest_lesion_is_the_first_expected_colony(iwata, iwata_reference):
    _, ds = iwata
    fine = iwata_reference["fine"]
    born = optimize.brentq(lambda tau: cumulative_at(fine, 0, tau) - 1.0, 1.0, 1000.0)
    for t in (1000.0, 1500.0, 2000.0):
        expected = gompertz(t - born)
        got = float(ds.largest_lesion.sel(organ="liver", time=t))
        assert abs(got / expected - 1) < 2e-3, (t, got, expected)
    assert float(ds.largest_lesion.sel(organ="liver", time=500.0)) > 1.0  # 1.16 colonies
    visible_cells = np.pi / 6 * 0.5**3 * 1e9
    age = -np.log(np.log(visible_cells / B) / np.log(1 / B)) / A
    expected = [cumulative_at(fine, 0, t - age) for t in TIMES]
    np.testing.assert_allclose(
        ds.visible_lesions.sel(organ="liver"), expected, rtol=2e-3, atol=1e-6
    )


def test_convergence_order_under_window_refinement(iwata_reference):
    model = mfo.parameter_sets.load("Iwata2000")
    # Errors at 1000, 1500 and 2000 d, window edges for every grid below (no open window).
    # Saved at all of TIMES, the option set of the `iwata` fixture (128 windows) and of the
    # tests below (16 and 32 windows): those solves share compiled programs. Measured errors
    # 7.2e-2, 4.0e-3, 2.5e-4, 2.2e-6 (order 3.7; 4.1 without the 128-window grid, whose
    # error nears the reference's own).
    windows = [8, 16, 32, 128]
    errors = []
    for k in windows:
        s = mfo.solve(model, 2000.0, saveat=mfo.at(TIMES), resolution=mfo.Colonies(k, 2))
        M = np.asarray(s.metastatic[2:, 0])
        errors.append(np.max(np.abs(M / iwata_reference["M"][0][2:] - 1)))
    order = np.polyfit(np.log(windows), -np.log(errors), 1)[0]
    assert order > 2.5, (errors, order)
    assert errors[2] < 1e-3  # 32 windows


def test_v2_neuroblastoma_closed_form():
    model = mfo.parameter_sets.load("Benzekry2021")
    rate, mu = Benzekry2021.RATE, Benzekry2021.MU
    S = 1.142859e12
    T = np.log(S) / rate
    assert abs(T - 80.112) < 1e-3
    ds = mfo.simulate(model, T, saveat=mfo.at([T]), resolution=mfo.Colonies(), rtol=1e-10)
    distant = ds.sel(organ="distant").isel(time=-1)
    np.testing.assert_allclose(float(ds.primary_burden[-1]), S, rtol=1e-7)
    # ../shared/REFERENCES.md V2 (exact): all colonies, visible colonies, metastatic burden
    np.testing.assert_allclose(float(distant.colonies.sum()), 3.2976e9, rtol=1e-4)
    np.testing.assert_allclose(float(distant.visible_lesions), 50.381, rtol=1e-4)
    np.testing.assert_allclose(float(distant.metastatic_burden), mu * T * S, rtol=1e-4)
    np.testing.assert_allclose(mu * T * S, 9.1556e10, rtol=1e-4)
    # age at which a colony is visible: 51.928 d
    age_visible = np.log(np.pi / 6 * 5.0**3 * 1e6) / rate
    assert abs(age_visible - 51.928) < 1e-3


def test_lumped_and_colonies_agree_exactly_for_exponential_growth():
    # Exponential growth and linear emission: the sum over colonies of x is itself
    # exponential, so the lumped burden is exact. A three-organ cascade with carriers.
    H = mfo.Haematogenous
    model = mfo.Model(
        [
            mfo.Organ("colon", mfo.Exponential(0.03), mfo.PowerLaw(1e-3, 1.0), primary=True),
            mfo.Organ("liver", mfo.Exponential(0.02), mfo.PowerLaw(2e-3, 1.0)),
            mfo.Organ("lung", mfo.Exponential(0.025), mfo.PowerLaw(1e-3, 1.0)),
            mfo.Organ("bone", mfo.Exponential(0.015)),
        ],
        [
            mfo.Carrier("portal", H, half_life=0.05),
            mfo.Carrier("caval", H, half_life=0.05),
            mfo.Carrier("arterial", H, half_life=0.05),
        ],
        [
            mfo.Transfer("colon", "portal", kind=H),
            mfo.Transfer("portal", "liver", kind=H, rate=50.0, efficiency=0.1),
            mfo.Transfer("liver", "caval", kind=H),
            mfo.Transfer("caval", "lung", kind=H, rate=40.0, efficiency=0.1),
            mfo.Transfer("lung", "arterial", kind=H),
            mfo.Transfer("arterial", "bone", kind=H, rate=30.0, efficiency=0.1),
        ],
        lethal_burden=None,
    )
    # Saves on window edges (600 / 128 d apart), where no birth window is open.
    kwargs = dict(saveat=mfo.at([150.0, 300.0, 600.0]), rtol=1e-10, atol=1e-10)
    lumped = mfo.simulate(model, 600.0, resolution=mfo.Lumped(eliminate_carriers=True), **kwargs)
    colonies = mfo.simulate(
        model, 600.0, resolution=mfo.Colonies(eliminate_carriers=True), **kwargs
    )
    np.testing.assert_allclose(colonies.burden, lumped.burden, rtol=1e-4)
    np.testing.assert_allclose(colonies.colonies, lumped.colonies, rtol=1e-4)
    assert float(colonies.colonies.sel(organ="bone").sum("origin")[-1]) > 1.0  # cascade
    # The remaining difference is the quadrature of the emission of colonies in birth
    # windows still open: it vanishes under refinement.
    finer = mfo.simulate(
        model, 600.0, resolution=mfo.Colonies(512, eliminate_carriers=True), **kwargs
    )
    np.testing.assert_allclose(finer.burden, lumped.burden, rtol=1e-6)


def _numpy_law(law):
    """A growth or emission law as a numpy function of x, compiled once (scipy calls it
    thousands of times; eager JAX dispatch made most of these tests' time)."""
    compiled = jax.jit(lambda x: law(x))
    return lambda x: np.asarray(compiled(np.asarray(x)))


def _scipy_size(field, t_max, x0=1.0):
    """Colony size X(a) from `dX/da = field(X)` (scipy Radau, tight), as a callable."""
    sol = integrate.solve_ivp(
        lambda a, u: field(np.exp(u)) / np.exp(u),
        (0.0, t_max),
        [np.log(x0)],
        method="Radau",
        rtol=1e-12,
        atol=1e-12,
        dense_output=True,
    )
    return lambda a: np.exp(sol.sol(np.asarray(a))[0])


@pytest.fixture(scope="module")
def cascade():
    # liver -> lung -> bone, each organ with its own growth law: a stiff generalised logistic
    # in the lung (rate 2000 per day: colonies reach their 1e5-cell plateau within hours),
    # von Bertalanffy in the bone; colonies in every organ emit, into their own organ
    # (intra-organ) and onward.
    primary_growth = mfo.Gompertz(0.004, 5e11)
    beta = mfo.PowerLaw(3e-6, 0.7)
    laws = {
        "liver": mfo.Gompertz(0.006, 1e12),
        "lung": mfo.GeneralisedLogistic(rate=2000.0, capacity=1e5, exponent=0.5),
        "bone": mfo.VonBertalanffy(production=0.3, loss=0.01, exponent=0.9),
    }
    D = mfo.Haematogenous
    model = mfo.Model(
        [
            mfo.Organ("colon", primary_growth, beta, primary=True),
            *(mfo.Organ(name, law, beta) for name, law in laws.items()),
        ],
        transfers=[
            mfo.Transfer("colon", "liver", kind=D, fraction=0.5),
            mfo.Transfer("liver", "liver", kind=mfo.IntraOrgan, fraction=0.5),
            mfo.Transfer("liver", "lung", kind=D, fraction=0.5),
            mfo.Transfer("lung", "lung", kind=mfo.IntraOrgan, fraction=0.3),
            mfo.Transfer("lung", "bone", kind=D, fraction=0.3),
            mfo.Transfer("bone", "bone", kind=mfo.IntraOrgan, fraction=0.2),
        ],
        lethal_burden=None,
    )
    t_out = np.array([600.0, 900.0, 1200.0])
    ds = mfo.simulate(model, 1200.0, saveat=mfo.at(t_out), resolution=mfo.Colonies(), rtol=1e-9)

    def net(law):
        g, b = _numpy_law(law), _numpy_law(beta)
        return lambda x: g(x) - b(x)

    beta_np = lambda x: 3e-6 * x**0.7  # noqa: E731
    primary = _scipy_size(net(primary_growth), 1200.0)
    sizes = [_scipy_size(net(laws[o]), 1200.0) for o in laws]
    P = np.array([[0.5, 0.0, 0.0], [0.5, 0.3, 0.0], [0.0, 0.3, 0.2]])
    ref = renewal(
        t_out,
        lambda t: beta_np(primary(t)),
        np.array([0.5, 0.0, 0.0]),
        P,
        lambda a: np.array([beta_np(X(a)) for X in sizes]),
        lambda a: np.array([X(a) for X in sizes]),
        dt=0.1,  # fine: the lung colonies jump from 1 to 1e5 cells within hours
    )
    return ds, ref


def test_multi_organ_cascade_with_different_and_stiff_laws(cascade):
    ds, ref = cascade
    for i, organ in enumerate(["liver", "lung", "bone"]):
        N = ds.colonies.sel(organ=organ).sum("origin").values
        M = ds.metastatic_burden.sel(organ=organ).values
        np.testing.assert_allclose(N, ref["N"][i], rtol=1e-3, err_msg=organ)
        np.testing.assert_allclose(M, ref["M"][i], rtol=1e-3, err_msg=organ)
    assert float(ds.colonies.sel(organ="bone").sum("origin")[-1]) > 1.0
    assert ds.seeding_rate.sel(organ="bone", origin="primary").max() == 0.0  # only secondary


LATENCY = 150.0


@pytest.fixture(scope="module")
def dormant():
    model = mfo.parameter_sets.load("Iwata2000")
    return mfo.simulate(
        model, 2000.0, saveat=mfo.at(TIMES), resolution=mfo.Colonies(dormancy=LATENCY)
    )


def test_dormancy_delays_growth_and_shedding(dormant):
    latency = LATENCY
    ds = dormant
    beta = lambda x: m * x**ALPHA  # noqa: E731
    delayed = lambda a: np.where(a >= latency, gompertz(np.maximum(a - latency, 0)), 1.0)  # noqa: E731
    ref = renewal(
        TIMES,
        lambda t: beta(gompertz(t)),
        np.array([1.0]),
        np.array([[1.0]]),
        lambda a: np.where(a >= latency, beta(delayed(a)), 0.0)[None, :],
        lambda a: delayed(a)[None, :],
    )
    N = ds.colonies.sel(organ="liver").sum("origin").values
    M = ds.metastatic_burden.sel(organ="liver").values
    np.testing.assert_allclose(N, ref["N"][0], rtol=1e-3)
    np.testing.assert_allclose(M[1:], ref["M"][0][1:], rtol=1e-3)


def test_new_numbers_do_not_recompile():
    # The option set of the convergence test (16 windows, saves at TIMES): one compiled program.
    model = mfo.parameter_sets.load("Iwata2000")
    mfo.solve(model, 2000.0, saveat=mfo.at(TIMES), resolution=mfo.Colonies(16, 2))
    before = simulate_module._trace_count
    other = model.with_parameters({"liver.growth.rate": 0.003, "liver.emission.exponent": 0.6})
    mfo.solve(other, 2400.0, saveat=mfo.at(1.2 * TIMES), resolution=mfo.Colonies(16, 2))
    mfo.solve(model, 2000.0, saveat=mfo.at(TIMES), resolution=mfo.Colonies(16, 2, birth_size=2.0))
    assert simulate_module._trace_count == before


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"windows": 0}, "windows"),
        ({"nodes": 5}, "nodes"),
        ({"windows": 2.5}, "windows"),
        ({"birth_size": 0.0}, "birth_size"),
        ({"visible_diameter": -1.0}, "visible_diameter"),
        ({"dormancy": -3.0}, "dormancy"),
        ({"size_edges": [1.0, 1.0]}, "size_edges"),
        ({"size_edges": [0.0, 10.0]}, "size_edges"),
        ({"accounting": "yes"}, "accounting"),
    ],
)
def test_colonies_rejects_bad_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        mfo.Colonies(**kwargs)


def test_colonies_rejects_an_initial_metastatic_burden():
    g = mfo.Gompertz(0.01, 1e10)
    model = mfo.Model(
        [
            mfo.Organ("breast", g, mfo.PowerLaw(1e-6, 1.0), primary=True),
            mfo.Organ("liver", g, initial=1e6),
        ],
        transfers=[mfo.Transfer("breast", "liver", kind=mfo.Haematogenous)],
    )
    with pytest.raises(ValueError, match="initial=0"):
        mfo.simulate(model, 100.0, resolution=mfo.Colonies(8))


def test_parameter_sets_load_and_describe():
    assert set(mfo.parameter_sets.NAMES) == {"Iwata2000", "Benzekry2021"}
    assert "J Theor Biol 2000" in mfo.parameter_sets.describe("Iwata2000")
    with pytest.raises(ValueError, match="Iwata2000, Benzekry2021"):
        mfo.parameter_sets.load("Iwata")


def test_every_growth_law_against_the_renewal_integral():
    # One organ per growth law, each seeded by the primary only (colonies do not emit), so
    # N_i = p_i int e_p and M_i = int s_i(tau) X_i(t - tau) dtau with X_i from scipy.
    laws = {
        "exponential": mfo.Exponential(0.02),
        "logistic": mfo.Logistic(0.05, 1e9),
        "gompertz": mfo.Gompertz(0.01, 1e10),
        "richards": mfo.GeneralisedLogistic(0.08, 1e9, 0.3),
        "bertalanffy": mfo.VonBertalanffy(production=0.5, loss=0.005, exponent=0.8),
        "power": mfo.PowerGrowth(coefficient=0.3, exponent=0.75),
    }
    share = 1.0 / len(laws)
    primary = mfo.Gompertz(0.01, 1e11)
    model = mfo.Model(
        [
            mfo.Organ("breast", primary, mfo.PowerLaw(1e-5, 0.8), primary=True),
            *(mfo.Organ(name, law) for name, law in laws.items()),
        ],
        transfers=[
            mfo.Transfer("breast", name, kind=mfo.Haematogenous, fraction=share) for name in laws
        ],
        lethal_burden=None,
    )
    t_out = np.array([400.0, 800.0])
    ds = mfo.simulate(model, 800.0, saveat=mfo.at(t_out), resolution=mfo.Colonies(), rtol=1e-10)
    g_p = _numpy_law(primary)
    x_p = _scipy_size(lambda x: g_p(x) - 1e-5 * x**0.8, 800.0)
    sizes = [_scipy_size(_numpy_law(law), 800.0) for law in laws.values()]
    ref = renewal(
        t_out,
        lambda t: 1e-5 * x_p(t) ** 0.8,
        np.full(len(laws), share),
        np.zeros((len(laws), len(laws))),
        lambda a: np.zeros((len(laws), len(a))),
        lambda a: np.array([X(a) for X in sizes]),
        dt=0.1,
    )
    for i, name in enumerate(laws):
        np.testing.assert_allclose(
            ds.metastatic_burden.sel(organ=name), ref["M"][i], rtol=1e-4, err_msg=name
        )
        np.testing.assert_allclose(
            ds.colonies.sel(organ=name).sum("origin"), ref["N"][i], rtol=1e-5, err_msg=name
        )


def test_largest_lesion_failure_against_the_closed_form():
    # Primary x_p = e^(g t) (gross rate r_p, shedding m x: net g = r_p - m) seeds colonies of
    # exponential growth r that do not emit: C(tau) = m (e^(g tau) - 1) / g, the first colony
    # is born at tau* = ln(1 + g / m) / g and is e^(r (t - tau*)) cells at t. Mass effect at L
    # cells: t_fail = tau* + ln(L) / r; the warning at half of L.
    r_p, m, r, L = 0.05, 0.01, 0.08, 1e8
    g = r_p - m
    model = mfo.Model(
        [
            mfo.Organ("lung", mfo.Exponential(r_p), mfo.PowerLaw(m, 1.0), primary=True),
            mfo.Organ(
                "brain", mfo.Exponential(r), failure=mfo.Failure(largest_lesion=L, burden=1e15)
            ),
        ],
        transfers=[mfo.Transfer("lung", "brain", kind=mfo.Haematogenous)],
        lethal_burden=None,
    )
    born = np.log(1 + g / m) / g
    ds = mfo.simulate(model, 400.0, saveat=mfo.at([400.0]), resolution=mfo.Colonies(512, 2))
    by = ds.failure_time_by_mechanism.sel(organ="brain")
    # tau* comes from the births reconstructed in its birth window: about 1e-4 d here
    assert abs(float(by.sel(mechanism="largest_lesion")) - (born + np.log(L) / r)) < 1e-3
    warning = ds.warning_time_by_mechanism.sel(organ="brain", mechanism="largest_lesion")
    assert abs(float(warning) - (born + np.log(L / 2) / r)) < 1e-3
    assert np.isnan(float(by.sel(mechanism="burden")))  # 1e15 cells not reached
    assert str(ds.cause_of_death.values) == "brain"
    assert str(ds.death_mechanism.values) == "largest_lesion"
    assert float(ds.death_time) == float(ds.failure_time.sel(organ="brain"))
    with pytest.raises(ValueError, match="largest_lesion"):
        mfo.simulate(model, 400.0)  # the lumped fidelity has no lesions


@pytest.mark.parametrize("m, L", [(1e-6, 100.0), (1e-6, 10.0)])
def test_largest_lesion_failure_when_the_first_colony_is_born_late(m, L):
    # As above, with a first colony born late (tau* = ln(1 + g/m)/g): the event root finder
    # needs the derivative of the largest lesion in t, in which the birth time is fixed.
    r_p, r = 0.05, 0.08
    g = r_p - m
    model = mfo.Model(
        [
            mfo.Organ("lung", mfo.Exponential(r_p), mfo.PowerLaw(m, 1.0), primary=True),
            # burden=1e15 (never reached) as above: the same compiled program for all three
            mfo.Organ(
                "brain", mfo.Exponential(r), failure=mfo.Failure(largest_lesion=L, burden=1e15)
            ),
        ],
        transfers=[mfo.Transfer("lung", "brain", kind=mfo.Haematogenous)],
        lethal_burden=None,
    )
    born = np.log(1 + g / m) / g
    ds = mfo.simulate(model, 400.0, saveat=mfo.at([400.0]), resolution=mfo.Colonies(512, 2))
    assert abs(float(ds.failure_time.sel(organ="brain")) - (born + np.log(L) / r)) < 1e-3


def test_gradients_of_lesion_outputs_match_finite_differences():
    model = mfo.parameter_sets.load("Iwata2000")

    # Outputs at 1500 d (TIMES[3]); the option set of the convergence test (32 windows, saves
    # at TIMES), so that the finite-difference solves reuse its compiled program.
    def outputs(rate):
        m = model.with_parameters({"liver.growth.rate": rate})
        s = mfo.solve(m, 2000.0, saveat=mfo.at(TIMES), resolution=mfo.Colonies(32, 2))
        return jnp.stack(
            [
                s.visible_lesions[3, 0],
                jnp.log(s.largest_lesion[3, 0]),
                s.size_distribution[3, 0, 18],  # 1e9 - 3.16e9 cells
                jnp.log(s.metastatic[3, 0]),
            ]
        )

    rate, h = Iwata2000.RATE, 1e-7
    auto = np.asarray(jax.jacrev(outputs)(rate))
    central = (np.asarray(outputs(rate + h)) - np.asarray(outputs(rate - h))) / (2 * h)
    np.testing.assert_allclose(auto, central, rtol=2e-3)


def test_dormant_colonies_are_in_the_size_distribution(dormant):
    liver = dormant.sel(organ="liver")
    np.testing.assert_allclose(
        liver.size_distribution.sum("size"), liver.colonies.sum("origin"), rtol=1e-9
    )


def test_colonies_that_cannot_grow_are_rejected():
    model = mfo.Model(
        [
            mfo.Organ("colon", mfo.Exponential(0.05), mfo.PowerLaw(1e-3, 1.0), primary=True),
            mfo.Organ("liver", mfo.Exponential(0.01), mfo.PowerLaw(5e-2, 1.0)),
        ],
        transfers=[mfo.Transfer("colon", "liver", kind=mfo.Haematogenous)],
    )
    with pytest.raises(ValueError, match="'liver'.*does not grow"):
        mfo.simulate(model, 100.0, resolution=mfo.Colonies(8))
