"""Bad input fails at construction with a message that names the argument and the fix."""

import math

import numpy as np
import pytest

import metaflow_ode as mfo

G = mfo.Gompertz(0.01, 1e10)


def primary(**kw):
    return mfo.Organ("breast", G, mfo.PowerLaw(1e-6, 0.7), primary=True, **kw)


def liver(**kw):
    return mfo.Organ("liver", G, **kw)


def blood(**kw):
    kw.setdefault("clearance", 10.0)
    return mfo.Carrier("blood", mfo.Haematogenous, **kw)


T = mfo.Transfer
H = mfo.Haematogenous

CASES = [
    # (id, callable, exception, regex the message must match)
    ("negative rate", lambda: mfo.Gompertz(-1.0, 1e10), ValueError, r"Gompertz\(rate=.*>= 0"),
    ("nan rate", lambda: mfo.Exponential(math.nan), ValueError, r"Exponential\(rate=.*nan"),
    ("zero capacity", lambda: mfo.Logistic(0.1, 0.0), ValueError, r"capacity=.*> 0"),
    ("inf capacity", lambda: mfo.Gompertz(0.1, math.inf), ValueError, r"capacity=.*finite"),
    ("string rate", lambda: mfo.Gompertz("fast", 1e10), TypeError, r"Gompertz\(rate=.*number"),
    ("bool rate", lambda: mfo.Exponential(True), TypeError, r"Exponential\(rate=.*number"),
    ("array rate", lambda: mfo.Exponential(np.ones(3)), ValueError, r"scalar.*vmap"),
    ("emission exponent > 1", lambda: mfo.PowerLaw(1e-6, 1.5), ValueError, r"exponent=.*\[0, 1\]"),
    (
        "von Bertalanffy exponent 1",
        lambda: mfo.VonBertalanffy(1.0, 0.1, 1.0),
        ValueError,
        r"exponent=.*\(0, 1\)",
    ),
    ("growth not a law", lambda: mfo.Organ("x", 0.1), TypeError, r"growth=.*growth law"),
    (
        "growth law class not instance",
        lambda: mfo.Organ("x", mfo.Gompertz),
        TypeError,
        r"got a class",
    ),
    ("emission wrong type", lambda: mfo.Organ("x", G, G), TypeError, r"emission=.*emission law"),
    ("bad organ name", lambda: mfo.Organ("left lung", G), ValueError, r"not a valid name"),
    ("reserved name", lambda: mfo.Organ("whole_body", G), ValueError, r"reserved"),
    ("name not str", lambda: mfo.Organ(3, G), TypeError, r"name=.*string"),
    ("negative initial", lambda: liver(initial=-1.0), ValueError, r"initial=.*>= 0"),
    (
        "primary with 0 cells",
        lambda: primary(initial=0.0),
        ValueError,
        r"primary organ must be > 0",
    ),
    ("negative volume", lambda: liver(volume=-5.0), ValueError, r"volume=.*> 0"),
    (
        "metastasis law on non-primary",
        lambda: liver(metastasis_growth=G),
        ValueError,
        r"only to the\s+primary organ",
    ),
    ("failure without criterion", lambda: mfo.Failure(), ValueError, r"needs a criterion"),
    (
        "failure warning 1.5",
        lambda: mfo.Failure(burden=1e9, warning=1.5),
        ValueError,
        r"warning=.*\(0, 1\)",
    ),
    (
        "carrier kind not a RouteKind",
        lambda: mfo.Carrier("b", "blood"),
        TypeError,
        r"kind=.*route kind",
    ),
    (
        "clearance and half-life",
        lambda: mfo.Carrier("b", H, clearance=1.0, half_life=1.0),
        ValueError,
        r"one of the two",
    ),
    ("zero half-life", lambda: mfo.Carrier("b", H, half_life=0.0), ValueError, r"half_life=.*> 0"),
    ("transfer kind missing type", lambda: T("a", "b", kind=None), TypeError, r"route kind"),
    (
        "fraction above 1",
        lambda: T("a", "b", kind=H, fraction=1.2),
        ValueError,
        r"fraction=.*\[0, 1\]",
    ),
    ("negative carrier rate", lambda: T("a", "b", kind=H, rate=-1.0), ValueError, r"rate=.*>= 0"),
    ("no organs", lambda: mfo.Model([]), ValueError, r"empty"),
    ("organs not a list", lambda: mfo.Model(primary()), TypeError, r"wrap a single one in a list"),
    (
        "no primary",
        lambda: mfo.Model([liver()]),
        ValueError,
        r"exactly one organ with `primary=True`",
    ),
    (
        "two primaries",
        lambda: mfo.Model([primary(), mfo.Organ("lung", G, primary=True)]),
        ValueError,
        r"found 2",
    ),
    (
        "duplicate names",
        lambda: mfo.Model([primary(), liver(), liver()]),
        ValueError,
        r"more than one",
    ),
    (
        "organ and carrier share a name",
        lambda: mfo.Model([primary(), liver()], [mfo.Carrier("liver", H, clearance=1.0)]),
        ValueError,
        r"must be unique",
    ),
    (
        "unknown target",
        lambda: mfo.Model([primary(), liver()], [], [T("breast", "livr", kind=H)]),
        ValueError,
        r"unknown target 'livr'.*Did you mean 'liver'",
    ),
    (
        "unknown source",
        lambda: mfo.Model([primary()], [], [T("lung", "breast", kind=H)]),
        ValueError,
        r"unknown source 'lung'",
    ),
    (
        "rate out of an organ",
        lambda: mfo.Model([primary(), liver()], [], [T("breast", "liver", kind=H, rate=1.0)]),
        ValueError,
        r"use `fraction=`",
    ),
    (
        "carrier transfer without rate",
        lambda: mfo.Model([primary(), liver()], [blood()], [T("blood", "liver", kind=H)]),
        ValueError,
        r"needs `rate=`",
    ),
    (
        "fraction out of a carrier",
        lambda: mfo.Model(
            [primary(), liver()], [blood()], [T("blood", "liver", kind=H, fraction=0.5)]
        ),
        ValueError,
        r"use `rate=`",
    ),
    (
        "efficiency into a carrier",
        lambda: mfo.Model([primary()], [blood()], [T("breast", "blood", kind=H, efficiency=0.5)]),
        ValueError,
        r"applies only to transfers into\s+an organ",
    ),
    (
        "fractions sum above 1",
        lambda: mfo.Model(
            [primary(), liver()],
            [blood()],
            [
                T("breast", "liver", kind=H, fraction=0.7),
                T("breast", "blood", kind=H, fraction=0.6),
            ],
        ),
        ValueError,
        r"sum to 1.3 > 1",
    ),
    (
        "carrier with no way out",
        lambda: mfo.Model(
            [primary(), liver()], [blood(clearance=0.0)], [T("breast", "blood", kind=H)]
        ),
        ValueError,
        r"'blood'.*no way out",
    ),
    (
        "carrier cycle with no way out",
        lambda: mfo.Model(
            [primary()],
            [mfo.Carrier("a", H), mfo.Carrier("b", H)],
            [T("a", "b", kind=H, rate=1.0), T("b", "a", kind=H, rate=1.0)],
        ),
        ValueError,
        r"no way out",
    ),
    (
        "carrier to itself",
        lambda: mfo.Model([primary()], [blood()], [T("blood", "blood", kind=H, rate=1.0)]),
        ValueError,
        r"cannot transfer to itself",
    ),
    (
        "duplicate transfer",
        lambda: mfo.Model(
            [primary(), liver()],
            [],
            [
                T("breast", "liver", kind=H, fraction=0.5),
                T("breast", "liver", kind=mfo.Lymphatic, fraction=0.5),
            ],
        ),
        ValueError,
        r"distinct `name=`",
    ),
    (
        "replaced fraction without volume",
        lambda: mfo.Model([primary(), liver(failure=mfo.Failure(replaced_fraction=0.8))]),
        ValueError,
        r"needs the organ's\s+`volume=`",
    ),
    (
        "zero cell density",
        lambda: mfo.Model([primary()], cell_density=0.0),
        ValueError,
        r"cell_density=.*> 0",
    ),
    (
        "negative lethal burden",
        lambda: mfo.Model([primary()], lethal_burden=-1.0),
        ValueError,
        r"lethal_burden=.*> 0",
    ),
]


