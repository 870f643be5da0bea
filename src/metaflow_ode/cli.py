"""The command line: `metaflow-ode COMMAND ...` (or `python -m metaflow_ode COMMAND ...`).

Commands (each has `--help` with an example):

- `demo`: simulate a whole-body preset of `anatomy.reference_model` (breast by default) for
  ten years, print a per-organ table, and write the dataset (netCDF) and a figure of organ
  burden over time with failure thresholds.
- `run MODEL.toml --t1 DAYS --out result.nc`: simulate a model file (with its
  interventions), write the dataset (`.nc`, or a `.zarr` store) and optionally a figure
  (`--plot fig.png`); print the death time and cause and the organ failures.
- `info MODEL.toml`: the model's graph (organs, carriers, transfers and their route kinds)
  and its parameters with units, as text or `--json`.
- `cohort MODEL.toml --patients N --out store.zarr --vary PATH=DIST ...`: a virtual cohort
  (`sample_patients`, then `simulate_cohort` streaming to a Zarr store; an interrupted run
  resumes when given the same command again).

Outputs are written to a temporary file (or folder) next to the target, then renamed. A file
(netCDF, figure) is replaced in one step, so it holds either its old content or the complete
new one. An existing output is replaced only with `--overwrite`. A Zarr store of `run` is a
folder, which cannot be swapped in one step: the old store is renamed to `STORE.<token>.old`,
the new one renamed into place, then the old one removed; a process killed between the two
renames leaves no `STORE` and the old store as `STORE.<token>.old` (rename it back to
recover it). A cohort store is written chunk by chunk, each chunk marked complete after it is
whole. Expected errors (a missing or
invalid file, a bad option, a solver failure) print one line `metaflow-ode: error: ...` on
standard error and exit with status 2 (the command line is wrong) or 1 (the run failed),
without a traceback; `--debug` or the environment variable `METAFLOW_ODE_DEBUG=1` shows it.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import os
import shutil
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from ._atomic import write_atomic
from ._resolution.colonies import sphere_cells
from .plot._common import DAYS_PER_YEAR

__all__ = [
    "main",
    "first_visible",
    "demo",
    "demo_table",
    "run_summary",
    "model_summary",
    "info_text",
    "cohort_summary",
    "parse_vary",
    "save_figure",
    "VARY_GRAMMAR",
    "VISIBLE_DIAMETER_MM",
]

VISIBLE_DIAMETER_MM = 5.0
"""Diameter (mm) from which a lesion counts as visible on imaging (a sphere)."""


def first_visible(ds: xr.Dataset, *, diameter_mm: float = VISIBLE_DIAMETER_MM) -> xr.DataArray:
    """Time (days) when an organ's metastatic burden first reaches one visible lesion.

    A lumped-fidelity proxy: the organ's metastatic cells reach the cells of one sphere of
    `diameter_mm` at the model's cell density (5 mm at 1e9 cells/mL: 6.5e7 cells). Located
    by log-linear interpolation between save times; NaN where never reached. The
    size-structured fidelity counts visible lesions themselves.

    **Returns:** a `DataArray` over `organ`, in days.
    """
    density = _json_parameter(ds, "cell_density")
    cells = sphere_cells(diameter_mm, density)
    t = ds.time.values
    out = []
    for organ in ds.organ.values:
        y = ds.metastatic_burden.sel(organ=organ).values
        above = np.nonzero(y >= cells)[0]
        if above.size == 0:
            out.append(np.nan)
            continue
        k = int(above[0])
        if k == 0 or y[k - 1] <= 0:
            out.append(float(t[k]))
            continue
        frac = (math.log(cells) - math.log(y[k - 1])) / (math.log(y[k]) - math.log(y[k - 1]))
        out.append(float(t[k - 1] + frac * (t[k] - t[k - 1])))
    return xr.DataArray(
        np.array(out),
        dims=("organ",),
        coords={"organ": ds.organ.values},
        attrs={"units": "day", "long_name": f"first visible metastasis ({diameter_mm:g} mm)"},
    )


def _json_parameter(ds: xr.Dataset, path: str) -> float:
    """A parameter value recorded in a dataset's `parameters` attribute (JSON)."""
    return float(json.loads(ds.attrs["parameters"])[path])


def _fmt(value: float, scale: float = 1.0) -> str:
    return "-" if not np.isfinite(value) else f"{value / scale:.1f}"


