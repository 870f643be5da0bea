"""Model files (issue 9): the TOML format round-trips models exactly and reports errors well."""

import os
import pathlib
import tomllib

import equinox as eqx
import jax
import numpy as np
import pytest
import tomli_w
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metaflow_ode as mfo
from metaflow_ode import _model_file

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "models"


def assert_identical(a, b):
    """Equal as pytrees, with the same static structure and bit-identical float64 leaves."""
    assert eqx.tree_equal(a, b) is True
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        assert np.asarray(x).dtype == np.asarray(y).dtype == np.float64
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes()


def assert_same_model(a: mfo.Model, b: mfo.Model):
    assert_identical(a, b)
    va, vb = a.parameter_values(), b.parameter_values()
    assert list(va) == list(vb)
    for path in va:
        assert np.asarray(va[path]).tobytes() == np.asarray(vb[path]).tobytes(), path


# --- hypothesis: random valid models ---------------------------------------------------------

positive = st.floats(min_value=0.0, max_value=1e300, exclude_min=True)
nonnegative = st.floats(min_value=0.0, max_value=1e300)
unit = st.floats(min_value=0.0, max_value=1.0)
open_unit = st.floats(min_value=0.0, max_value=1.0, exclude_min=True, exclude_max=True)
half_open_unit = st.floats(min_value=0.0, max_value=1.0, exclude_min=True)
volume = st.floats(min_value=1e-3, max_value=1e6)
time = st.floats(min_value=-1e6, max_value=1e6)
CUSTOM_KIND = mfo.RouteKind("custom_route", "a route of a user's own", "haematogenous")
kinds = st.sampled_from([*mfo.ROUTE_KINDS, CUSTOM_KIND])

growth_laws = st.one_of(
    st.builds(mfo.Exponential, rate=nonnegative),
    st.builds(mfo.Logistic, rate=nonnegative, capacity=positive),
    st.builds(mfo.Gompertz, rate=nonnegative, capacity=positive),
    st.builds(mfo.GeneralisedLogistic, rate=nonnegative, capacity=positive, exponent=positive),
    st.builds(mfo.VonBertalanffy, production=nonnegative, loss=nonnegative, exponent=open_unit),
    st.builds(mfo.PowerGrowth, coefficient=nonnegative, exponent=half_open_unit),
)
emission_laws = st.builds(mfo.PowerLaw, coefficient=nonnegative, exponent=unit)


def subset(draw, names):
    return draw(st.lists(st.sampled_from(names), unique=True)) if names else []


@st.composite
def failures(draw, has_volume: bool, fluids: dict[str, float]):
    criteria = {}
    for key in ("burden", "largest_lesion", "reserve"):
        if draw(st.booleans()):
            criteria[key] = draw(positive)
    if has_volume and draw(st.booleans()):
        criteria["replaced_fraction"] = draw(half_open_unit)
    if fluids and draw(st.booleans()):
        name = draw(st.sampled_from(sorted(fluids)))
        criteria["fluid"] = name
        criteria["fluid_volume"] = fluids[name] * draw(st.floats(1.01, 100.0))
        if draw(st.booleans()):
            criteria["fluid_rate"] = draw(positive)
    if not (criteria.keys() - {"fluid"}):
        criteria["burden"] = draw(positive)
    failure = mfo.Failure(
        **criteria, warning=draw(st.none() | open_unit), lethal=draw(st.booleans())
    )
    labels = {m: draw(st.text(max_size=8)) for m in subset(draw, list(failure.mechanisms))}
    return mfo.Failure(**criteria, warning=failure.warning, lethal=failure.lethal, labels=labels)


