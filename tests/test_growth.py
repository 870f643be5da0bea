"""Every growth law against its closed-form solution (single organ, no emission)."""

import numpy as np
import pytest

import metaflow_ode as mfo

T = np.linspace(0.0, 400.0, 9)
X0 = 1e3


def exponential(t):
    return X0 * np.exp(0.02 * t)


def logistic(t):
    return 1e9 / (1 + (1e9 / X0 - 1) * np.exp(-0.05 * t))


def gompertz(t):
    return 1e9 * np.exp(np.log(X0 / 1e9) * np.exp(-0.01 * t))


def generalised_logistic(t):
    k, r, nu = 1e9, 0.05, 0.5
    return k / (1 + ((k / X0) ** nu - 1) * np.exp(-r * nu * t)) ** (1 / nu)


def von_bertalanffy(t):
    p, loss = 0.3, 0.01
    return (p / loss + (X0 ** (1 / 3) - p / loss) * np.exp(-loss * t / 3)) ** 3


def power_growth(t):
    a, g = 2.0, 0.75
    return (X0 ** (1 - g) + (1 - g) * a * t) ** (1 / (1 - g))


CASES = [
    (mfo.Exponential(rate=0.02), exponential),
    (mfo.Logistic(rate=0.05, capacity=1e9), logistic),
    (mfo.Gompertz(rate=0.01, capacity=1e9), gompertz),
    (mfo.GeneralisedLogistic(rate=0.05, capacity=1e9, exponent=0.5), generalised_logistic),
    (mfo.VonBertalanffy(production=0.3, loss=0.01, exponent=2 / 3), von_bertalanffy),
    (mfo.PowerGrowth(coefficient=2.0, exponent=0.75), power_growth),
]


@pytest.mark.parametrize("law, exact", CASES, ids=lambda c: type(c).__name__)
def test_closed_form(law, exact):
    model = mfo.Model([mfo.Organ("tumour", law, initial=X0, primary=True)], lethal_burden=None)
    ds = mfo.simulate(model, T[-1], saveat=mfo.at(T), rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(ds.primary_burden.values, exact(T), rtol=1e-8)


@pytest.mark.parametrize("law, exact", CASES, ids=lambda c: type(c).__name__)
def test_rate_matches_derivative_of_closed_form(law, exact):
    # The law itself (not the solver) against a central difference of the closed form.
    t, h = 150.0, 1e-3
    x = exact(t)
    derivative = (exact(t + h) - exact(t - h)) / (2 * h)
    np.testing.assert_allclose(float(law(x)), derivative, rtol=1e-6)


@pytest.mark.parametrize("law", [c[0] for c in CASES], ids=lambda c: type(c).__name__)
def test_linear_continuation_below_one_cell(law):
    # Below one cell a fraction of a cell grows at the specific rate of a one-cell colony.
    assert float(law(0.0)) == 0.0
    assert float(law(-1.0)) == 0.0
    np.testing.assert_allclose(float(law(0.25)), 0.25 * float(law(1.0)), rtol=1e-15)
