"""Compile once, vmap, grad."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import metaflow_ode as mfo
from metaflow_ode import _simulate

SAVE = mfo.every(100.0)


@pytest.fixture(scope="module")
def model():
    return mfo.Model(
        [
            mfo.Organ("breast", mfo.Gompertz(0.01, 1e11), mfo.PowerLaw(1e-4, 0.8), primary=True),
            mfo.Organ("liver", mfo.Gompertz(0.012, 1e11), mfo.PowerLaw(1e-4, 0.8)),
            mfo.Organ("lung", mfo.Logistic(0.02, 1e10)),
        ],
        [mfo.Carrier("blood", mfo.Haematogenous, half_life=0.05)],
        [
            mfo.Transfer("breast", "blood", kind=mfo.Haematogenous),
            mfo.Transfer("liver", "blood", kind=mfo.Haematogenous),
            mfo.Transfer("blood", "liver", kind=mfo.Haematogenous, rate=20.0, efficiency=0.5),
            mfo.Transfer("blood", "lung", kind=mfo.Haematogenous, rate=30.0, efficiency=0.2),
        ],
        lethal_burden=None,
    )


def test_new_numbers_do_not_retrace(model):
    mfo.simulate(model, 1000.0, saveat=SAVE)
    before = _simulate._trace_count
    for rate in (0.008, 0.015):
        changed = model.with_parameters(
            {"liver.growth.rate": rate, "blood.clearance": 5.0, "blood->liver.efficiency": 0.4}
        )
        mfo.simulate(changed, 1000.0, saveat=SAVE)
    assert _simulate._trace_count == before
    # A different option set is a different program, as documented.
    mfo.simulate(model, 1000.0, saveat=SAVE, resolution=mfo.Lumped(eliminate_carriers=True))
    assert _simulate._trace_count == before + 1


def final_liver(model, rate):
    changed = model.with_parameters({"liver.growth.rate": rate})
    solution = mfo.solve(changed, 1000.0, saveat=SAVE, rtol=1e-10, atol=1e-10)
    solution = eqx.error_if(solution, solution.result != 0, "solve failed")
    return solution.burden[-1, 1]


def test_vmap_matches_loop(model):
    rates = jnp.array([0.008, 0.01, 0.014])
    batched = jax.vmap(lambda r: final_liver(model, r))(rates)
    looped = [float(final_liver(model, float(r))) for r in rates]
    np.testing.assert_allclose(np.asarray(batched), looped, rtol=1e-9)
    assert np.all(np.diff(np.asarray(batched)) > 0)


def test_grad_matches_central_differences(model):
    f = lambda r: jnp.log(final_liver(model, r))  # noqa: E731
    r, h = 0.01, 1e-6
    grad = float(jax.grad(f)(r))
    fd = (float(f(r + h)) - float(f(r - h))) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_float64_everywhere(model):
    sol = mfo.solve(model, 100.0)
    for leaf in jax.tree.leaves(sol):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert leaf.dtype == jnp.float64
    assert jax.config.jax_enable_x64
