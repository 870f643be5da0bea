"""Package-level checks: public names documented, the quickstart main job runs."""

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import metaflow_ode as mfo

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_has_a_docstring():
    for name in dir(mfo):
        if name.startswith("_"):
            continue
        obj = getattr(mfo, name)
        if inspect.ismodule(obj) or isinstance(obj, (str, tuple)):
            continue
        assert (getattr(obj, "__doc__", None) or "").strip(), name


def test_quickstart_main_job_writes_netcdf(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("quickstart", ROOT / "examples" / "quickstart.py")
    quickstart = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quickstart)
    out = tmp_path / "quickstart.nc"
    ds = quickstart.main(["--output", str(out)])
    printed = capsys.readouterr().out
    assert "death:" in printed and "liver" in printed
    with xr.open_dataset(out) as back:
        xr.testing.assert_identical(back.load(), ds)


def test_demo_main_job_writes_dataset_and_figure(tmp_path, capsys):
    from metaflow_ode import cli

    out, fig = tmp_path / "demo.nc", tmp_path / "demo.png"
    assert cli.main(["demo", "--output", str(out), "--figure", str(fig)]) == 0
    printed = capsys.readouterr().out
    assert "breast primary" in printed and "death:" in printed and "per 7.5 mL" in printed
    assert fig.stat().st_size > 10_000 and fig.read_bytes()[:4] == b"\x89PNG"
    with xr.open_dataset(out) as ds:
        assert ds.sizes["organ"] >= 19 and float(ds.time[-1]) == 10 * 365.25
        assert np.isfinite(float(ds.death_time))
        rows = ds.dissemination.sum(("route", "target_organ"))
        assert float(rows.max()) <= 1.0 and float(rows.sel(source_organ="breast")) > 0.5
        visible = cli.first_visible(ds)
        # one 5 mm lesion = 6.5e7 cells at 1e9 cells/mL: the first organ to reach it
        first = str(visible.idxmin().values)
        t = float(visible.min())
        burden = ds.metastatic_burden.sel(organ=first)
        assert float(burden.interp(time=t - 5.0)) < 6.545e7 < float(burden.interp(time=t + 5.0))


def test_demo_command_line_rejects_unknown_primary(capsys):
    from metaflow_ode import cli

    with pytest.raises(SystemExit):
        cli.main(["demo", "--primary", "kidney"])
    assert "--primary must be one of" in capsys.readouterr().err


def test_demo_rejects_infinite_years_and_writes_other_figure_formats(tmp_path, capsys):
    from metaflow_ode import cli

    with pytest.raises(SystemExit):
        cli.main(["demo", "--years", "inf"])
    assert "--years must be a finite number" in capsys.readouterr().err
    fig = tmp_path / "demo.svg"
    cli.main(["demo", "--years", "1", "--output", str(tmp_path / "d.nc"), "--figure", str(fig)])
    assert fig.read_text().lstrip().startswith("<?xml")
