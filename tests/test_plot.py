"""Plots render headless and draw the expected artists."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import metaflow_ode as mfo
from metaflow_ode import plot


@pytest.fixture(scope="module")
def staged():
    model = mfo.parameter_sets.load("Benzekry2021")
    return mfo.simulate(
        model,
        80.0,
        saveat=mfo.every(5.0),
        interventions=[mfo.Resection("adrenal", 60.0)],
    )


def test_stage_timeline_draws_one_bar_segment_per_stage_run(staged, tmp_path):
    stages = [str(s) for s in staged.stage.values]
    runs = 1 + sum(a != b for a, b in zip(stages[:-1], stages[1:], strict=True))
    ax = plot.stage_timeline([staged, staged], ["a", "b"], years=False)
    assert len(ax.patches) == 2 * runs  # barh segments, both rows
    colours = {tuple(np.round(p.get_facecolor()[:3], 3)) for p in ax.patches}
    assert len(colours) == len(set(stages))
    # the resection is marked on both rows, at its time
    marks = [line for line in ax.lines if line.get_marker() == "v"]
    assert [float(m.get_xdata()[0]) for m in marks] == [60.0, 60.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]
    assert len(ax.get_legend().get_texts()) == len(mfo.STAGES)
    ax.figure.savefig(tmp_path / "timeline.png")
    assert (tmp_path / "timeline.png").stat().st_size > 5_000


def test_stage_timeline_rejects_unstaged_data_and_label_mismatch(staged):
    with pytest.raises(ValueError, match="needs staged datasets"):
        plot.stage_timeline(staged.drop_vars("stage"))
    with pytest.raises(ValueError, match="one label per dataset"):
        plot.stage_timeline([staged], ["a", "b"])


def test_burden_plot_draws_each_organ_and_the_whole_body(staged):
    ax = plot.burden(staged)
    labels = [line.get_label() for line in ax.lines]
    assert "whole body" in labels and "distant" in labels
    assert ax.get_yscale() == "log"
