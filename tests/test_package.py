"""Package-level checks: public names documented, the quickstart main job runs."""

import importlib.util
import inspect
from pathlib import Path

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
