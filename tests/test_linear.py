"""A linear model against the matrix exponential of a system matrix assembled in the test."""

import numpy as np
import pytest
import scipy.linalg

import metaflow_ode as mfo

# (name, growth rate /day, emission coefficient /day or None, initial cells)
ORGANS = [
    ("prim", 0.05, 1e-3, 1e3),
    ("liver", 0.03, 2e-3, 0.0),
    ("lung", 0.04, 5e-4, 10.0),
    ("bone", 0.02, None, 0.0),
]
CARRIERS = [("blood", 2.0, mfo.Haematogenous), ("lymph", 0.5, mfo.Lymphatic)]
# (source, target, kind, fraction-or-rate, efficiency)
TRANSFERS = [
    ("prim", "lymph", mfo.Lymphatic, 0.3, None),
    ("prim", "blood", mfo.Haematogenous, 0.5, None),
    ("lymph", "blood", mfo.Lymphatic, 3.0, None),
    ("blood", "lung", mfo.Haematogenous, 4.0, 0.2),
    ("blood", "liver", mfo.Haematogenous, 2.0, 0.5),
    ("blood", "bone", mfo.Haematogenous, 1.0, 0.1),
    ("liver", "lung", mfo.Haematogenous, 0.4, None),
    ("liver", "liver", mfo.IntraOrgan, 0.3, 0.8),
    ("lung", "bone", mfo.PerContinuitatem, 0.5, 0.6),
    ("lung", "blood", mfo.Haematogenous, 0.2, None),
]
ORGAN_NAMES = [o[0] for o in ORGANS]
CARRIER_NAMES = [c[0] for c in CARRIERS]


def build_model():
    organs = [
        mfo.Organ(
            name,
            mfo.Exponential(rate),
            None if m is None else mfo.PowerLaw(m, 1.0),
            initial=x0,
            primary=(name == "prim"),
        )
        for name, rate, m, x0 in ORGANS
    ]
    carriers = [mfo.Carrier(n, kind, clearance=k) for n, k, kind in CARRIERS]
    transfers = []
    for s, t, kind, value, eff in TRANSFERS:
        key = "rate" if s in CARRIER_NAMES else "fraction"
        transfers.append(mfo.Transfer(s, t, kind=kind, efficiency=eff, **{key: value}))
    return mfo.Model(organs, carriers, transfers, lethal_burden=None)


def system_matrix():
    """State: [primary, M_organ..., carrier(primary origin)..., carrier(secondary)..., colonies]."""
    n_o, n_c = len(ORGANS), len(CARRIERS)
    n = 1 + n_o + 2 * n_c + n_o
    P, M = 0, 1
    C = lambda origin, k: 1 + n_o + origin * n_c + k  # noqa: E731
    COL = lambda i: 1 + n_o + 2 * n_c + i  # noqa: E731
    A = np.zeros((n, n))
    oi = {name: i for i, name in enumerate(ORGAN_NAMES)}
    ci = {name: k for k, name in enumerate(CARRIER_NAMES)}
    for i, (name, rate, m, _) in enumerate(ORGANS):
        m = 0.0 if m is None else m
        if name == "prim":
            A[P, P] += rate - m  # primary tumour grows and loses what it sheds
        A[M + i, M + i] += rate - m
    for k, (_, clearance, _) in enumerate(CARRIERS):
        for origin in (0, 1):
            A[C(origin, k), C(origin, k)] -= clearance
    for s, t, _, value, eff in TRANSFERS:
        eff = 1.0 if eff is None else eff
        if s in oi:
            m = next(o[2] for o in ORGANS if o[0] == s)
            sources = [(P, 0), (M + oi[s], 1)] if s == "prim" else [(M + oi[s], 1)]
            for col, origin in sources:
                if t in oi:
                    A[M + oi[t], col] += value * m * eff
                    A[COL(oi[t]), col] += value * m * eff
                else:
                    A[C(origin, ci[t]), col] += value * m
        else:
            for origin in (0, 1):
                col = C(origin, ci[s])
                A[col, col] -= value
                if t in oi:
                    A[M + oi[t], col] += value * eff
                    A[COL(oi[t]), col] += value * eff
                else:
                    A[C(origin, ci[t]), col] += value
    z0 = np.zeros(n)
    z0[P] = ORGANS[0][3]
    for i, (_, _, _, x0) in enumerate(ORGANS):
        if i > 0:
            z0[M + i] = x0
    return A, z0, n_o, n_c


