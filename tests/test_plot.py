"""Plots render headless and draw the expected artists.

One small cohort (the colonies fidelity, a resection, 24 patients) is simulated once; every
plot of one simulation uses a staged patient of it, and the prediction bands reuse its
compiled program (same parameter paths, patients and options).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.patches import FancyArrowPatch, Rectangle

import metaflow_ode as mfo
from metaflow_ode import plot

YEAR = 365.25
T1 = 400.0
N = 24
RESECTION = 150.0
LIVER_WARNING = 0.3  # liver's warning fraction (the lung keeps the default 0.5)
PARAMETERS = {
    "liver.growth.rate": np.linspace(0.02, 0.06, N),
    "lung.growth.rate": np.linspace(0.05, 0.02, N),
}
# Everything the plots read, and nothing else: the same list for the cohort and the bands,
# so that both run one compiled program.
VARIABLES = [
    "burden",
    "metastatic_burden",
    "visible_lesions",
    "largest_lesion",
    "size_distribution",
    "failure_time",
    "warning_time",
    "failure_burden",
    "death_time",
    "lethal_burden",
    "failure_lethal",
    "intervention_time",
    "cause_of_death",
    "solver_status",
]
OPTIONS = dict(
    saveat=mfo.every(25.0),
    resolution=mfo.Colonies(windows=4, nodes=1, size_edges=(1.0, 1e3, 1e6, 1e9)),
    interventions=[mfo.Resection("breast", RESECTION)],
    variables=VARIABLES,
)


def tiny_model():
    return mfo.Model(
        [
            mfo.Organ(
                "breast",
                mfo.Exponential(rate=0.03),
                mfo.PowerLaw(coefficient=1e-4, exponent=1.0),
                primary=True,
                initial=1e6,
            ),
            mfo.Organ(
                "liver",
                mfo.Exponential(rate=0.05),
                failure=mfo.Failure(burden=1e9, warning=LIVER_WARNING),
            ),
            mfo.Organ(
                "lung", mfo.Exponential(rate=0.04), failure=mfo.Failure(burden=1e8, lethal=False)
            ),
        ],
        carriers=[mfo.Carrier("blood", mfo.Haematogenous, half_life=0.1, volume=5000.0)],
        transfers=[
            mfo.Transfer("breast", "blood", kind=mfo.Haematogenous, fraction=0.9),
            mfo.Transfer("blood", "liver", kind=mfo.Haematogenous, rate=1.0),
            mfo.Transfer("blood", "lung", kind=mfo.Haematogenous, rate=1.0),
        ],
        lethal_burden=1e12,
        name="tiny",
    )


@pytest.fixture(autouse=True)
def no_show_and_close(monkeypatch):
    def show(*args, **kwargs):
        raise AssertionError("a plot called plt.show()")

    monkeypatch.setattr(plt, "show", show)
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def cohort():
    return mfo.simulate_cohort(
        tiny_model(), PARAMETERS, T1, chunk_size=N, progress=False, **OPTIONS
    ).load()


@pytest.fixture(scope="module")
def patient(cohort):
    """A staged patient whose liver and lung both warn and fail, the liver failure killing."""
    both = np.isfinite(cohort.failure_time.sel(organ=["liver", "lung"])).all("organ")
    chosen = np.flatnonzero((both & np.isfinite(cohort.death_time)).values)
    assert chosen.size, "the cohort should hold a patient whose liver and lung both fail"
    return mfo.stage(cohort.isel(patient=int(chosen[0])))


@pytest.fixture(scope="module")
def bands():
    return mfo.prediction_bands(tiny_model(), PARAMETERS, T1, chunk_size=N, **OPTIONS)


def rendered(ax, tmp_path, name):
    path = tmp_path / f"{name}.png"
    ax.figure.savefig(path)
    return path.stat().st_size > 5_000


def curves(ax):
    """The labelled solid lines: one per organ, and the whole body."""
    return [line for line in lines_with(ax, linestyle="-") if line.get_label()[0] != "_"]


def lines_with(ax, *, marker=None, linestyle=None):
    return [
        line
        for line in ax.lines
        if (marker is None or line.get_marker() == marker)
        and (linestyle is None or line.get_linestyle() == linestyle)
    ]


# --- burden -------------------------------------------------------------------------------


def test_burden_draws_organs_levels_and_events(patient, tmp_path):
    ax = plot.burden(patient)
    solid = [line.get_label() for line in curves(ax)]
    assert solid == ["breast", "liver", "lung", "whole body"]
    # failure levels dashed (liver, lung, then the lethal whole-body burden), warning dotted
    dashed = [float(line.get_ydata()[0]) for line in lines_with(ax, linestyle="--")]
    np.testing.assert_allclose(dashed, [1e9, 1e8, 1e12])
    dotted = [float(line.get_ydata()[0]) for line in lines_with(ax, linestyle=":")]
    np.testing.assert_allclose(dotted, [LIVER_WARNING * 1e9, 0.5 * 1e8])
    # events: a cross per organ failure, an open circle per warning, at their times in years
    for marker, name in (("X", "failure_time"), ("o", "warning_time")):
        found = [float(line.get_xdata()[0]) for line in lines_with(ax, marker=marker)]
        expected = patient[name].sel(organ=["liver", "lung"]).values / YEAR
        np.testing.assert_allclose(found, expected)
    # a failure by burden lies on its failure level
    liver_cross = lines_with(ax, marker="X")[0]
    assert float(liver_cross.get_ydata()[0]) == pytest.approx(1e9, rel=0.05)
    death = [
        line for line in ax.lines if tuple(line.get_xdata()) == tuple(line.get_xdata()[:1]) * 2
    ]
    assert [float(line.get_xdata()[0]) for line in death] == [float(patient.death_time) / YEAR]
    assert any("death (liver)" in text.get_text() for text in ax.texts)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "time (years)" and ax.get_ylabel() == "tumour burden (cells)"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert {"liver", "whole body", "failure level", "warning level", "organ failure"} <= set(legend)
    assert rendered(ax, tmp_path, "burden")


def test_burden_of_chosen_organs_in_days_on_given_axes(patient):
    fig, (left, right) = plt.subplots(1, 2)
    ax = plot.burden(patient, ["lung"], ax=right, years=False, floor=1e3)
    assert ax is right and not left.lines
    solid = [line.get_label() for line in curves(ax)]
    assert solid == ["lung", "whole body"]
    (cross,) = lines_with(ax, marker="X")
    assert float(cross.get_xdata()[0]) == pytest.approx(
        float(patient.failure_time.sel(organ="lung"))
    )
    lung = curves(ax)[0].get_ydata()
    assert np.all(np.isnan(lung) | (lung >= 1e3)) and np.isnan(lung).any()
    assert ax.get_xlabel() == "time (days)"


def test_burden_gives_the_20_organs_of_a_whole_body_preset_distinct_colours():
    organs = [f"organ_{i}" for i in range(20)]
    time = np.linspace(0.0, 100.0, 5)
    ds = xr.Dataset(
        {
            "burden": (("time", "organ"), np.outer(np.exp(time / 20.0), np.arange(1.0, 21.0))),
            "failure_burden": ("organ", np.full(20, np.nan)),
        },
        coords={"time": time, "organ": organs},
    )
    ax = plot.burden(ds)
    colours = {line.get_label(): line.get_color() for line in curves(ax)}
    assert len(colours) == 21  # the organs and the whole body
    organ_colours = {matplotlib.colors.to_hex(colours[o]) for o in organs}
    assert len(organ_colours) == 20


def test_burden_rejects_bad_input(cohort, patient):
    with pytest.raises(ValueError, match=r"cohort of 24 patients: select one"):
        plot.burden(cohort)
    with pytest.raises(
        ValueError,
        match=r"\['brain'\] not in the dataset; its organs are \['breast', 'liver', 'lung'\]",
    ):
        plot.burden(patient, ["liver", "brain"])
    with pytest.raises(ValueError, match="floor"):
        plot.burden(patient, floor=0.0)
    with pytest.raises(TypeError, match="floor"):
        plot.burden(patient, floor="1")
    with pytest.raises(TypeError, match="xarray.Dataset"):
        plot.burden(patient.burden)
    with pytest.raises(TypeError, match="`ax` must be a matplotlib `Axes`"):
        plot.burden(patient, ax="left")


# --- stage timeline -----------------------------------------------------------------------


def stage_runs(ds):
    stages = [str(s) for s in ds.stage.values]
    return 1 + sum(a != b for a, b in zip(stages[:-1], stages[1:], strict=True))


def test_stage_timeline_draws_one_bar_segment_per_stage_run(cohort, tmp_path):
    staged = [mfo.stage(cohort.isel(patient=i)) for i in (0, N // 2, N - 1)]
    ax = plot.stage_timeline(staged, ["a", "b", "c"], years=False)
    assert len(ax.patches) == sum(stage_runs(ds) for ds in staged)  # barh segments, all rows
    colours = {tuple(np.round(p.get_facecolor()[:3], 3)) for p in ax.patches}
    assert len(colours) == len({str(s) for ds in staged for s in ds.stage.values})
    # the resection is marked on every row, at its time
    marks = lines_with(ax, marker="v")
    assert [float(m.get_xdata()[0]) for m in marks] == [RESECTION] * 3
    deaths = lines_with(ax, marker="x")
    assert len(deaths) == sum(np.isfinite(float(ds.death_time)) for ds in staged)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "b", "a"]
    assert len(ax.get_legend().get_texts()) == len(mfo.STAGES)
    assert rendered(ax, tmp_path, "timeline")


def test_stage_timeline_of_a_staged_cohort_labels_each_patient(cohort):
    chosen = [1, N - 2]
    staged = xr.concat([mfo.stage(cohort.isel(patient=i)) for i in chosen], dim="patient")
    ax = plot.stage_timeline(staged)
    assert len(ax.patches) == sum(stage_runs(staged.isel(patient=i)) for i in range(2))
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"patient {i}" for i in chosen][::-1]


def test_stage_timeline_rejects_unstaged_data_and_label_mismatch(cohort, patient):
    with pytest.raises(ValueError, match="needs staged datasets"):
        plot.stage_timeline(patient.drop_vars("stage"))
    with pytest.raises(ValueError, match="one label per dataset"):
        plot.stage_timeline([patient], ["a", "b"])
    with pytest.raises(ValueError, match=r"not staged; stage each patient"):
        plot.stage_timeline(cohort)
    with pytest.raises(TypeError, match="at least one dataset"):
        plot.stage_timeline([])


# --- model graph --------------------------------------------------------------------------


def graph_model():
    organ = lambda name, **kw: mfo.Organ(name, mfo.Exponential(rate=0.01), **kw)  # noqa: E731
    return mfo.Model(
        [
            organ("colon", emission=mfo.PowerLaw(coefficient=1e-4, exponent=1.0), primary=True),
            organ("liver", emission=mfo.PowerLaw(coefficient=1e-5, exponent=1.0)),
            organ("node"),
            organ("peritoneum"),
        ],
        carriers=[
            mfo.Carrier("portal_blood", mfo.Haematogenous, half_life=0.1),
            mfo.Carrier("lymph", mfo.Lymphatic, half_life=1.0),
        ],
        transfers=[
            mfo.Transfer("colon", "portal_blood", kind=mfo.Haematogenous, fraction=0.5),
            mfo.Transfer("portal_blood", "liver", kind=mfo.Haematogenous, rate=1.0),
            mfo.Transfer("colon", "lymph", kind=mfo.Lymphatic, fraction=0.2),
            mfo.Transfer("lymph", "node", kind=mfo.Lymphatic, rate=1.0),
            mfo.Transfer("colon", "peritoneum", kind=mfo.PerContinuitatem, fraction=0.1),
            mfo.Transfer("liver", "liver", kind=mfo.IntraOrgan, fraction=0.1),
        ],
        name="graph",
    )


def test_model_graph_draws_nodes_and_arrows_coloured_by_route(tmp_path):
    model = graph_model()
    ax = plot.model_graph(model)
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(model.transfers)
    for arrow, transfer in zip(arrows, model.transfers, strict=True):
        expected = matplotlib.colors.to_rgba(plot.ROUTE_COLOURS[transfer.kind.family])
        assert arrow.get_edgecolor() == pytest.approx(expected)
    names = [text.get_text() for text in ax.texts]
    assert sorted(names) == sorted(model.organ_names + model.carrier_names)
    bold = [t.get_text() for t in ax.texts if t.get_fontweight() == "bold"]
    assert bold == ["colon"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["haematogenous", "lymphatic", "per continuitatem", "intra organ"]
    assert rendered(ax, tmp_path, "graph")


def test_model_graph_from_a_dataset_matches_the_model(patient):
    from_model = plot.model_graph(tiny_model())
    from_data = plot.model_graph(patient, legend=False)
    assert from_data.get_legend() is None
    for ax in (from_model, from_data):
        assert len([p for p in ax.patches if isinstance(p, FancyArrowPatch)]) == 3
    assert [t.get_text() for t in from_data.texts] == [t.get_text() for t in from_model.texts]
    with pytest.raises(TypeError, match=r"takes an `mfo.Model`"):
        plot.model_graph("tiny")
    with pytest.raises(ValueError, match="no model description"):
        plot.model_graph(patient.assign_attrs(model=None))


def test_model_graph_colours_a_custom_route_kind_alike_from_model_and_dataset():
    # a route kind of the user's own, of the lymphatic family: green, from either input
    kind = mfo.RouteKind("nodal_drift", "drift to a node", "lymphatic")
    model = mfo.Model(
        [
            mfo.Organ("breast", mfo.Exponential(0.01), mfo.PowerLaw(1e-4, 1.0), primary=True),
            mfo.Organ("node", mfo.Exponential(0.01)),
        ],
        transfers=[mfo.Transfer("breast", "node", kind=kind, fraction=0.1)],
        name="custom",
    )
    ds = mfo.simulate(model, 1.0)

    def arrow_colours(ax):
        return [p.get_edgecolor() for p in ax.patches if isinstance(p, FancyArrowPatch)]

    from_model = arrow_colours(plot.model_graph(model))
    from_data = arrow_colours(plot.model_graph(ds))
    assert from_model == [matplotlib.colors.to_rgba(plot.ROUTE_COLOURS["lymphatic"])]
    assert from_data == from_model


# --- colony sizes -------------------------------------------------------------------------


def test_size_distribution_draws_one_curve_per_time(patient, tmp_path):
    times = [200.0, 300.0]
    ax = plot.size_distribution(patient, "liver", times=times, years=False)
    assert len(ax.lines) == len(times)
    for line, when in zip(ax.lines, times, strict=True):
        np.testing.assert_array_equal(line.get_xdata(), patient["size"].values)
        expected = patient.size_distribution.sel(organ="liver", time=when).values
        np.testing.assert_allclose(line.get_ydata(), np.where(expected > 0, expected, np.nan))
        assert line.get_label() == f"t = {when:g} days"
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlabel() == "colony size (cells)"
    assert rendered(ax, tmp_path, "sizes")


def test_size_distribution_default_times_have_colonies(patient):
    ax = plot.size_distribution(patient, "lung")
    assert 1 <= len(ax.lines) <= 5
    assert all(np.nanmax(line.get_ydata()) > 0 for line in ax.lines)


def test_size_distribution_rejects_bad_input(patient):
    with pytest.raises(ValueError, match=r"resolution=mfo.Colonies\(...\)"):
        plot.size_distribution(patient.drop_vars("size_distribution"), "liver")
    with pytest.raises(ValueError, match=r"\['brain'\] not in the dataset; its organs are"):
        plot.size_distribution(patient, "brain")
    with pytest.raises(ValueError, match=r"within \[0.0, 400.0\]"):
        plot.size_distribution(patient, "liver", times=[500.0])
    with pytest.raises(TypeError, match="one organ name"):
        plot.size_distribution(patient, ["liver"])


# --- cohorts ------------------------------------------------------------------------------


def test_survival_draws_curves_with_bands(cohort, tmp_path):
    km = mfo.kaplan_meier(cohort)
    ax = plot.survival(cohort, years=False)
    failing = [
        o for o in ("breast", "liver", "lung") if km.n_events.sel(endpoint=f"failure:{o}") > 0
    ]
    assert failing == ["liver", "lung"]
    assert len(ax.lines) == 1 + len(failing)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == len(ax.lines)
    for line, endpoint in zip(ax.lines, ["death"] + [f"failure:{o}" for o in failing], strict=True):
        np.testing.assert_allclose(line.get_xdata(), km.time.values)
        np.testing.assert_allclose(line.get_ydata(), km.survival.sel(endpoint=endpoint).values)
        assert f"({int(km.n_events.sel(endpoint=endpoint))} events)" in line.get_label()
    assert ax.get_ylabel() == "survival probability" and ax.get_xlabel() == "time (days)"
    assert len(ax.get_legend().get_texts()) == len(ax.lines)
    assert rendered(ax, tmp_path, "survival")
    assert len(plot.survival(cohort, organs=["lung"]).lines) == 2


def test_survival_rejects_bad_input(cohort, patient):
    with pytest.raises(ValueError, match="needs the dataset of a cohort"):
        plot.survival(patient)
    with pytest.raises(ValueError, match=r"\['brain'\] not in the dataset"):
        plot.survival(cohort, organs=["brain"])
    with pytest.raises(ValueError, match="confidence"):
        plot.survival(cohort, confidence=1.5)


def test_causes_of_death_draws_a_bar_per_cause(cohort, tmp_path):
    table = mfo.cause_of_death_shares(cohort)
    assert table.loc["alive", "patients"] > 0 and table.loc["liver", "patients"] > 0
    ax = plot.causes_of_death(cohort)
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == len(table)
    np.testing.assert_allclose([bar.get_width() for bar in bars], table["share"])
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        c.replace("_", " ") for c in table.index
    ]
    (errors,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    spans = [(seg[:, 0].min(), seg[:, 0].max()) for seg in errors.get_segments()]
    np.testing.assert_allclose(spans, table[["lower", "upper"]].to_numpy())
    counts = [t.get_text() for t in ax.texts]
    assert counts == [f"{k}/{N}" for k in table["patients"]]
    assert rendered(ax, tmp_path, "causes")
    with pytest.raises(ValueError, match="needs the dataset of a cohort"):
        plot.causes_of_death(patient_of(cohort))


def patient_of(cohort):
    return cohort.isel(patient=0)


# --- fit diagnostics ----------------------------------------------------------------------


def test_fit_diagnostics_draws_data_against_bands(bands, patient, tmp_path):
    truth = patient.burden.sel(organ="liver")
    data = pd.DataFrame(
        {
            "time": [100.0, 150.0, 200.0, 250.0, 300.0],
            "observable": "liver.burden",
            "value": [float(truth.sel(time=t)) for t in (100.0, 150.0, 200.0, 250.0, 300.0)],
            "censoring": ["left", "none", "none", None, "right"],
        }
    )
    ax = plot.fit_diagnostics(data, bands, years=False)
    shaded = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(shaded) == 1 and shaded[0].get_label() == "95% prediction band"
    (median,) = [line for line in ax.lines if line.get_label() == "median"]
    np.testing.assert_allclose(
        median.get_ydata(), bands.burden.sel(quantile=0.5, organ="liver").values
    )
    points = {m: lines_with(ax, marker=m) for m in ("o", "v", "^")}
    assert [len(points[m][0].get_xdata()) for m in ("o", "v", "^")] == [3, 1, 1]
    assert points["o"][0].get_markerfacecolor() != "none"
    assert points["v"][0].get_markerfacecolor() == "none"
    np.testing.assert_allclose(points["^"][0].get_xdata(), [300.0])
    assert ax.get_yscale() == "log" and ax.get_ylabel() == "liver.burden (cells)"
    assert rendered(ax, tmp_path, "fit")


def test_fit_diagnostics_of_event_times(bands):
    data = pd.DataFrame(
        {
            "time": [np.nan, np.nan, np.nan],
            "observable": "liver.failure_time",
            "value": [300.0, 350.0, 400.0],
            "censoring": ["none", "none", "right"],
            "patient": ["a", "b", "c"],
        }
    )
    ax = plot.fit_diagnostics(data, bands)
    (curve,) = [line for line in ax.lines if line.get_label().startswith("predicted")]
    np.testing.assert_allclose(
        curve.get_ydata(), bands.failure_probability.sel(organ="liver").values
    )
    np.testing.assert_allclose(lines_with(ax, marker="x")[0].get_xdata(), [300 / YEAR, 350 / YEAR])
    np.testing.assert_allclose(lines_with(ax, marker=">")[0].get_xdata(), [400 / YEAR])
    one = plot.fit_diagnostics(data, bands, patient="b")
    assert len(lines_with(one, marker="x")[0].get_xdata()) == 1


def test_fit_diagnostics_rejects_bad_event_times(bands):
    def table(observable, censoring="none"):
        return pd.DataFrame(
            {
                "time": [np.nan],
                "observable": [observable],
                "value": [300.0],
                "censoring": [censoring],
            }
        )

    # an organ the bands do not hold: the same message as for a time course
    for observable in ("kidney.failure_time", "kidney.burden"):
        with pytest.raises(ValueError, match=r"'kidney' of .* is not among the organs of the"):
            plot.fit_diagnostics(table(observable), bands)
    # a quantity its entity does not have
    for observable in ("liver.death_time", "whole_body.failure_time", "primary.death_time"):
        with pytest.raises(ValueError, match="is defined for"):
            plot.fit_diagnostics(table(observable), bands)
    with pytest.raises(ValueError, match="event time, which cannot be left-censored"):
        plot.fit_diagnostics(table("liver.failure_time", "left"), bands)


def test_fit_diagnostics_rejects_bad_input(bands):
    data = pd.DataFrame(
        {
            "time": [100.0, 100.0, 100.0],
            "observable": ["liver.burden", "blood.ctc_per_7_5ml", "whole_body.burden"],
            "value": [1e5, 2.0, 1e6],
        }
    )
    with pytest.raises(ValueError, match=r"has 3 observables, choose one of \['liver.burden'"):
        plot.fit_diagnostics(data, bands)
    with pytest.raises(ValueError, match="'lung.burden' is not in `data`"):
        plot.fit_diagnostics(data, bands, observable="lung.burden")
    with pytest.raises(ValueError, match=r"variables=\[..., 'ctc_per_7_5ml'\]"):
        plot.fit_diagnostics(data, bands, observable="blood.ctc_per_7_5ml")
    with pytest.raises(ValueError, match="quantiles do not add up"):
        plot.fit_diagnostics(data, bands, observable="whole_body.burden")
    with pytest.raises(ValueError, match="no `patient` column"):
        plot.fit_diagnostics(data, bands, observable="liver.burden", patient="a")
    with pytest.raises(TypeError, match="mfo.prediction_bands"):
        plot.fit_diagnostics(data, bands.drop_vars("quantile"), observable="liver.burden")
    with pytest.raises(ValueError, match="lacks the column"):
        plot.fit_diagnostics(data.drop(columns="value"), bands)