def demo_table(ds: xr.Dataset) -> str:
    """The demo's text summary of a dataset (times in years)."""
    visible = first_visible(ds)
    death = float(ds.death_time)
    when = death if np.isfinite(death) else float(ds.time[-1])
    p_end = ds.p_metastasis.sel(time=when, method="nearest")
    lines = [
        f"{'organ':<18} {'first visible (y)':>18} {'p_metastasis':>17} "
        f"{'threatened (y)':>15} {'failure (y)':>12}"
    ]
    for organ in ds.organ.values:
        lines.append(
            f"{organ:<18} {_fmt(float(visible.sel(organ=organ)), DAYS_PER_YEAR):>18} "
            f"{float(p_end.sel(organ=organ)):>17.3f} "
            f"{_fmt(float(ds.warning_time.sel(organ=organ)), DAYS_PER_YEAR):>15} "
            f"{_fmt(float(ds.failure_time.sel(organ=organ)), DAYS_PER_YEAR):>12}"
        )
    lines.append(
        f"(p_metastasis: probability of at least one colony at {when / DAYS_PER_YEAR:.2f} years, "
        "the time of death or the end)"
    )
    if np.isfinite(death):
        lines.append(
            f"death: {death / DAYS_PER_YEAR:.2f} years ({death:.0f} days), "
            f"cause: {ds.cause_of_death.values}"
        )
    else:
        lines.append("death: none within the simulated time")
    if "caval_blood" in ds.carrier.values:
        ctc = ds.ctc_per_7_5ml.sel(carrier="caval_blood")
        at_death = ctc.sel(time=death, method="nearest") if np.isfinite(death) else ctc[-1]
        lines.append(
            f"circulating tumour cells (caval blood) at {float(at_death.time) / DAYS_PER_YEAR:.1f} "
            f"years: {float(at_death):.1f} per 7.5 mL"
        )
    return "\n".join(lines)


def demo(
    primary: str = "breast",
    *,
    years: float = 10.0,
    output: str | Path = "demo.nc",
    figure: str | Path | None = "demo.png",
    interval: float = 5.0,
) -> xr.Dataset:
    """Run the demo: simulate a whole-body preset, print the table, write dataset and figure.

    The dataset also holds the preset's `dissemination` matrix (dims `route`, `source_organ`,
    `target_organ`; see [`dissemination_matrix`][metaflow_ode.dissemination_matrix]).

    **Arguments:**

    - `primary`: preset name (see [`anatomy.PRIMARIES`][metaflow_ode.anatomy.PRIMARIES]).
    - `years`: simulated time in years.
    - `output`: netCDF path, written atomically.
    - `figure`: PNG path, or `None` for no figure (needs matplotlib).
    - `interval`: save interval in days.

    **Returns:** the dataset.
    """
    from . import Lumped, anatomy, dissemination_matrix, every, simulate, write_netcdf

    if figure is not None:
        _check_figure_path(figure, "`demo(figure=...)`")
    start = time.perf_counter()
    model = anatomy.reference_model(primary)
    t1 = years * DAYS_PER_YEAR
    ds = simulate(model, t1, saveat=every(interval), resolution=Lumped(eliminate_carriers=True))
    matrix = dissemination_matrix(model)
    ds["dissemination"] = matrix.rename(source="source_organ", target="target_organ")
    elapsed = time.perf_counter() - start
    print(f"{model.name}: {years:g} years simulated in {elapsed:.1f} s (compilation included)")
    print(demo_table(ds))
    path = write_netcdf(ds, output)
    print(f"wrote {path}")
    if figure is not None:
        figure = _draw_burden(ds, figure, floor=1e6)
        print(f"wrote {figure}")
    return ds


# --- shared helpers -------------------------------------------------------------------------

PROG = "metaflow-ode"
DEBUG_ENV = "METAFLOW_ODE_DEBUG"
"""Environment variable: set to 1 to show the traceback of an error (like `--debug`)."""


class _UsageError(ValueError):
    """The command line is wrong (exit status 2), as opposed to a failed run (status 1)."""


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically: to a temporary file in the same folder, then
    renamed into place, so `path` never holds a partial image. A new file gets the mode
    `open` would give it (`0o666` less the umask); a replaced file keeps its mode.

    **Arguments:**

    - `fig`: the matplotlib `Figure`.
    - `path`: the file to write; its suffix gives the format (`.png`, `.svg`, `.pdf`, ...;
      PNG where it has none). A missing folder is created.
    - `dpi`: resolution of raster formats, in dots per inch.

    **Returns:** the path written, as a `pathlib.Path`.

    **Raises:** `ValueError` from matplotlib for an unknown format; `OSError` if the file
    cannot be written. `path` is then left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix[1:].lower() or "png"
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format=fmt))


def _draw_burden(ds: xr.Dataset, path: str | os.PathLike, *, floor: float = 1.0) -> Path:
    """Draw `plot.burden` of a simulation and save it atomically; returns the path."""
    from .plot import burden

    ax = burden(ds, floor=floor)
    if floor > 1.0:
        ax.set_ylim(floor, None)
    fig = ax.figure
    try:
        return save_figure(fig, path)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def _is_zarr_store(path: Path) -> bool:
    return (path / ".zgroup").is_file() or (path / "zarr.json").is_file()