@pytest.mark.parametrize("make, error, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_there_are_at_least_twenty_distinct_cases():
    assert len({c[0] for c in CASES}) >= 20


@pytest.fixture(scope="module")
def small_model():
    return mfo.Model(
        [primary(), liver()],
        [blood()],
        [T("breast", "blood", kind=H, fraction=0.5), T("blood", "liver", kind=H, rate=5.0)],
    )


def test_with_parameters_validates(small_model):
    with pytest.raises(
        ValueError, match=r"unknown parameter path 'liver.growth.rat'.*'liver.growth.rate'"
    ):
        small_model.with_parameters({"liver.growth.rat": 0.1})
    with pytest.raises(ValueError, match=r"rate=.*>= 0"):
        small_model.with_parameters({"liver.growth.rate": -0.1})
    two_ways = mfo.Model(
        [primary(), liver()],
        [blood()],
        [
            T("breast", "blood", kind=H, fraction=0.5),
            T("breast", "liver", kind=H, fraction=0.5),
            T("blood", "liver", kind=H, rate=5.0, name="blood_to_liver"),
        ],
    )
    with pytest.raises(ValueError, match=r"sum to 1.5"):
        two_ways.with_parameters({"breast->liver.fraction": 1.0})
    with pytest.raises(TypeError, match="mapping"):
        small_model.with_parameters([("liver.growth.rate", 0.1)])


def test_simulate_options_validated(small_model):
    with pytest.raises(ValueError, match=r"t1=.*after"):
        mfo.simulate(small_model, -1.0)
    with pytest.raises(TypeError, match=r"solver=.*diffrax solver"):
        mfo.simulate(small_model, 10.0, solver="Tsit5")
    with pytest.raises(TypeError, match=r"resolution="):
        mfo.simulate(small_model, 10.0, resolution="lumped")
    with pytest.raises(ValueError, match=r"every\(interval\)"):
        mfo.every(0.0)
    with pytest.raises(ValueError, match=r"strictly increasing"):
        mfo.at([0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match=r"must lie in"):
        mfo.simulate(small_model, 10.0, saveat=mfo.at([0.0, 20.0]))
    with pytest.raises(ValueError, match=r"rtol=.*> 0"):
        mfo.simulate(small_model, 10.0, rtol=-1.0)


def test_parameter_values_match_the_listing_and_round_trip(small_model):
    values = small_model.parameter_values()
    table = mfo.parameters(small_model)
    assert list(values) == list(table.index)
    assert all(float(values[p]) == table.loc[p, "value"] for p in values)
    same = small_model.with_parameters(values)
    assert mfo.parameters(same).equals(table)