@st.composite
def models(draw):
    n_organs = draw(st.integers(1, 6))
    organ_names = [f"organ_{i}" for i in range(n_organs)]
    carrier_names = [f"carrier_{i}" for i in range(draw(st.integers(0, 3)))]
    nodes = organ_names + carrier_names
    primary = draw(st.integers(0, n_organs - 1))

    carriers, fluids = [], {}
    for name in carrier_names:
        fluid = None
        if draw(st.booleans()):
            lining = subset(draw, organ_names)
            obstructed_by = subset(draw, nodes)
            fluid = mfo.Fluid(
                draw(volume),
                draw(positive),
                secretion=draw(nonnegative) if lining else 0.0,
                obstruction=draw(positive) if obstructed_by else None,
                lining=lining,
                obstructed_by=obstructed_by,
            )
            fluids[name] = float(fluid.volume)
        if draw(st.booleans()):
            clearance = {"half_life": draw(st.floats(1e-6, 1e6))}
        else:
            clearance = {"clearance": draw(positive)}
        carriers.append(
            mfo.Carrier(
                name, draw(kinds), volume=draw(st.none() | positive), fluid=fluid, **clearance
            )
        )

    organs = []
    for i, name in enumerate(organ_names):
        is_primary = i == primary
        organ_volume = draw(st.none() | positive)
        extra = {}
        if is_primary and draw(st.booleans()):
            extra["metastasis_growth"] = draw(growth_laws)
        if is_primary and draw(st.booleans()):
            extra["metastasis_emission"] = draw(emission_laws)
        organs.append(
            mfo.Organ(
                name,
                draw(growth_laws),
                draw(st.none() | emission_laws),
                initial=draw(positive if is_primary else st.none() | nonnegative),
                primary=is_primary,
                volume=organ_volume,
                failure=draw(st.none() | failures(organ_volume is not None, fluids)),
                **extra,
            )
        )

    pairs = draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), unique=True))
    pairs = [(s, t) for s, t in pairs if not (s == t and s in carrier_names)]
    conduit = None
    if draw(st.booleans()):
        conduit = (draw(st.sampled_from(organ_names)), draw(st.sampled_from(organ_names)))
    sources = [s for s, _ in pairs] + ([conduit[0]] if conduit else [])
    transfers = []
    for k, (source, target) in enumerate(pairs):
        numbers = {}
        if source in organ_names:
            numbers["fraction"] = draw(unit) / sources.count(source)
        else:
            numbers["rate"] = draw(nonnegative)
        if target in organ_names and draw(st.booleans()):
            numbers["efficiency"] = draw(unit)
        name = f"edge_{k}" if draw(st.booleans()) else None
        transfers.append(mfo.Transfer(source, target, kind=draw(kinds), name=name, **numbers))
    if conduit:
        more_carriers, more_transfers = mfo.conduit(
            "duct",
            *conduit,
            kind=draw(kinds),
            length=draw(st.floats(1e-3, 1e3)),
            speed=draw(st.floats(1e-3, 1e3)),
            stages=draw(st.integers(1, 3)),
            half_life=draw(st.none() | st.floats(1e-3, 1e3)),
            fraction=draw(unit) / sources.count(conduit[0]),
            efficiency=draw(st.none() | unit),
        )
        carriers += more_carriers
        transfers += more_transfers
    return mfo.Model(
        organs,
        carriers,
        transfers,
        cell_density=draw(positive),
        lethal_burden=draw(st.none() | positive),
        name=draw(st.text(max_size=20)),
    )