def _write_zarr(dataset: xr.Dataset, path: Path) -> Path:
    """Write a dataset to a Zarr store: a temporary store next to it, then renamed.

    A folder cannot be swapped for another in one step: an existing store (replaced only with
    `--overwrite`) is first renamed to `PATH.<token>.old`, the new store renamed into place,
    and the old one removed. If the process dies between the two renames, `PATH` is missing
    and the old store survives as `PATH.<token>.old` (the error of a failed write moves it
    back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    tmp = path.with_name(f"{path.name}.{token}.tmp")
    old = path.with_name(f"{path.name}.{token}.old")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # zarr v2 string encodings
            dataset.to_zarr(tmp, mode="w-", zarr_format=2, consolidated=True)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not path.exists():
            os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return path


def _check_figure_path(path: str | os.PathLike, option: str = "--plot") -> None:
    """Fail before simulating if the figure cannot be drawn or has an unknown format."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise ImportError(
            f"{option} needs matplotlib: `pip install 'metaflow_ode[plot]'`, or leave out {option}"
        ) from None
    path = str(path)
    fmt = Path(path).suffix[1:].lower() or "png"
    formats = FigureCanvasBase.get_supported_filetypes()
    if fmt not in formats:
        raise _UsageError(
            f"{option} {path!r}: unknown figure format {fmt!r}; use a suffix among "
            f"{', '.join('.' + f for f in sorted(formats))}"
        )


def _check_output(path: str, suffixes: tuple[str, ...], option: str = "--out") -> Path:
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise _UsageError(
            f"{option} {path!r} must end with {' or '.join(suffixes)} (the output format)"
        )
    if out.suffix.lower() == ".nc" and out.is_dir():
        raise _UsageError(f"{option} {path!r} is a folder; give a file name ending with .nc")
    if out.suffix.lower() == ".zarr" and out.exists() and not _is_zarr_store(out):
        raise _UsageError(
            f"{option} {path!r} exists and is not a Zarr store; choose a new path (only a Zarr "
            "store is ever replaced)"
        )
    return out


def _check_times(args) -> None:
    """Checks of the options shared by `run` and `cohort` (usage errors)."""
    for name in ("t0", "t1"):
        if not math.isfinite(getattr(args, name)):
            raise _UsageError(f"--{name} must be a finite number of days")
    if not args.t1 > args.t0:
        raise _UsageError(f"--t1 ({args.t1:g}) must be after --t0 ({args.t0:g}) days")
    for name in ("saveat", "rtol", "atol"):
        value = getattr(args, name)
        if value is not None and not (math.isfinite(value) and value > 0):
            raise _UsageError(f"--{name} must be a finite number > 0, got {value:g}")


def _tolerances(args) -> dict[str, float]:
    """`rtol=`/`atol=` for the options given; the library's defaults for the others."""
    return {
        name: getattr(args, name) for name in ("rtol", "atol") if getattr(args, name) is not None
    }


def _resolution(fidelity: str):
    from . import Colonies, Lumped

    return Colonies() if fidelity == "colonies" else Lumped()


def _read_model(path: str):
    from . import read_model

    return read_model(path)


def _days(value: float) -> str:
    return f"{value:.1f} days ({value / DAYS_PER_YEAR:.2f} years)"


def _parameter_table(model) -> list[dict]:
    from . import parameters

    table = parameters(model)
    return [
        {
            "path": str(path),
            "value": float(row["value"]),
            "units": str(row["units"]),
            "description": str(row["description"]),
            "component": str(row["component"]),
        }
        for path, row in table.iterrows()
    ]


# --- run ------------------------------------------------------------------------------------


def run_summary(ds: xr.Dataset) -> str:
    """The `run` command's text summary of a simulation: death time and cause, organ failures."""
    lines = []
    death = float(ds.death_time)
    if np.isfinite(death):
        cause = str(ds.cause_of_death.values)
        condition = str(ds.death_condition.values) if "death_condition" in ds else ""
        detail = f" ({condition})" if condition and condition != cause else ""
        lines.append(f"death: {_days(death)}, cause: {cause}{detail}")
    else:
        end = float(ds.time[-1])
        lines.append(f"death: none within the simulated time (to {end:g} days)")
    failures = [
        (float(ds.failure_time.sel(organ=organ)), str(organ))
        for organ in ds.organ.values
        if np.isfinite(float(ds.failure_time.sel(organ=organ)))
    ]
    if failures:
        lines.append("organ failures:")
        for t, organ in sorted(failures):
            after = " (after death)" if t > death else ""
            lines.append(f"  {organ:<18} {_days(t)}{after}")
    else:
        lines.append("organ failures: none")
    return "\n".join(lines)


