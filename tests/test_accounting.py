"""Mass balance on random graphs: shed = arrived + cleared in transit + in carriers + lost."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metaflow_ode as mfo

KINDS = [mfo.Haematogenous, mfo.Lymphatic, mfo.IntraCavity, mfo.Perineural, mfo.ChoroidPlexus]


@st.composite
def graphs(draw):
    n_o = draw(st.integers(1, 4))
    n_c = draw(st.integers(0, 3))
    organs = []
    for i in range(n_o):
        organs.append(
            mfo.Organ(
                f"o{i}",
                mfo.Gompertz(draw(st.floats(0.005, 0.05)), draw(st.floats(1e9, 1e12))),
                mfo.PowerLaw(draw(st.floats(1e-6, 1e-3)), draw(st.floats(0.5, 1.0))),
                initial=draw(st.floats(1.0, 1e6)) if i == 0 else draw(st.sampled_from([0.0, 10.0])),
                primary=(i == 0),
            )
        )
    carriers = [
        mfo.Carrier(f"c{k}", draw(st.sampled_from(KINDS)), clearance=draw(st.floats(0.1, 50.0)))
        for k in range(n_c)
    ]
    names = [o.name for o in organs] + [c.name for c in carriers]
    pairs = draw(
        st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), max_size=8, unique=True)
    )
    pairs = [(s, t) for s, t in pairs if not (s == t and s.startswith("c"))]
    # Fractions out of each organ: random weights, normalised to a random total <= 1.
    out_of = {n: [t for s, t in pairs if s == n] for n in names}
    transfers = []
    for s, t in pairs:
        kind = draw(st.sampled_from(KINDS))
        efficiency = draw(st.floats(0.0, 1.0)) if t.startswith("o") else None
        if s.startswith("o"):
            total = draw(st.floats(0.1, 1.0))
            fraction = total / len(out_of[s])
            transfers.append(
                mfo.Transfer(s, t, kind=kind, fraction=fraction, efficiency=efficiency)
            )
        else:
            transfers.append(
                mfo.Transfer(
                    s, t, kind=kind, rate=draw(st.floats(0.01, 100.0)), efficiency=efficiency
                )
            )
    return mfo.Model(organs, carriers, transfers, lethal_burden=None)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_cells_are_accounted_for(model):
    ds = mfo.simulate(
        model,
        200.0,
        saveat=mfo.at([0.0, 50.0, 200.0]),
        rtol=1e-10,
        atol=1e-10,
        resolution=mfo.Lumped(accounting=True),
    )
    shed = ds.cumulative_shed.sum(("organ", "origin")).values
    arrived = ds.cumulative_arrived.sum(("organ", "origin")).values
    cleared = ds.cumulative_cleared.sum(("carrier", "origin")).values
    in_transit = ds.carrier_cells.sum(("carrier", "origin")).values
    lost = ds.cumulative_lost.sum(("organ", "origin")).values
    np.testing.assert_allclose(shed, arrived + cleared + in_transit + lost, rtol=1e-8, atol=1e-12)
    # Colonies founded never exceed cells arriving (efficiency <= 1).
    assert np.all(ds.colonies.values <= ds.cumulative_arrived.values * (1 + 1e-9) + 1e-12)
