"""The command line (`metaflow_ode.cli`): run, info, cohort, errors and help.

Everything runs in this process through `cli.main([...])` (one tiny model and one set of
solver options, so JAX compiles each program once), except one subprocess smoke test of
`python -m metaflow_ode --help`. The demo's own tests are in test_package.py.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import metaflow_ode as mfo
from metaflow_ode import _cohort, cli

T1, SAVEAT = "400", "50"
RESECTION_DAY = 250.0
LOGNORMAL_SIGMA = 0.25


def tiny_model(carrier: bool = False):
    """Three organs; without a carrier the solver is explicit (Tsit5), which compiles fast."""
    organs = [
        mfo.Organ("breast", mfo.Exponential(0.05), mfo.PowerLaw(1e-3, 1.0), primary=True),
        mfo.Organ("liver", mfo.Exponential(0.04), failure=mfo.Failure(burden=1e5)),
        mfo.Organ("lung", mfo.Exponential(0.03)),
    ]
    if carrier:
        carriers = [mfo.Carrier("blood", mfo.Haematogenous, clearance=10.0)]
        transfers = [
            mfo.Transfer("breast", "blood", kind=mfo.Haematogenous),
            mfo.Transfer("blood", "liver", kind=mfo.Haematogenous, rate=1.0),
            mfo.Transfer("blood", "lung", kind=mfo.Lymphatic, rate=1.0, efficiency=0.5),
        ]
    else:
        carriers = []
        transfers = [
            mfo.Transfer("breast", "liver", kind=mfo.Haematogenous, fraction=0.01),
            mfo.Transfer("breast", "lung", kind=mfo.Lymphatic, fraction=0.01, efficiency=0.5),
        ]
    return mfo.Model(organs, carriers, transfers, lethal_burden=1e9, name="tiny")


INTERVENTIONS = (mfo.Resection("breast", at=RESECTION_DAY),)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "tiny.toml"
    mfo.write_model(path, tiny_model())
    return path


@pytest.fixture(scope="module")
def treated_file(tmp_path_factory):
    """The model with a resection: its interventions must reach `simulate` (a program with
    interventions compiles for long, so the solver runs only on the untreated file)."""
    path = tmp_path_factory.mktemp("models") / "treated.toml"
    mfo.write_model(path, tiny_model(carrier=True), interventions=INTERVENTIONS)
    return path


def reference(model=None):
    """What `run` must compute: `simulate` with the same options."""
    return mfo.simulate(
        tiny_model() if model is None else model, float(T1), saveat=mfo.every(float(SAVEAT))
    )


def one_error_line(capsys, *words):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("metaflow-ode: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# --- run ------------------------------------------------------------------------------------


def test_run_writes_dataset_and_figure_atomically(model_file, tmp_path, capsys):
    out, fig = tmp_path / "result.nc", tmp_path / "fig.png"
    argv = ["run", str(model_file), "--t1", T1, "--saveat", SAVEAT, "--out", str(out)]
    assert cli.main([*argv, "--plot", str(fig)]) == 0
    printed = capsys.readouterr().out
    expected = reference()
    with xr.open_dataset(out) as ds:
        np.testing.assert_allclose(ds.burden.values, expected.burden.values, rtol=1e-10)
        np.testing.assert_array_equal(ds.time.values, np.arange(0.0, 401.0, 50.0))
    death = float(expected.death_time)
    assert np.isfinite(death)  # the liver fails and the patient dies: the summary says so
    assert f"death: {death:.1f} days" in printed
    assert f"cause: {expected.cause_of_death.values}" in printed
    assert "liver" in printed.split("organ failures:")[1]
    assert fig.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "result.nc"]

    # A Zarr store, written twice (the second replaces the first): nothing else is left.
    store = tmp_path / "result.zarr"
    assert cli.main([*argv[:-1], str(store)]) == 0
    assert cli.main([*argv[:-1], str(store), "--overwrite"]) == 0
    with xr.open_zarr(store) as back:
        np.testing.assert_allclose(back.burden.values, expected.burden.values, rtol=1e-10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "result.nc", "result.zarr"]


def test_run_passes_fidelity_tolerances_and_interventions(
    treated_file, tmp_path, monkeypatch, capsys
):
    # The colonies fidelity compiles a large program; here only its selection is checked.
    seen = {}
    stored = reference()

    def fake_simulate(model, t1, **kwargs):
        seen.update(kwargs, t1=t1)
        return stored

    monkeypatch.setattr(mfo, "simulate", fake_simulate)
    out = tmp_path / "c.nc"
    argv = ["run", str(treated_file), "--t1", "300", "--t0", "10", "--out", str(out)]
    assert cli.main([*argv, "--fidelity", "colonies", "--rtol", "1e-6", "--atol", "1e-3"]) == 0
    assert isinstance(seen["resolution"], mfo.Colonies)
    assert (seen["t1"], seen["t0"], seen["rtol"], seen["atol"]) == (300.0, 10.0, 1e-6, 1e-3)
    assert seen["saveat"] is None and seen["interventions"] == INTERVENTIONS
    seen.clear()
    assert cli.main([*argv, "--overwrite"]) == 0
    assert isinstance(seen["resolution"], mfo.Lumped)
    # tolerances not given: the library's defaults, not a copy of them in the CLI
    assert "rtol" not in seen and "atol" not in seen
    capsys.readouterr()


@pytest.mark.parametrize("kind", ["file", "store", "folder"])
def test_run_refuses_an_existing_output_without_overwrite(
    model_file, tmp_path, monkeypatch, capsys, kind
):
    def fake_simulate(model, t1, **kwargs):
        raise AssertionError("simulated although the output exists")

    monkeypatch.setattr(mfo, "simulate", fake_simulate)
    out = tmp_path / ("r.nc" if kind == "file" else "r.zarr")
    if kind == "file":
        out.write_bytes(b"an earlier result")
    else:
        out.mkdir()
        (out / ("zarr.json" if kind == "store" else ".zgroup")).write_text("{}")
    with pytest.raises(SystemExit) as info:
        cli.main(["run", str(model_file), "--t1", "10", "--out", str(out)])
    assert info.value.code == 2
    one_error_line(capsys, str(out), "already exists", "--overwrite")
    assert out.exists() and (out.is_dir() or out.read_bytes() == b"an earlier result")


def test_save_figure_mode_follows_umask_and_failure_keeps_the_old_file(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = tmp_path / "fig.png"
    mask = os.umask(0o027)
    try:
        cli.save_figure(fig, path)
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o640  # not mkstemp's 0o600
    before = path.read_bytes()

    def fail(target, *args, **kwargs):
        pathlib.Path(target).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", fail)
    with pytest.raises(OSError, match="disk full"):
        cli.save_figure(fig, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
    plt.close(fig)


def test_demo_checks_the_figure_before_simulating(tmp_path, monkeypatch, capsys):
    def fake_simulate(*args, **kwargs):
        raise AssertionError("simulated before checking --figure")

    monkeypatch.setattr(mfo, "simulate", fake_simulate)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(["demo", "--years", "1", "--figure", "x.xyz"])
    assert info.value.code == 2
    one_error_line(capsys, "--figure", "unknown figure format", "xyz")
    with pytest.raises(ValueError, match=r"`demo\(figure=...\)`.*unknown figure format"):
        cli.demo(years=1.0, output=tmp_path / "d.nc", figure=tmp_path / "d.xyz")
    assert list(tmp_path.iterdir()) == []


# --- info -----------------------------------------------------------------------------------


def test_info_prints_every_organ_and_parameter_with_units(treated_file, capsys):
    assert cli.main(["info", str(treated_file)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "3 organs, 1 carrier, 3 transfers, 1 intervention" in text
    table = mfo.parameters(tiny_model(carrier=True))
    for organ, role in (("breast", "primary"), ("liver", "secondary"), ("lung", "secondary")):
        assert any(line.split()[:2] == [organ, role] for line in lines), organ
    for path, row in table.iterrows():
        line = next(line for line in lines if line.split() and line.split()[0] == path)
        assert f" {row['units']} " in line and row["description"] in line, line
    assert "lymphatic" in text and "haematogenous" in text and "Resection" in text

    assert cli.main(["info", str(treated_file), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["parameters"] == len(table)
    assert {p["path"]: p["units"] for p in summary["parameters"]} == dict(table["units"])
    assert summary["route_kinds"] == {"haematogenous": 2, "lymphatic": 1}
    assert summary["primary"] == "breast"


# --- cohort ---------------------------------------------------------------------------------


def test_cohort_writes_a_store_and_resumes_without_recomputing(
    model_file, tmp_path, monkeypatch, capsys
):
    store = tmp_path / "cohort.zarr"
    vary = f"breast.growth.rate=lognormal:{LOGNORMAL_SIGMA}"
    argv = ["cohort", str(model_file), "--patients", "5", "--chunk-size", "2", "--seed", "3"]
    argv += ["--t1", T1, "--saveat", SAVEAT, "--vary", vary, "--out", str(store)]
    launch = _cohort._launch_chunk
    calls = []

    def interrupted(*args):  # the third chunk is never started: chunk 0 is written by then
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return launch(*args)

    monkeypatch.setattr(_cohort, "_launch_chunk", interrupted)
    assert cli.main(argv) == 130
    one_error_line(capsys, "interrupted", "resume")
    with xr.open_zarr(store, consolidated=False) as partial:
        np.testing.assert_array_equal(partial.chunk_completed.values, [1, 0, 0])

    calls.clear()

    def counted(*args):
        calls.append(1)
        return launch(*args)

    monkeypatch.setattr(_cohort, "_launch_chunk", counted)
    assert cli.main(argv) == 0
    assert len(calls) == 2  # only the two missing chunks ran
    printed = capsys.readouterr().out
    assert "resumed: 1 of 3 chunks" in printed and "patients: 5, solver failures: 0" in printed
    assert "deaths:" in printed and "median survival" in printed

    patients = mfo.sample_patients(
        5, {"breast.growth.rate": mfo.LogNormal(0.05, LOGNORMAL_SIGMA)}, seed=3
    )
    rates = patients["breast.growth.rate"].values
    with xr.open_zarr(store, consolidated=False) as ds:
        assert ds.sizes["patient"] == 5
        np.testing.assert_array_equal(ds.chunk_completed.values, [1, 1, 1])
        np.testing.assert_array_equal(
            ds.parameter_value.sel(parameter="breast.growth.rate").values, rates
        )
        one = reference(tiny_model().with_parameters({"breast.growth.rate": rates[4]}))
        np.testing.assert_allclose(ds.burden.isel(patient=4).values, one.burden, rtol=1e-6)
        died = int(np.isfinite(ds.death_time.values).sum())
    assert f"deaths: {died} of 5" in printed

    # Another cohort (other seed) into the same store: an error naming --overwrite, then done.
    other = [*argv[:7], "4", *argv[8:]]
    assert cli.main(other) == 1
    one_error_line(capsys, str(store), "--overwrite")
    returned = []
    simulate_cohort = mfo.simulate_cohort

    def recorded(*args, **kwargs):
        returned.append(simulate_cohort(*args, **kwargs))
        return returned[-1]

    monkeypatch.setattr(mfo, "simulate_cohort", recorded)
    assert cli.main([*other, "--overwrite"]) == 0
    monkeypatch.undo()
    # the CLI closes the store it summarised (xarray's `close` clears `_close`) ...
    (result,) = returned
    assert result._close is None
    # ... and the one it opened to see what a resumed run found
    opened = []

    def recorded_open(*args, **kwargs):
        opened.append(open_zarr(*args, **kwargs))
        return opened[-1]

    open_zarr = xr.open_zarr
    monkeypatch.setattr(xr, "open_zarr", recorded_open)
    assert cli._store_state(store) is not None
    monkeypatch.undo()
    assert len(opened) == 1 and opened[0]._close is None
    with xr.open_zarr(store, consolidated=False) as ds:
        assert not np.array_equal(
            ds.parameter_value.sel(parameter="breast.growth.rate").values, rates
        )
    capsys.readouterr()


def test_parse_vary_grammar():
    model = tiny_model()
    path, dist = cli.parse_vary("breast.growth.rate=lognormal:0.25", model)
    assert path == "breast.growth.rate" and dist == mfo.LogNormal(0.05, 0.25)
    assert cli.parse_vary("lung.growth.rate=LogNormal:0.02,0.5", model)[1] == mfo.LogNormal(
        0.02, 0.5
    )
    assert cli.parse_vary("breast->lung.efficiency=uniform:0.1,0.9", model) == (
        "breast->lung.efficiency",
        mfo.Uniform(0.1, 0.9),
    )
    assert cli.parse_vary("liver.growth.rate=normal:0.01", model)[1] == mfo.Normal(0.04, 0.01)
    assert cli.parse_vary("liver.growth.rate=truncnormal:0.01,0,inf", model)[
        1
    ] == mfo.TruncatedNormal(0.04, 0.01, 0.0, np.inf)
    assert cli.parse_vary("liver.initial=fixed", model)[1] == mfo.Fixed(0.0)
    assert cli.parse_vary("liver.initial=fixed:2", model)[1] == mfo.Fixed(2.0)
    for spec, words in [
        ("breast.growth.rate", "PATH=DIST"),
        ("breast.growth.rate=gamma:1", "unknown distribution"),
        ("breast.growth.rate=uniform:0.1", "uniform:LOW,HIGH"),
        ("breast.growth.rate=lognormal:a", "numbers"),
        ("breast.growth.rate=lognormal:-1", "sigma"),
        ("liver.initial=lognormal:0.3", "median"),  # the model's value 0 is no median
        ("breast.growth.rat=fixed", "did you mean 'breast.growth.rate'"),
    ]:
        with pytest.raises(ValueError, match="--vary") as info:
            cli.parse_vary(spec, model)
        for word in words.split("|"):
            assert word in str(info.value), (spec, str(info.value))


# --- errors ---------------------------------------------------------------------------------


def test_missing_model_file_is_one_line_and_status_1(tmp_path, capsys):
    missing = tmp_path / "missing.toml"
    assert cli.main(["info", str(missing)]) == 1
    one_error_line(capsys, "No such file", str(missing))
    assert cli.main(["run", str(missing), "--t1", "10", "--out", str(tmp_path / "r.nc")]) == 1
    one_error_line(capsys, str(missing))
    assert not (tmp_path / "r.nc").exists()


def test_bad_model_file_field_is_one_line(model_file, tmp_path, capsys):
    text = model_file.read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('law = "Exponential", rate = 0.05', 'law = "Exponentiall"', 1))
    assert bad.read_text() != text
    assert cli.main(["run", str(bad), "--t1", "10", "--out", str(tmp_path / "r.nc")]) == 1
    one_error_line(capsys, "bad.toml", "organs[0].growth")
    assert list(tmp_path.iterdir()) == [bad]


@pytest.mark.parametrize(
    "options, words",
    [
        (["--vary", "breast.growth.rate"], ["PATH=DIST"]),
        (["--vary", "breast.growth.rate=poisson:3"], ["unknown distribution", "poisson"]),
        (["--vary", "breast.growth.rat=lognormal:0.2"], ["unknown parameter path", "did you"]),
        (["--vary", "liver.growth.rate=fixed", "--vary", "liver.growth.rate=fixed"], ["twice"]),
        ([], ["--vary"]),
        (["--vary", "liver.growth.rate=fixed", "--patients", "0"], ["--patients"]),
        (["--vary", "liver.growth.rate=fixed", "--fidelity", "pde"], ["--fidelity", "pde"]),
    ],
)
def test_cohort_usage_errors_exit_2_with_one_line(model_file, tmp_path, capsys, options, words):
    argv = ["cohort", str(model_file), "--patients", "3", "--t1", "10"]
    argv += ["--out", str(tmp_path / "s.zarr"), *options]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    one_error_line(capsys, *words)
    assert not (tmp_path / "s.zarr").exists()


@pytest.mark.parametrize(
    "options, words",
    [
        (["--fidelity", "pde"], ["--fidelity", "invalid choice"]),
        (["--out", "result.csv"], ["--out", ".nc"]),
        (["--t1", "inf"], ["--t1", "finite"]),
        (["--t0", "20"], ["after --t0"]),
        (["--saveat", "0"], ["--saveat"]),
        (["--plot", "fig.xyz"], ["unknown figure format", "xyz"]),
        (["--t1", "ten"], ["--t1", "invalid float"]),
    ],
)
def test_run_usage_errors_exit_2_with_one_line(
    model_file, tmp_path, monkeypatch, capsys, options, words
):
    monkeypatch.chdir(tmp_path)
    argv = ["run", str(model_file), "--t1", "10", "--out", "r.nc", *options]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    one_error_line(capsys, *words)
    assert list(tmp_path.iterdir()) == []


def test_solver_failure_is_one_line_unless_debug(model_file, tmp_path, monkeypatch, capsys):
    def failing(*args, **kwargs):
        raise mfo.SolverError("the solver took too many steps\n(try a larger max_steps)")

    monkeypatch.setattr(mfo, "simulate", failing)
    argv = ["run", str(model_file), "--t1", "10", "--out", str(tmp_path / "r.nc")]
    assert cli.main(argv) == 1
    assert one_error_line(capsys).endswith("too many steps (try a larger max_steps)")
    with pytest.raises(mfo.SolverError):
        cli.main([*argv, "--debug"])
    with pytest.raises(mfo.SolverError):
        cli.main(["--debug", *argv])
    monkeypatch.setenv("METAFLOW_ODE_DEBUG", "1")
    with pytest.raises(mfo.SolverError):
        cli.main(argv)
    assert list(tmp_path.iterdir()) == []


# --- help -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, options",
    [
        ("demo", ["--primary", "--years", "--output", "--figure", "--no-figure"]),
        (
            "run",
            ["--t1", "--t0", "--saveat", "--fidelity", "--rtol", "--atol", "--out", "--plot"]
            + ["--overwrite"],
        ),
        ("info", ["MODEL.toml", "--json"]),
        (
            "cohort",
            ["--patients", "--out", "--vary", "--seed", "--chunk-size", "--variables", "lognormal"],
        ),
    ],
)
def test_help_of_each_command(command, options, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: metaflow-ode {command}" in text and "example:" in text
    for option in options:
        assert option in text, option


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([])
    assert info.value.code == 2
    one_error_line(capsys, "COMMAND")


def test_python_m_help_lists_the_commands():
    result = subprocess.run(
        [sys.executable, "-m", "metaflow_ode", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("demo", "run", "info", "cohort", "--debug"):
        assert command in result.stdout