def _run(args) -> int:
    from . import every, simulate, write_netcdf

    out = _check_output(args.out, (".nc", ".zarr"))
    if (out.exists() or out.is_symlink()) and not args.overwrite:
        raise _UsageError(
            f"--out {args.out!r} already exists; give --overwrite to replace it, or choose "
            "a new path"
        )
    _check_times(args)
    if args.plot is not None:
        _check_figure_path(args.plot)
    file = _read_model(args.model)
    model = file.model
    start = time.perf_counter()
    ds = simulate(
        model,
        args.t1,
        t0=args.t0,
        saveat=None if args.saveat is None else every(args.saveat),
        resolution=_resolution(args.fidelity),
        interventions=file.interventions,
        **_tolerances(args),
    )
    elapsed = time.perf_counter() - start
    print(
        f"{model.name}: {args.t0:g} to {args.t1:g} days, {args.fidelity} fidelity, "
        f"{len(file.interventions)} intervention(s), in {elapsed:.1f} s (compilation included)"
    )
    print(run_summary(ds))
    if out.suffix.lower() == ".zarr":
        _write_zarr(ds, out)
    else:
        write_netcdf(ds, out)
    print(f"wrote {out}")
    if args.plot is not None:
        print(f"wrote {_draw_burden(ds, args.plot)}")
    return 0


# --- info -----------------------------------------------------------------------------------


def _describe(value) -> str:
    """A short description of an intervention (numbers as plain floats)."""
    from ._route_kinds import RouteKind

    if isinstance(value, RouteKind):
        return value.name
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_describe(v) for v in value) + ")"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = [
            f"{f.name}={_describe(getattr(value, f.name))}"
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        ]
        return f"{type(value).__name__}({', '.join(parts)})"
    array = np.asarray(value)
    if array.ndim == 0 and np.issubdtype(array.dtype, np.number):
        return f"{float(array):g}"
    return repr(value)


_FAILURE_FIELDS = (
    ("burden", "cells"),
    ("replaced_fraction", "of the organ"),
    ("largest_lesion", "cells (largest lesion)"),
    ("fluid_volume", "mL fluid"),
    ("fluid_rate", "mL/day fluid rise"),
    ("reserve", "mL reserve"),
)


def model_summary(file) -> dict:
    """The `info` command's summary of a model file (what `--json` prints).

    **Arguments:**

    - `file`: a `ModelFile` (from [`read_model`][metaflow_ode.read_model]).

    **Returns:** a JSON-ready dict with `name`, `path`, `counts`, `organs`, `carriers`,
    `transfers`, `route_kinds`, `interventions` and `parameters` (path, value, units,
    description, component; `value` is `None` where not a number).
    """
    model = file.model
    organs = []
    for organ in model.organs:
        failure = None
        if organ.failure is not None:
            failure = {
                "criteria": {
                    name: float(np.asarray(getattr(organ.failure, name)))
                    for name, _ in _FAILURE_FIELDS
                    if getattr(organ.failure, name) is not None
                },
                "lethal": organ.failure.lethal,
            }
        organs.append(
            {
                "name": organ.name,
                "role": "primary" if organ.primary else "secondary",
                "growth": type(organ.growth).__name__,
                "emission": None if organ.emission is None else type(organ.emission).__name__,
                "volume_ml": None if organ.volume is None else float(np.asarray(organ.volume)),
                "failure": failure,
            }
        )
    carriers = [
        {
            "name": carrier.name,
            "kind": carrier.kind.name,
            "fluid": carrier.fluid is not None,
        }
        for carrier in model.carriers
    ]
    transfers = [
        {"name": t.name, "source": t.source, "target": t.target, "kind": t.kind.name}
        for t in model.transfers
    ]
    kinds: dict[str, int] = {}
    for t in model.transfers:
        kinds[t.kind.name] = kinds.get(t.kind.name, 0) + 1
    parameters = _parameter_table(model)
    for row in parameters:
        if not math.isfinite(row["value"]):
            row["value"] = None
    return {
        "name": model.name,
        "path": str(file.path),
        "counts": {
            "organs": len(model.organs),
            "carriers": len(model.carriers),
            "transfers": len(model.transfers),
            "interventions": len(file.interventions),
            "parameters": len(parameters),
        },
        "primary": model.primary_organ.name,
        "organs": organs,
        "carriers": carriers,
        "transfers": transfers,
        "route_kinds": kinds,
        "interventions": [_describe(i) for i in file.interventions],
        "parameters": parameters,
    }


