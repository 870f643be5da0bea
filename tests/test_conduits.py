"""Conduits with length: arrival delayed by length / speed; only the conduit's clearance is lost."""

import numpy as np
import pytest

import metaflow_ode as mfo


def _model(half_life=None, stages=6):
    # A primary of constant size (no growth) shedding E = m x cells/day into the conduit.
    carriers, transfers = mfo.conduit(
        "optic_sheath",
        "orbit",
        "brain",
        kind=mfo.PerineuralOptic,
        length=50.0,  # mm
        speed=10.0,  # mm/day: mean transit 5 days
        stages=stages,
        half_life=half_life,
    )
    organs = [
        mfo.Organ(
            "orbit", mfo.Exponential(1e-3), mfo.PowerLaw(1e-3, 1.0), primary=True, initial=1e6
        ),
        mfo.Organ("brain", mfo.Exponential(0.0)),
    ]
    return mfo.Model(organs, carriers, transfers, lethal_burden=None)


def _simulate(model, t1):
    return mfo.simulate(
        model,
        t1,
        saveat=mfo.at([t1]),
        resolution=mfo.Lumped(accounting=True),
        rtol=1e-10,
        atol=1e-10,
    )


def test_arrival_is_delayed_by_length_over_speed():
    # Shedding E is constant (growth rate = shedding rate): the cumulative arrivals are
    # E * int_0^t F(s) ds, with F the transit-time distribution, = E (t - mean) once t >> mean.
    model = _model()
    t1 = 60.0
    ds = _simulate(model, t1)
    shed = float(ds.cumulative_shed.sum())
    rate = shed / t1
    arrived = float(ds.cumulative_arrived.sel(organ="brain").sum())
    delay = t1 - arrived / rate
    assert abs(delay - 50.0 / 10.0) < 1e-6


def test_nothing_is_lost_but_what_the_conduit_clears():
    stages, half_life = 6, 3.0
    model = _model(half_life=half_life, stages=stages)
    t1 = 200.0
    ds = _simulate(model, t1)
    shed = float(ds.cumulative_shed.sum())
    arrived = float(ds.cumulative_arrived.sum())
    cleared = float(ds.cumulative_cleared.sum())
    in_transit = float(ds.carrier_cells.sum())
    np.testing.assert_allclose(arrived + cleared + in_transit, shed, rtol=1e-8)
    # Each stage is left at k and cleared at c: at steady state the arrival rate (k times the
    # last stage) over the shedding rate (1e-3 * 1e6 cells/day) is (k / (k + c))^stages.
    k, c = stages * 10.0 / 50.0, np.log(2) / half_life
    last = float(ds.carrier_cells.sel(carrier=f"optic_sheath_{stages}").sum())
    np.testing.assert_allclose(k * last / 1e3, (k / (k + c)) ** stages, rtol=1e-8)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"length": 0.0}, "length"), ({"speed": -1.0}, "speed"), ({"stages": 0}, "stages")],
)
def test_conduit_rejects_bad_input(kwargs, match):
    base = dict(kind=mfo.Perineural, length=10.0, speed=1.0)
    with pytest.raises(ValueError, match=match):
        mfo.conduit("nerve", "a", "b", **{**base, **kwargs})