@st.composite
def interventions(draw, model: mfo.Model):
    organs, carriers = list(model.organ_names), list(model.carrier_names)
    cavities = [c.name for c in model.carriers if c.fluid is not None]
    options = [
        st.builds(mfo.Resection, st.sampled_from(organs), time, residual=unit),
        st.builds(
            mfo.LocalAblation, st.sampled_from(organs), time, unit, visible_only=st.booleans()
        ),
    ]
    if len(organs) + len(carriers) > 1:
        source = draw(st.sampled_from(organs))
        targets = [n for n in organs + carriers if n != source]
        options.append(
            st.builds(mfo.IatrogenicSpill, st.just(source), st.sampled_from(targets), time, unit)
        )
    if cavities:
        options.append(st.builds(mfo.Drainage, st.sampled_from(cavities), time, to=volume))
        cavity = draw(st.sampled_from(cavities))
        baseline = float(model.carriers[carriers.index(cavity)].fluid.volume)
        options.append(
            st.builds(
                mfo.Drainage,
                st.just(cavity),
                trigger=st.just(baseline * 2.0),
                times=st.integers(1, 4),
            )
        )
    start = draw(time)
    stop = start + draw(st.floats(1e-3, 1e4))
    dosing = st.none() | st.builds(mfo.Dosing, positive, positive)
    for therapy in (mfo.SystemicTherapy, mfo.IntrathecalTherapy):
        kill = mfo.KillRate(draw(nonnegative))
        options.append(
            st.builds(
                therapy,
                st.just(start),
                st.just(stop),
                st.just(kill),
                organs=st.none() | st.lists(st.sampled_from(organs), unique=True),
                carriers=st.lists(st.sampled_from(carriers), unique=True)
                if carriers
                else st.just(()),
                dosing=dosing,
            )
        )
        options.append(
            st.builds(
                therapy,
                st.just(start),
                st.just(stop),
                st.builds(mfo.GrowthInhibition, unit),
                organs=st.none() | st.lists(st.sampled_from(organs), unique=True, min_size=1),
                carriers=st.just(()),
                dosing=dosing,
            )
        )
    return tuple(draw(st.lists(st.one_of(options), max_size=4)))


@st.composite
def models_with_interventions(draw):
    model = draw(models())
    return model, draw(interventions(model))


# printable text: no control characters (a TOML comment cannot hold them) and no surrogates;
# line breaks, tabs and other Unicode (line separators, right-to-left marks) are fine
comments = st.none() | st.text(
    st.characters(exclude_categories=("Cc", "Cs")) | st.sampled_from("\n\t"), max_size=40
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models_with_interventions(), comments)
def test_random_models_round_trip_exactly(model_and_interventions, comment):
    model, items = model_and_interventions
    text = mfo.model_to_toml(model, interventions=items, comment=comment)
    if comment:
        head = text.split("\n")[: comment.count("\n") + 1]
        assert all(line.startswith("#") for line in head), head
    loaded = mfo.model_from_toml(text)
    assert_same_model(loaded.model, model)
    assert_identical(loaded.interventions, items)
    assert [type(x) for x in loaded.interventions] == [type(x) for x in items]
    # writing the loaded model again gives the same text: nothing drifts over many round trips
    again = mfo.model_to_toml(loaded.model, interventions=loaded.interventions, comment=comment)
    assert again == text


@pytest.mark.parametrize("bad", ["\x00", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "a\rb", "end\r"])
def test_comment_with_control_characters_is_refused(bad):
    model = mfo.parameter_sets.load("Iwata2000")
    with pytest.raises(ValueError, match=r"`model_to_toml\(comment=...\)`.*control character"):
        mfo.model_to_toml(model, comment=f"made by hand {bad} here")
    # Windows line ends and tabs are fine
    text = mfo.model_to_toml(model, comment="line one\r\nline\ttwo")
    assert text.startswith("# line one\n# line\ttwo\n")
    assert_same_model(mfo.model_from_toml(text).model, model)


def test_model_to_toml_checks_interventions_against_the_model():
    model = mfo.parameter_sets.load("Iwata2000")
    for item in (
        mfo.Resection("nowhere", at=10.0),
        mfo.SystemicTherapy(0.0, 10.0, mfo.KillRate(0.1), carriers=("no_such_carrier",)),
    ):
        with pytest.raises(ValueError, match="not a"):
            mfo.model_to_toml(model, interventions=[item])


# --- presets and example files ---------------------------------------------------------------