def _plural(n: int, noun: str) -> str:
    """`"1 organ"`, `"3 organs"` (`noun` is the plural)."""
    return f"{n} {noun[:-1] if n == 1 else noun}"


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    return [
        indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def info_text(summary: dict) -> str:
    """The `info` command's plain-text rendering of the dict of `model_summary`."""
    c = summary["counts"]
    lines = [
        f"model {summary['name']!r} ({summary['path']})",
        ", ".join(_plural(c[key], key) for key in c),
        "",
        "organs:",
    ]
    rows = [["name", "role", "growth", "emission", "failure"]]
    for o in summary["organs"]:
        failure = "-"
        if o["failure"] is not None:
            units = dict(_FAILURE_FIELDS)
            failure = ", ".join(
                f"{name} {value:g} {units[name]}"
                for name, value in o["failure"]["criteria"].items()
            )
            failure += "" if o["failure"]["lethal"] else " (not lethal)"
        rows.append([o["name"], o["role"], o["growth"], o["emission"] or "-", failure])
    lines += _table(rows)
    lines += ["", "carriers:"]
    if summary["carriers"]:
        rows = [["name", "route kind", "fluid"]]
        rows += [[k["name"], k["kind"], "yes" if k["fluid"] else "-"] for k in summary["carriers"]]
        lines += _table(rows)
    else:
        lines.append("  (none)")
    lines += ["", "transfers:"]
    if summary["transfers"]:
        rows = [["source", "target", "route kind", "name"]]
        rows += [[t["source"], t["target"], t["kind"], t["name"]] for t in summary["transfers"]]
        lines += _table(rows)
        kinds = ", ".join(f"{kind} {n}" for kind, n in summary["route_kinds"].items())
        lines.append(f"  route kinds: {kinds}")
    else:
        lines.append("  (none)")
    if summary["interventions"]:
        lines += ["", "interventions:"]
        lines += [f"  {text}" for text in summary["interventions"]]
    lines += ["", "parameters:"]
    rows = [["path", "value", "units", "description"]]
    rows += [
        [
            p["path"],
            "-" if p["value"] is None else f"{p['value']:.6g}",
            p["units"],
            p["description"],
        ]
        for p in summary["parameters"]
    ]
    lines += _table(rows)
    return "\n".join(lines)


def _info(args) -> int:
    summary = model_summary(_read_model(args.model))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(info_text(summary))
    return 0


# --- cohort ---------------------------------------------------------------------------------

_DISTRIBUTIONS = {
    "lognormal": ("MEDIAN,SIGMA", "SIGMA"),
    "normal": ("MEAN,SD", "SD"),
    "truncnormal": ("MEAN,SD,LOW,HIGH", "SD,LOW,HIGH"),
    "uniform": ("LOW,HIGH", None),
    "fixed": ("VALUE", ""),
}

VARY_GRAMMAR = """\
--vary PATH=DIST gives one parameter's distribution across patients (repeat it for more).
PATH is a dotted parameter path as listed by `metaflow-ode info MODEL.toml`
(e.g. breast.growth.rate, blood->liver.efficiency). DIST is one of, in the parameter's units:
  lognormal:SIGMA               median = the model's value, SIGMA = sd of the natural log
  lognormal:MEDIAN,SIGMA
  normal:SD                     mean = the model's value
  normal:MEAN,SD
  truncnormal:SD,LOW,HIGH       mean = the model's value; LOW/HIGH may be -inf/inf
  truncnormal:MEAN,SD,LOW,HIGH
  uniform:LOW,HIGH
  fixed                         the model's value for every patient (recorded in the store)
  fixed:VALUE"""
"""The grammar of the `cohort` command's `--vary PATH=DIST` option (printed by
`metaflow-ode cohort --help`); [`parse_vary`][metaflow_ode.cli.parse_vary] parses it."""


def parse_vary(spec: str, model) -> tuple[str, object]:
    """Parse one `--vary PATH=DIST` specification against `model`'s parameters.

    The grammar is `VARY_GRAMMAR` (`metaflow-ode cohort --help`): e.g.
    `"breast.growth.rate=lognormal:0.25"` is `LogNormal(median=<the model's value>,
    sigma=0.25)`; `"liver.growth.rate=uniform:0.01,0.03"` is `Uniform(0.01, 0.03)`.

    **Returns:** `(path, distribution)`, ready for
    [`sample_patients`][metaflow_ode.sample_patients].

    **Raises:** `ValueError` naming the specification: no `=`, an unknown path (with the
    closest one), an unknown distribution, the wrong number of numbers, or numbers the
    distribution rejects.
    """
    from . import Fixed, LogNormal, Normal, TruncatedNormal, Uniform

    path, sep, dist = spec.partition("=")
    path, dist = path.strip(), dist.strip()
    if not sep or not path or not dist:
        raise _UsageError(
            f"--vary {spec!r} must be PATH=DIST, e.g. breast.growth.rate=lognormal:0.25 "
            "(see `metaflow-ode cohort --help`)"
        )
    table = {row["path"]: row["value"] for row in _parameter_table(model)}
    if path not in table:
        close = difflib.get_close_matches(path, list(table), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _UsageError(
            f"--vary {spec!r}: unknown parameter path {path!r}{hint}; "
            "`metaflow-ode info MODEL.toml` lists every path"
        )
    kind, _, numbers = dist.partition(":")
    kind = kind.strip().lower().replace("-", "").replace("_", "")
    kind = {"truncatednormal": "truncnormal", "log": "lognormal"}.get(kind, kind)
    if kind not in _DISTRIBUTIONS:
        raise _UsageError(
            f"--vary {spec!r}: unknown distribution {dist.partition(':')[0]!r}; use one of "
            f"{', '.join(_DISTRIBUTIONS)}"
        )
    try:
        values = [float(v) for v in numbers.split(",")] if numbers.strip() else []
    except ValueError:
        raise _UsageError(
            f"--vary {spec!r}: {numbers!r} must be numbers separated by commas"
        ) from None
    full, short = _DISTRIBUTIONS[kind]
    counts = {len(full.split(",")): "full"}
    if short is not None:
        counts[len(short.split(",")) if short else 0] = "short"
    if len(values) not in counts:
        forms = " or ".join(
            f"{kind}:{form}" if form else kind for form in (full, short) if form is not None
        )
        raise _UsageError(f"--vary {spec!r}: expected {forms}")
    if counts[len(values)] == "short":
        own = table[path]
        if not math.isfinite(own):
            raise _UsageError(
                f"--vary {spec!r}: the model has no number at {path!r} to default to; give "
                f"{kind}:{full}"
            )
        values = [own, *values]
    builders: dict[str, Callable] = {
        "lognormal": LogNormal,
        "normal": Normal,
        "truncnormal": TruncatedNormal,
        "uniform": Uniform,
        "fixed": Fixed,
    }
    try:
        distribution = builders[kind](*values)
    except (TypeError, ValueError) as error:
        raise _UsageError(f"--vary {spec!r}: {_message(error)}") from None
    return path, distribution


def _store_state(path: Path) -> tuple[str, int] | None:
    """The fingerprint and completed chunks of an existing cohort store, if it is one."""
    if not _is_zarr_store(path):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with xr.open_zarr(path, consolidated=False, zarr_format=2) as store:
                return str(store.attrs["cohort_fingerprint"]), int(store["chunk_completed"].sum())
    except Exception:  # noqa: BLE001  (not a cohort store: simulate_cohort says so)
        return None


def cohort_summary(ds: xr.Dataset) -> str:
    """The `cohort` command's text summary: patients, solver failures, deaths and the median
    survival (Kaplan-Meier) where the kept variables allow."""
    n = int(ds.sizes["patient"])
    lines = [f"patients: {n}, solver failures: {int(ds.attrs.get('failed_patients', 0))}"]
    if "death_time" in ds:
        died = int(np.isfinite(ds.death_time.values).sum())
        end = float(ds.time[-1])
        text = f"deaths: {died} of {n} by {end:g} days"
        if "failure_time" in ds:
            from . import kaplan_meier

            # Only what the estimate reads (a large store's burden need not fit in memory;
            # it is read only to censor patients whose solver failed).
            names = ["death_time", "failure_time", "solver_status"]
            if int(ds.attrs.get("failed_patients", 0)):
                names.append("burden")
            small = ds[[name for name in names if name in ds]].assign_coords(time=ds.time).load()
            median = float(kaplan_meier(small).median_time.sel(endpoint="death"))
            text += "; median survival " + (
                f"{_days(median)} (Kaplan-Meier)" if np.isfinite(median) else "not reached"
            )
        lines.append(text)
    return "\n".join(lines)


_COHORT_OPTIONS = {
    "variables": "--variables",
    "chunk_size": "--chunk-size",
    "memory_limit": "--memory-limit",
    "store": "--out",
    "overwrite": "--overwrite",
}


def _cohort(args) -> int:
    from . import sample_patients, simulate_cohort

    out = _check_output(args.out, (".zarr",))
    _check_times(args)
    if args.patients < 1:
        raise _UsageError(f"--patients must be >= 1, got {args.patients}")
    if args.seed < 0:
        raise _UsageError(f"--seed must be >= 0, got {args.seed}")
    if args.chunk_size < 1:
        raise _UsageError(f"--chunk-size must be >= 1, got {args.chunk_size}")
    if not args.vary:
        raise _UsageError(
            "give at least one --vary PATH=DIST, e.g. --vary breast.growth.rate=lognormal:0.25 "
            "(without it every patient is the same)"
        )
    file = _read_model(args.model)
    model = file.model
    distributions: dict[str, object] = {}
    for spec in args.vary:
        path, distribution = parse_vary(spec, model)
        if path in distributions:
            raise _UsageError(f"--vary: {path!r} is given twice")
        distributions[path] = distribution
    patients = sample_patients(args.patients, distributions, seed=args.seed)
    before = _store_state(out)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # The failures are counted in the summary below.
            warnings.filterwarnings(
                "ignore", message="simulate_cohort: the solver failed", category=RuntimeWarning
            )
            ds = simulate_cohort(
                model,
                patients,
                args.t1,
                t0=args.t0,
                saveat=None if args.saveat is None else _every(args.saveat),
                resolution=_resolution(args.fidelity),
                interventions=file.interventions,
                **_tolerances(args),
                variables=args.variables,
                chunk_size=args.chunk_size,
                store=out,
                overwrite=args.overwrite,
                memory_limit=args.memory_limit,
            )
    except ValueError as error:
        # The library names its keyword arguments; here they are options.
        text = _message(error).replace("`overwrite=True`", "--overwrite")
        for keyword, option in _COHORT_OPTIONS.items():
            text = text.replace(f"`simulate_cohort({keyword}=...)`", option)
        raise ValueError(text) from error
    elapsed = time.perf_counter() - start
    after = _store_state(out)
    print(
        f"{model.name}: {args.patients} patients, {args.t0:g} to {args.t1:g} days, "
        f"{args.fidelity} fidelity, in {elapsed:.1f} s (compilation included)"
    )
    if before is not None and after is not None and before[0] == after[0] and before[1]:
        n_chunks = int(ds.attrs["patients"] // ds.attrs["chunk_size"]) + bool(
            ds.attrs["patients"] % ds.attrs["chunk_size"]
        )
        print(f"resumed: {before[1]} of {n_chunks} chunks were already in the store")
    try:
        print(cohort_summary(ds))
    finally:
        ds.close()  # the store's files (a long cohort store may hold many)
    print(f"wrote {out}")
    return 0


def _every(interval: float):
    from . import every

    return every(interval)


# --- the parser -----------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on standard error (status 2)."""

    def error(self, message):
        self.exit(2, f"{PROG}: error: {message} (see `{self.prog} --help`)\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def _names(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give variable names separated by commas")
    return names


def _simulation_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="MODEL.toml", help="the model file")
    p.add_argument("--t1", type=float, required=True, metavar="DAYS", help="end time in days")
    p.add_argument("--t0", type=float, default=0.0, metavar="DAYS", help="start (default 0)")
    p.add_argument(
        "--saveat",
        type=float,
        default=None,
        metavar="DAYS",
        help="save every DAYS days (default: 101 equally spaced times)",
    )
    p.add_argument(
        "--fidelity",
        choices=("lumped", "colonies"),
        default="lumped",
        help="lumped (one burden per organ, default) or colonies (size-structured colonies: "
        "lesion counts and sizes)",
    )
    p.add_argument(
        "--rtol", type=float, default=None, help="relative tolerance (default: the library's)"
    )
    p.add_argument(
        "--atol",
        type=float,
        default=None,
        help="absolute tolerance in cells (default: the library's)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="metaflow_ode: compartment ODE models of metastatic spread.",
        epilog="examples:\n"
        f"  {PROG} demo\n"
        f"  {PROG} info model.toml\n"
        f"  {PROG} run model.toml --t1 3650 --out result.nc --plot burden.png\n"
        f"  {PROG} cohort model.toml --patients 1000 --t1 3650 --out cohort.zarr "
        "--vary breast.growth.rate=lognormal:0.25\n\n"
        f"`{PROG} COMMAND --help` describes each command. Errors print one line and exit "
        f"with status 2 (wrong command line) or 1 (failed run); --debug or {DEBUG_ENV}=1 "
        "shows the traceback.",
        formatter_class=_Formatter,
    )
    parser.add_argument(
        "--debug", action="store_true", help=f"show tracebacks of errors (or {DEBUG_ENV}=1)"
    )
    debug = _Parser(add_help=False)
    debug.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = commands.add_parser(
        "demo",
        parents=[debug],
        help="simulate the whole-body breast preset for 10 years; write demo.nc and demo.png",
        description="Simulate a whole-body preset for 10 years, print a per-organ table, and "
        "write the dataset (netCDF) and a figure of organ burden with failure thresholds.",
        epilog=f"example:\n  {PROG} demo --primary lung --years 20 --output lung.nc",
        formatter_class=_Formatter,
    )
    d.add_argument("--primary", default="breast", help="preset (default: breast)")
    d.add_argument("--years", type=float, default=10.0, help="simulated years (default: 10)")
    d.add_argument("--output", default="demo.nc", help="netCDF output (default: demo.nc)")
    d.add_argument("--figure", default="demo.png", help="figure output (default: demo.png)")
    d.add_argument("--no-figure", action="store_true", help="do not draw the figure")
    d.set_defaults(handler=_demo)

    r = commands.add_parser(
        "run",
        parents=[debug],
        help="simulate a model file; write the dataset (and a figure)",
        description="Simulate MODEL.toml (with the interventions it lists) from --t0 to --t1 "
        "days, print the death time and cause and the organ failures, and write the dataset "
        "(netCDF, or a Zarr store for a .zarr path) and optionally a figure of organ burden. "
        "Outputs are written atomically (temporary file, then renamed).",
        epilog="example:\n"
        f"  {PROG} run examples/models/breast_wholebody.toml --t1 3650 --saveat 5 "
        "--out breast.nc --plot breast.png",
        formatter_class=_Formatter,
    )
    _simulation_options(r)
    r.add_argument(
        "--out", required=True, metavar="PATH", help="output dataset: result.nc or result.zarr"
    )
    r.add_argument(
        "--plot",
        metavar="FIG",
        default=None,
        help="also draw organ burden to FIG (.png, .svg, ...)",
    )
    r.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out (without it an existing output is an error)",
    )
    r.set_defaults(handler=_run)

    i = commands.add_parser(
        "info",
        parents=[debug],
        help="print a model file's graph and its parameters with units",
        description="Print the graph of MODEL.toml (organs with their role, carriers, transfers "
        "with their route kinds, interventions) and every parameter with its value and units.",
        epilog=f"example:\n  {PROG} info examples/models/iwata2000.toml --json > iwata.json",
        formatter_class=_Formatter,
    )
    i.add_argument("model", metavar="MODEL.toml", help="the model file")
    i.add_argument("--json", action="store_true", help="print JSON instead of text")
    i.set_defaults(handler=_info)

    c = commands.add_parser(
        "cohort",
        parents=[debug],
        help="simulate a virtual cohort of a model file into a Zarr store",
        description="Draw --patients virtual patients (the --vary distributions, seeded by "
        "--seed) and simulate each with MODEL.toml's structure and interventions, streaming "
        "chunks of patients to the Zarr store --out. Each chunk is marked complete once "
        "written: after an interruption the same command resumes from the chunks written. "
        "A store of a different cohort is an error unless --overwrite. A progress bar shows "
        "when standard error is a terminal.\n\n" + VARY_GRAMMAR,
        epilog="example:\n"
        f"  {PROG} cohort examples/models/breast_wholebody.toml --patients 1000 --t1 3650 "
        "--saveat 30 \\\n"
        "      --vary breast.growth.rate=lognormal:0.25 --vary liver.growth.rate=uniform:0.01,0.03"
        " \\\n"
        "      --variables burden,death_time,cause_of_death,failure_time --out cohort.zarr",
        formatter_class=_Formatter,
    )
    _simulation_options(c)
    c.add_argument("--patients", type=int, required=True, metavar="N", help="number of patients")
    c.add_argument(
        "--out", required=True, metavar="STORE.zarr", help="the Zarr store (created or resumed)"
    )
    c.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="PATH=DIST",
        help="a parameter's distribution across patients (repeatable; grammar above)",
    )
    c.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    c.add_argument(
        "--chunk-size", type=int, default=512, metavar="N", help="patients per chunk (default 512)"
    )
    c.add_argument(
        "--variables",
        type=_names,
        action="extend",
        default=None,
        metavar="NAMES",
        help="keep only these data variables (comma-separated, e.g. "
        "burden,death_time,cause_of_death,failure_time; default all)",
    )
    c.add_argument(
        "--memory-limit",
        default=None,
        metavar="SIZE",
        help="shrink the chunks to fit e.g. '4 GiB' (default: no limit)",
    )
    c.add_argument(
        "--overwrite", action="store_true", help="replace a store that holds a different cohort"
    )
    c.set_defaults(handler=_cohort)
    return parser


