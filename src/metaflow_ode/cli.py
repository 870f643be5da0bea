"""Command-line entry point: `metaflow-ode demo` (or `python -m metaflow_ode demo`).

The demo simulates a whole-body preset of `anatomy.reference_model` (breast by default) for
ten years, prints a per-organ table, and writes the dataset (netCDF, atomically) and a figure
of organ burden over time with failure thresholds.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from ._resolution.colonies import sphere_cells

__all__ = ["main", "first_visible", "VISIBLE_DIAMETER_MM"]

VISIBLE_DIAMETER_MM = 5.0
"""Diameter (mm) from which a lesion counts as visible on imaging (a sphere)."""

DAYS_PER_YEAR = 365.25


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
        from .plot import _pyplot, burden

        plt = _pyplot()
        ax = burden(ds, floor=1e6)
        ax.set_ylim(1e6, None)
        fig = ax.figure
        figure = Path(figure)
        figure.parent.mkdir(parents=True, exist_ok=True)
        suffix = figure.suffix[1:].lower() or "png"
        tmp = figure.with_name(figure.name + ".tmp")
        fig.savefig(tmp, dpi=120, format=suffix)
        tmp.replace(figure)
        plt.close(fig)
        print(f"wrote {figure}")
    return ds


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metaflow-ode", description="metaflow_ode command-line tools."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    d = commands.add_parser(
        "demo",
        help="simulate the whole-body breast preset for 10 years; write demo.nc and demo.png",
    )
    d.add_argument("--primary", default="breast", help="preset (default: breast)")
    d.add_argument("--years", type=float, default=10.0, help="simulated years (default: 10)")
    d.add_argument("--output", default="demo.nc", help="netCDF output (default: demo.nc)")
    d.add_argument("--figure", default="demo.png", help="figure output (default: demo.png)")
    d.add_argument("--no-figure", action="store_true", help="do not draw the figure")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with `argv` (default `sys.argv[1:]`); returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .anatomy import PRIMARIES

        if args.primary not in PRIMARIES:
            _parser().error(f"--primary must be one of {', '.join(PRIMARIES)}")
        if not (math.isfinite(args.years) and args.years > 0):
            _parser().error("--years must be a finite number > 0")
        demo(
            args.primary,
            years=args.years,
            output=args.output,
            figure=None if args.no_figure else args.figure,
        )
    return 0
