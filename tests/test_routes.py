"""Dissemination matrix (carrier elimination) against closed forms and dynamic carriers."""

import numpy as np

import metaflow_ode as mfo


def chain_model(*, arrest_rate=1e3, clearance=5e2, lung_share=0.7):
    organs = [
        mfo.Organ("breast", mfo.Gompertz(0.01, 1e11), mfo.PowerLaw(1e-4, 0.8), primary=True),
        mfo.Organ("lung", mfo.Gompertz(0.012, 1e11), mfo.PowerLaw(1e-4, 0.8)),
        mfo.Organ("liver", mfo.Gompertz(0.011, 1e11)),
    ]
    carriers = [
        mfo.Carrier("venous", mfo.Haematogenous, clearance=clearance),
        mfo.Carrier("arterial", mfo.Haematogenous, clearance=clearance),
    ]
    transfers = [
        mfo.Transfer("breast", "venous", kind=mfo.Haematogenous, fraction=0.9),
        mfo.Transfer("lung", "venous", kind=mfo.Haematogenous),
        mfo.Transfer(
            "venous", "lung", kind=mfo.Haematogenous, rate=lung_share * arrest_rate, efficiency=0.3
        ),
        mfo.Transfer(
            "venous", "arterial", kind=mfo.Haematogenous, rate=(1 - lung_share) * arrest_rate
        ),
        mfo.Transfer("arterial", "liver", kind=mfo.Haematogenous, rate=arrest_rate),
    ]
    return mfo.Model(organs, carriers, transfers, lethal_burden=None)


def test_matrix_closed_form():
    k, r, s = 5e2, 1e3, 0.7
    P = mfo.dissemination_matrix(chain_model(arrest_rate=r, clearance=k, lung_share=s))
    survive = r / (r + k)  # share of a carrier's cells that leave it alive
    expected_lung = 0.9 * s * survive
    expected_liver = 0.9 * (1 - s) * survive * survive
    np.testing.assert_allclose(
        float(P.sel(route="haematogenous", source="breast", target="lung")),
        expected_lung,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        float(P.sel(route="haematogenous", source="breast", target="liver")),
        expected_liver,
        rtol=1e-12,
    )
    rows = P.sum(("route", "target"))
    assert np.all(rows.values <= 1 + 1e-12)
    colonising = mfo.dissemination_matrix(
        chain_model(arrest_rate=r, clearance=k, lung_share=s), colonising=True
    )
    np.testing.assert_allclose(
        float(colonising.sel(route="haematogenous", source="breast", target="lung")),
        0.3 * expected_lung,
        rtol=1e-12,
    )


def test_eliminated_carriers_agree_with_dynamic_when_transit_is_fast():
    model = chain_model()
    times = np.linspace(0, 1500, 6)
    dynamic = mfo.simulate(model, 1500.0, saveat=mfo.at(times), rtol=1e-10, atol=1e-10)
    eliminated = mfo.simulate(
        model,
        1500.0,
        saveat=mfo.at(times),
        rtol=1e-10,
        atol=1e-10,
        resolution=mfo.Lumped(eliminate_carriers=True),
    )
    # Transit lasts ~1/1500 day against growth over weeks: agreement to ~1e-3. (At t = 0 the
    # dynamic carriers are empty while the quasi-steady ones are already at equilibrium.)
    later = dict(time=slice(1, None))
    for name in ("burden", "colonies", "carrier_cells"):
        np.testing.assert_allclose(
            dynamic[name].isel(later).values,
            eliminated[name].isel(later).values,
            rtol=1e-3,
            atol=1e-9,
        )
    assert dynamic.attrs["options"] != eliminated.attrs["options"]