PRESETS = {
    "breast_wholebody.toml": lambda: mfo.anatomy.reference_model(primary="breast"),
    "iwata2000.toml": lambda: mfo.parameter_sets.load("Iwata2000"),
}


@pytest.fixture(scope="module")
def presets():
    return {name: build() for name, build in PRESETS.items()}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_a_file(name, presets, tmp_path):
    model = presets[name]
    path = mfo.write_model(tmp_path / name, model)
    assert path == tmp_path / name and sorted(os.listdir(tmp_path)) == [name]
    loaded = mfo.read_model(path)
    assert loaded.path == path and loaded.interventions == ()
    assert_same_model(loaded.model, model)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_shipped_example_files_equal_the_python_models(name, presets):
    # fails when the preset changes and the file was not regenerated (regenerate.py)
    path = EXAMPLES / name
    loaded = mfo.read_model(path)
    assert_same_model(loaded.model, presets[name])
    assert path.read_text().startswith("# Generated from `")


def test_example_regeneration_script_rewrites_the_files(tmp_path, monkeypatch, presets):
    import importlib.util

    spec = importlib.util.spec_from_file_location("regenerate", EXAMPLES / "regenerate.py")
    regenerate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regenerate)
    monkeypatch.setattr(regenerate, "HERE", tmp_path)
    written = regenerate.main()
    assert sorted(p.name for p in written) == sorted(PRESETS)
    for path in written:
        assert path.read_text() == (EXAMPLES / path.name).read_text()


# --- what the format represents --------------------------------------------------------------


def test_file_keys_use_the_constructor_defaults():
    text = """
format = "metaflow_ode model"
version = 1

[[organs]]
name = "breast"
primary = true
growth = { law = "Gompertz", rate = 0.01, capacity = 1e12 }
emission = { law = "PowerLaw", coefficient = 1e-3, exponent = 1 }
failure = { burden = 1e11 }

[[organs]]
name = "liver"
growth = { law = "Gompertz", rate = 0.01, capacity = 1e12 }

[[carriers]]
name = "blood"
kind = "Haematogenous"
half_life = 0.1

[[transfers]]
source = "breast"
target = "blood"
kind = "haematogenous"

[[transfers]]
source = "blood"
target = "liver"
kind = "haematogenous"
rate = 10

[[interventions]]
type = "SystemicTherapy"
start = 100
stop = 200
effect = { type = "KillRate", rate = 0.05 }
"""
    loaded = mfo.model_from_toml(text)
    growth = mfo.Gompertz(rate=0.01, capacity=1e12)
    expected = mfo.Model(
        [
            mfo.Organ(
                "breast",
                growth,
                mfo.PowerLaw(1e-3, 1.0),
                primary=True,
                failure=mfo.Failure(burden=1e11),
            ),
            mfo.Organ("liver", growth),
        ],
        [mfo.Carrier("blood", mfo.Haematogenous, half_life=0.1)],
        [
            mfo.Transfer("breast", "blood", kind=mfo.Haematogenous),
            mfo.Transfer("blood", "liver", kind=mfo.Haematogenous, rate=10.0),
        ],
    )
    assert_same_model(loaded.model, expected)
    assert_identical(loaded.interventions, (mfo.SystemicTherapy(100.0, 200.0, mfo.KillRate(0.05)),))
    assert loaded.model.lethal_burden == 1e12 and loaded.model.name == "model"
    assert loaded.path is None


def test_documented_example_file_reads():
    text = (ROOT / "docs" / "model-files.md").read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    loaded = mfo.model_from_toml(example, source="model-files.md")
    assert loaded.model.organ_names == ("breast", "liver")
    assert loaded.model.carrier_names == ("blood",)
    assert loaded.interventions == (mfo.Resection("breast", 400.0),)