# --- main -----------------------------------------------------------------------------------


def _demo(args) -> int:
    from .anatomy import PRIMARIES

    if args.primary not in PRIMARIES:
        raise _UsageError(f"--primary must be one of {', '.join(PRIMARIES)}")
    if not (math.isfinite(args.years) and args.years > 0):
        raise _UsageError("--years must be a finite number > 0")
    if not args.no_figure:
        _check_figure_path(args.figure, "--figure")
    demo(
        args.primary,
        years=args.years,
        output=args.output,
        figure=None if args.no_figure else args.figure,
    )
    return 0


def _message(error: BaseException) -> str:
    """An exception as one line of text."""
    if isinstance(error, OSError) and error.strerror and error.filename is not None:
        text = f"{error.strerror}: {error.filename}"
    else:
        text = str(error) or type(error).__name__
    return " ".join(text.split())


def _error(text: str) -> None:
    print(f"{PROG}: error: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default `sys.argv[1:]`).

    **Returns:** the exit status: 0, or 1 when the run failed (a missing or invalid model file,
    a solver failure, a file that cannot be written; one line `metaflow-ode: error: ...` on
    standard error), 130 when interrupted. Like `argparse`, `--help` raises `SystemExit(0)`
    and a wrong command line prints one error line and raises `SystemExit(2)`. With `--debug`
    (or `METAFLOW_ODE_DEBUG=1`) errors propagate with their traceback.
    """
    from ._simulate import SolverError

    parser = _parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return args.handler(args)
    except _UsageError as error:
        if debug:
            raise
        _error(f"{_message(error)} (see `{PROG} {args.command} --help`)")
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        hint = "; run the same command again to resume" if args.command == "cohort" else ""
        _error(f"interrupted{hint}")
        return 130
    except (ValueError, TypeError, OSError, ImportError, SolverError) as error:
        # An ImportError inside the package is a bug (traceback); a missing optional
        # dependency (matplotlib) is expected.
        internal = isinstance(error, ImportError) and (error.name or "").startswith("metaflow_ode")
        if debug or internal:
            raise
        _error(_message(error))
        return 1