@pytest.fixture(scope="module")
def solved():
    times = np.linspace(0.0, 300.0, 7)
    ds = mfo.simulate(build_model(), times[-1], saveat=mfo.at(times), rtol=1e-12, atol=1e-12)
    return times, ds


def test_burden_against_matrix_exponential(solved):
    times, ds = solved
    A, z0, n_o, n_c = system_matrix()
    exact = np.stack([scipy.linalg.expm(A * t) @ z0 for t in times])
    burden = exact[:, 1 : 1 + n_o].copy()
    burden[:, 0] += exact[:, 0]
    np.testing.assert_allclose(ds.burden.values, burden, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(ds.primary_burden.values, exact[:, 0], rtol=1e-8)
    carriers = exact[:, 1 + n_o : 1 + n_o + 2 * n_c].reshape(len(times), 2, n_c)
    np.testing.assert_allclose(
        ds.carrier_cells.transpose("time", "origin", "carrier").values,
        carriers,
        rtol=1e-8,
        atol=1e-12,
    )
    colonies = exact[:, 1 + n_o + 2 * n_c :]
    np.testing.assert_allclose(ds.colonies.sum("origin").values, colonies, rtol=1e-8, atol=1e-12)


def test_seeding_by_route_and_origin(solved):
    _, ds = solved
    rate = ds.seeding_rate.isel(time=-1)
    # The liver is seeded from blood (haematogenous, both origins) and by itself (intra-organ,
    # secondary only); bone by blood and per continuitatem from the lung (secondary only).
    assert float(rate.sel(organ="liver", route="haematogenous", origin="primary")) > 0
    assert float(rate.sel(organ="liver", route="intra_organ", origin="primary")) == 0
    assert float(rate.sel(organ="liver", route="intra_organ", origin="secondary")) > 0
    assert float(rate.sel(organ="bone", route="per_continuitatem", origin="primary")) == 0
    assert float(rate.sel(organ="bone", route="per_continuitatem", origin="secondary")) > 0
    assert float(rate.sel(organ="prim").sum()) == 0


def test_primary_and_metastasis_emission_differ_in_the_primary_organ():
    # One organ holding the primary tumour (emission m1) and its own metastases (emission m2),
    # half of every emission seeding the same organ. Closed form:
    #   xp' = (r - m1) xp,  M' = (r - m2/2) M + (m1/2) xp
    #   M(t) = (m1/2) xp0 (e^{(r-m1)t} - e^{(r-m2/2)t}) / (m2/2 - m1)
    r, m1, m2, xp0 = 0.03, 2e-3, 8e-3, 1e4
    model = mfo.Model(
        [
            mfo.Organ(
                "site",
                mfo.Exponential(r),
                mfo.PowerLaw(m1, 1.0),
                initial=xp0,
                primary=True,
                metastasis_emission=mfo.PowerLaw(m2, 1.0),
            )
        ],
        transfers=[mfo.Transfer("site", "site", kind=mfo.IntraOrgan, fraction=0.5)],
        lethal_burden=None,
    )
    t = np.array([0.0, 50.0, 200.0])
    ds = mfo.simulate(model, 200.0, saveat=mfo.at(t), rtol=1e-12, atol=1e-12)
    metastatic = 0.5 * m1 * xp0 * (np.exp((r - m1) * t) - np.exp((r - m2 / 2) * t)) / (m2 / 2 - m1)
    np.testing.assert_allclose(ds.primary_burden.values, xp0 * np.exp((r - m1) * t), rtol=1e-9)
    np.testing.assert_allclose(
        ds.metastatic_burden.sel(organ="site").values, metastatic, rtol=1e-9, atol=1e-12
    )