def test_conduits_table_expands_like_mfo_conduit():
    text = """
format = "metaflow_ode model"
version = 1

[[organs]]
name = "orbit"
primary = true
growth = { law = "Exponential", rate = 0.01 }
emission = { law = "PowerLaw", coefficient = 1e-3, exponent = 1.0 }

[[organs]]
name = "leptomeninges"
growth = { law = "Exponential", rate = 0.01 }

[[conduits]]
name = "optic"
source = "orbit"
target = "leptomeninges"
kind = "perineural_optic"
length = 50.0
speed = 2.0
stages = 4
half_life = 3.0
efficiency = 0.1
"""
    carriers, transfers = mfo.conduit(
        "optic",
        "orbit",
        "leptomeninges",
        kind=mfo.PerineuralOptic,
        length=50.0,
        speed=2.0,
        stages=4,
        half_life=3.0,
        efficiency=0.1,
    )
    growth = mfo.Exponential(rate=0.01)
    expected = mfo.Model(
        [
            mfo.Organ("orbit", growth, mfo.PowerLaw(1e-3, 1.0), primary=True),
            mfo.Organ("leptomeninges", growth),
        ],
        carriers,
        transfers,
    )
    loaded = mfo.model_from_toml(text)
    assert_same_model(loaded.model, expected)
    # written back, the conduit is its carriers and transfers
    assert "[[conduits]]" not in mfo.model_to_toml(loaded.model)


def test_unrepresentable_objects_are_refused_by_name():
    class MyGompertz(mfo.Gompertz):
        pass

    organ = mfo.Organ("liver", MyGompertz(rate=0.01, capacity=1e10), primary=True)
    with pytest.raises(TypeError, match="MyGompertz"):
        mfo.model_to_toml(mfo.Model([organ]))

    model = mfo.parameter_sets.load("Iwata2000")

    class MyResection(mfo.Resection):
        pass

    with pytest.raises(TypeError, match="MyResection"):
        mfo.model_to_toml(model, interventions=[MyResection("liver", 10.0)])
    # per-patient values, as `simulate_cohort` builds them
    cohort = eqx.tree_at(lambda m: m.organs[0].growth.rate, model, np.array([0.01, 0.02]))
    with pytest.raises(ValueError, match=r"shape \(2,\).*one model per patient"):
        mfo.model_to_toml(cohort)


def test_non_finite_numbers_are_valid_toml_and_reach_the_constructor_checks():
    text = mfo.model_to_toml(mfo.parameter_sets.load("Iwata2000")).replace(
        "rate = 0.00286", "rate = inf"
    )
    with pytest.raises(mfo.ModelFileError) as info:
        mfo.model_from_toml(text, source="iwata.toml")
    assert str(info.value).startswith("iwata.toml: organs[0].growth.rate: `Gompertz(rate=...)`")
    assert "finite" in str(info.value)


# --- validation errors -----------------------------------------------------------------------

BASE = """\
format = "metaflow_ode model"
version = 1
name = "test"
lethal_burden = 1e12

[[organs]]
name = "breast"
primary = true
growth = { law = "Gompertz", rate = 0.01, capacity = 1e12 }
emission = { law = "PowerLaw", coefficient = 1e-3, exponent = 1.0 }

[[organs]]
name = "liver"
volume = 1500.0
growth = { law = "Gompertz", rate = 0.01, capacity = 1e12 }
failure = { replaced_fraction = 0.75 }

[[carriers]]
name = "blood"
kind = "haematogenous"
clearance = 5.0

[[transfers]]
source = "breast"
target = "blood"
kind = "haematogenous"
fraction = 0.5

[[transfers]]
source = "blood"
target = "liver"
kind = "haematogenous"
rate = 10.0
efficiency = 0.01

[[interventions]]
type = "Resection"
organ = "breast"
at = 365.0
"""


def edit(change):
    document = tomllib.loads(BASE)
    change(document)
    return tomli_w.dumps(document)


def test_base_file_is_valid():
    loaded = mfo.model_from_toml(BASE)
    assert loaded.model.organ_names == ("breast", "liver")
    assert isinstance(loaded.interventions[0], mfo.Resection)


def _set(path, value):
    def change(document):
        *parents, last = path
        node = document
        for key in parents:
            node = node[key]
        node[last] = value

    return change


def _delete(path):
    def change(document):
        *parents, last = path
        node = document
        for key in parents:
            node = node[key]
        del node[last]

    return change


def _rename(path, new):
    def change(document):
        *parents, last = path
        node = document
        for key in parents:
            node = node[key]
        node[new] = node.pop(last)

    return change


def _append(section, table):
    return lambda document: document[section].append(table)


ERRORS = {
    "unknown key": (
        _rename(["organs", 0, "growth"], "grwth"),
        "organs[0].grwth",
        ['unknown key "grwth"', "use one of name, primary", '(did you mean "growth"?)'],
    ),
    "unknown key in a law": (
        _set(["organs", 1, "growth", "capacty"], 1e10),
        "organs[1].growth.capacty",
        ["use one of law, rate, capacity", '(did you mean "capacity"?)'],
    ),
    "unknown top-level key": (
        _set(["lethal_burdon"], 1e12),
        "lethal_burdon",
        ['(did you mean "lethal_burden"?)'],
    ),
    "wrong type": (
        _set(["organs", 0, "growth", "rate"], "0.01"),
        "organs[0].growth.rate",
        ['expected a number in 1/day, got string "0.01"', "without quotes"],
    ),
    "wrong type of a table": (
        _set(["organs", 1, "failure"], 0.75),
        "organs[1].failure",
        ["expected a table, got number 0.75", "write { burden = 1e11 }"],
    ),
    "true for an optional number": (
        _set(["lethal_burden"], True),
        "lethal_burden",
        ["got boolean true", "or false for none"],
    ),
    "missing required key": (
        _delete(["organs", 0, "growth", "capacity"]),
        "organs[0].growth.capacity",
        ["missing required key", "add `capacity = ...` (cells)"],
    ),
    "missing organ name": (
        _delete(["organs", 1, "name"]),
        "organs[1].name",
        ["missing required key", "add `name = ...`"],
    ),
    "unknown law": (
        _set(["organs", 0, "growth", "law"], "gompertzz"),
        "organs[0].growth.law",
        ['unknown growth law "gompertzz"', "use one of Exponential,", '(did you mean "Gompertz"?)'],
    ),
    "emission law given as a growth law": (
        _set(["organs", 0, "emission", "law"], "Gompertz"),
        "organs[0].emission.law",
        ['unknown emission law "Gompertz"', "use one of PowerLaw"],
    ),
    "unknown route kind": (
        _set(["transfers", 1, "kind"], "haematogenus"),
        "transfers[1].kind",
        ['unknown route kind "haematogenus"', "lymphatic", '(did you mean "haematogenous"?)'],
    ),
    "bad reference": (
        _set(["transfers", 1, "target"], "livr"),
        "transfers[1].target",
        ['"livr" is not an organ or carrier of the model', '(did you mean "liver"?)'],
    ),
    "bad fluid reference": (
        _set(["organs", 1, "failure", "fluid"], "bloood"),
        "organs[1].failure.fluid",
        ['"bloood" is not a carrier of the model', '(did you mean "blood"?)'],
    ),
    "duplicate name": (
        _set(["carriers", 0, "name"], "liver"),
        "carriers[0].name",
        ['the name "liver" is already used by organs[1]', "must be unique"],
    ),
    "duplicate transfer": (
        _append("transfers", {"source": "breast", "target": "blood", "kind": "lymphatic"}),
        "transfers[2].name",
        ['"breast->blood" (by default source->target) is already used by transfers[0]'],
    ),
    "constructor error of a law": (
        _set(["organs", 0, "growth", "rate"], -1.0),
        "organs[0].growth.rate",
        ["`Gompertz(rate=...)` must be a finite number >= 0, got -1.0"],
    ),
    "constructor error of an organ": (
        _set(["organs", 0, "initial"], 0.0),
        "organs[0].initial",
        ["of the primary organ must be > 0 cells", "the default is 1 cell"],
    ),
    "constructor error of a transfer": (
        _set(["transfers", 0, "rate"], 1.0),
        "transfers[0].rate",
        ["out of an organ a transfer takes a `fraction`", "use `fraction=`"],
    ),
    "model error": (
        _append(
            "transfers",
            {"source": "breast", "target": "liver", "kind": "lymphatic", "fraction": 0.75},
        ),
        "transfers",
        ["fractions out of organ 'breast' sum to 1.25 > 1", "scale them"],
    ),
    "two primaries": (
        _set(["organs", 1, "primary"], True),
        "organs",
        ["exactly one organ with `primary=True`, found 2"],
    ),
    "failure needs the volume": (
        _delete(["organs", 1, "volume"]),
        "organs[1].failure.replaced_fraction",
        ["needs the organ's `volume=`"],
    ),
    "unknown intervention": (
        _set(["interventions", 0, "type"], "Resektion"),
        "interventions[0].type",
        ['unknown intervention "Resektion"', '(did you mean "Resection"?)'],
    ),
    "intervention naming an unknown organ": (
        _set(["interventions", 0, "organ"], "lver"),
        "interventions[0].organ",
        ["`Resection(organ='lver')` is not an organ of the model", "Did you mean 'liver'?"],
    ),
    "a number as a therapy's organs": (
        _set(
            ["interventions", 0],
            {
                "type": "SystemicTherapy",
                "start": 0.0,
                "stop": 10.0,
                "effect": {"type": "KillRate", "rate": 0.1},
                "organs": 3,
            },
        ),
        "interventions[0].organs",
        ["expected organ names (one name or an array of them), got number 3", '["peritoneum"'],
    ),
    "an integer too large for a float64": (
        _set(["organs", 1, "volume"], 10**400),
        "organs[1].volume",
        ["too large for a float64"],
    ),
    "unknown effect": (
        _set(
            ["interventions", 0],
            {"type": "SystemicTherapy", "start": 0.0, "stop": 10.0, "effect": {"type": "Kill"}},
        ),
        "interventions[0].effect.type",
        ['unknown effect "Kill"', "use one of KillRate, GrowthInhibition"],
    ),
    "therapy stopping before it starts": (
        _set(
            ["interventions", 0],
            {
                "type": "SystemicTherapy",
                "start": 10.0,
                "stop": 0.0,
                "effect": {"type": "GrowthInhibition", "fraction": 0.5},
            },
        ),
        "interventions[0].start",
        ["stop must be after start"],
    ),
    "version as a string": (
        _set(["version"], "1"),
        "version",
        ['expected a positive integer, got string "1"; write 1'],
    ),
    "wrong format version": (
        _set(["version"], 2),
        "version",
        ["format version 2, newer than the version 1", "upgrade metaflow_ode"],
    ),
    "not a model file": (
        _delete(["format"]),
        "format",
        ["not a metaflow_ode model file", 'format = "metaflow_ode model"'],
    ),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_validation_errors_name_file_field_and_fix(case):
    change, field, fragments = ERRORS[case]
    with pytest.raises(mfo.ModelFileError) as info:
        mfo.model_from_toml(edit(change), source="breast.toml")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message.startswith(f"breast.toml: {field}: "), message
    assert info.value.source == "breast.toml" and info.value.field == field
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_therapy_organs_and_carriers_take_one_name_or_an_array():
    therapy = {
        "type": "SystemicTherapy",
        "start": 0.0,
        "stop": 10.0,
        "effect": {"type": "KillRate", "rate": 0.1},
    }
    for organs, carriers in (("liver", "blood"), (["liver"], ["blood"])):
        text = edit(_set(["interventions", 0], {**therapy, "organs": organs, "carriers": carriers}))
        (item,) = mfo.model_from_toml(text).interventions
        assert (item.organs, item.carriers) == (("liver",), ("blood",))


def test_model_file_error_pickles():
    import pickle

    error = mfo.ModelFileError("breast.toml", "organs[2].growth.law", "unknown law; use Gompertz")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is mfo.ModelFileError and str(back) == str(error)
    assert (back.source, back.field, back.problem) == (error.source, error.field, error.problem)


def test_byte_order_mark_is_read_and_bytes_are_refused(tmp_path):
    path = tmp_path / "windows.toml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode("utf-8"))
    assert mfo.read_model(path).model.organ_names == ("breast", "liver")
    with pytest.raises(TypeError, match=r"`model_from_toml\(text\)`.*decode.*read_model"):
        mfo.model_from_toml(BASE.encode("utf-8"))


def test_toml_syntax_error_reports_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    lines = BASE.splitlines()
    lines[8] = "growth = { law = Gompertz }"  # unquoted string on line 9
    path.write_text("\n".join(lines))
    with pytest.raises(mfo.ModelFileError) as info:
        mfo.read_model(path)
    assert str(info.value).startswith(f"{path}: line 9, column 18: invalid TOML: ")
    assert "fix the syntax there" in str(info.value)


def test_non_utf8_file_reports_the_line(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(BASE.replace('name = "test"', 'name = "t\xe9st"').encode("latin-1"))
    with pytest.raises(mfo.ModelFileError, match=r"latin1.toml: line 3: not UTF-8 text"):
        mfo.read_model(path)


# --- writing ---------------------------------------------------------------------------------


def test_write_model_replaces_a_file_whole_or_not_at_all(tmp_path, monkeypatch):
    iwata = mfo.parameter_sets.load("Iwata2000")
    path = tmp_path / "model.toml"
    mfo.write_model(path, iwata, comment="first")
    before = path.read_bytes()
    other = iwata.with_parameters({"liver.growth.rate": 0.005})

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(_model_file.os, "replace", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        mfo.write_model(path, other)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.toml"]
    monkeypatch.undo()

    monkeypatch.setattr(_model_file, "model_to_toml", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        mfo.write_model(path, other)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.toml"]
    monkeypatch.undo()

    mfo.write_model(path, other, interventions=[mfo.Resection("liver", 100.0)])
    assert os.listdir(tmp_path) == ["model.toml"]
    loaded = mfo.read_model(path)
    assert_same_model(loaded.model, other)
    assert loaded.interventions == (mfo.Resection("liver", 100.0),)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_write_model_refuses_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError):
        mfo.write_model(tmp_path / "no" / "model.toml", mfo.parameter_sets.load("Iwata2000"))
    assert os.listdir(tmp_path) == []


# --- one simulation --------------------------------------------------------------------------


def test_loaded_model_simulates_identically():
    # one compilation (about 20 s): the second solve reuses it, the numbers being leaves
    model = mfo.Model(
        [
            mfo.Organ(
                "breast",
                mfo.Gompertz(rate=0.01, capacity=1e12),
                mfo.PowerLaw(1e-3, 1.0),
                primary=True,
                initial=1e6,
            ),
            mfo.Organ("liver", mfo.Gompertz(rate=0.02, capacity=1e12), volume=1500.0),
        ],
        transfers=[mfo.Transfer("breast", "liver", kind=mfo.Haematogenous, efficiency=0.1)],
    )
    loaded = mfo.model_from_toml(mfo.model_to_toml(model))
    before = mfo.simulate(model, 100.0)
    after = mfo.simulate(loaded.model, 100.0)
    xr.testing.assert_identical(after, before)
    assert float(after.metastatic_burden.sel(organ="liver").isel(time=-1)) > 0
