"""Conversion of a `Solution` into the public `xarray.Dataset`, and atomic file output.

Runs outside `jit`, on host arrays. Variable and dimension names are part of the public API
(DESIGN section 3, "Output dataset").
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

import equinox as eqx
import numpy as np
import xarray as xr

from ._failure import MECHANISMS
from ._interventions import AbstractJump
from ._model import Model, parameters
from ._routes import topology
from ._vector_field import ORIGINS, criteria

__all__ = ["to_dataset", "write_netcdf"]

CITATIONS = (
    "Iwata K, Kawasaki K, Shigesada N. A dynamical model for the growth and size distribution "
    "of multiple metastatic tumors. J Theor Biol 2000; 203:177-186 (emission law, size "
    "structure). Sparrer D et al. Primary and secondary metastatic dissemination: multiple "
    "routes to cancer-related death. Mol Cancer 2025; 24:203 (route taxonomy). Kidger P. On "
    "neural differential equations (diffrax), 2021."
)


def _version() -> str:
    from . import __version__

    return __version__


def _describe(model: Model) -> str:
    return json.dumps(
        {
            "name": model.name,
            "organs": [
                {
                    "name": o.name,
                    "primary": o.primary,
                    "growth": type(o.growth).__name__,
                    "emission": None if o.emission is None else type(o.emission).__name__,
                }
                for o in model.organs
            ],
            "carriers": [{"name": c.name, "kind": c.kind.name} for c in model.carriers],
            "transfers": [
                {"name": t.name, "source": t.source, "target": t.target, "kind": t.kind.name}
                for t in model.transfers
            ],
        }
    )


CELLSEARCH_ML = 7.5
"""Blood sample volume (mL) of the CellSearch circulating-tumour-cell assay."""


def _failure_burden(model: Model) -> np.ndarray:
    density = float(np.asarray(model.cell_density))
    out = np.full(len(model.organs), np.nan)
    for i, organ in enumerate(model.organs):
        failure = organ.failure
        if failure is None:
            continue
        levels = []
        if failure.burden is not None:
            levels.append(float(np.asarray(failure.burden)))
        if failure.replaced_fraction is not None:
            levels.append(
                float(np.asarray(failure.replaced_fraction))
                * density
                * float(np.asarray(organ.volume))
            )
        if levels:
            out[i] = min(levels)
    return out


def _describe_interventions(interventions) -> str:
    out = []
    for item in interventions:
        entry = {"type": type(item).__name__}
        for field in dataclasses.fields(item):
            value = getattr(item, field.name)
            if value is None or isinstance(value, (str, int, tuple)):
                entry[field.name] = value
            elif isinstance(value, eqx.Module):
                entry[field.name] = {
                    "type": type(value).__name__,
                    **{
                        f.name: float(np.asarray(getattr(value, f.name)))
                        for f in dataclasses.fields(value)
                    },
                }
            else:
                entry[field.name] = float(np.asarray(value))
        out.append(entry)
    return json.dumps(out)


def _unique_labels(labels: list[str]) -> list[str]:
    """`labels`, with ` #2`, ` #3`, ... added to repeats (two drainages of one cavity)."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def to_dataset(
    model: Model, solution, *, options: dict | None = None, size_edges=None, interventions=()
) -> xr.Dataset:
    """Build the output dataset from a (host) [`Solution`][metaflow_ode.Solution] of `model`.

    `size_edges` (cells) are the bin edges of the colonies fidelity's size distribution;
    `interventions` those passed to `simulate` (described in the attrs, and the times the
    jumps among them were applied in `intervention_time`).
    """
    topo = topology(model)
    sol = {
        name: None if getattr(solution, name) is None else np.asarray(getattr(solution, name))
        for name in (
            "ts",
            "primary",
            "metastatic",
            "carrier",
            "seeding_rate",
            "colonies",
            "shed",
            "arrived",
            "cleared",
            "lost",
            "visible_lesions",
            "largest_lesion",
            "size_distribution",
            "fluid_volume",
            "fluid_rate",
            "crossing_times",
            "intervention_times",
            "result",
            "num_steps",
        )
    }
    organs, carriers = list(topo.organs), list(topo.carriers)
    onehot = np.zeros(len(organs))
    onehot[topo.primary] = 1.0
    burden = sol["metastatic"] + sol["primary"][:, None] * onehot
    density = float(np.asarray(model.cell_density))
    volume = burden / density
    organ_volume = np.array(
        [np.nan if o.volume is None else float(np.asarray(o.volume)) for o in model.organs]
    )
    colonies = np.transpose(sol["colonies"], (0, 2, 1))
    blood_volume = np.array(
        [
            float(np.asarray(c.volume))
            if c.volume is not None and c.kind.family == "haematogenous"
            else np.nan
            for c in model.carriers
        ]
    )
    origin_first = lambda a: np.transpose(a, (0, 2, 1))  # noqa: E731  (T, 2, X) -> (T, X, 2)

    to, too, tco = ("time", "organ"), ("time", "organ", "origin"), ("time", "carrier", "origin")
    data = {
        "burden": (to, burden, "cells", "tumour cells in the organ (primary tumour included)"),
        "primary_burden": (("time",), sol["primary"], "cells", "cells of the primary tumour"),
        "metastatic_burden": (to, sol["metastatic"], "cells", "metastatic cells in the organ"),
        "volume": (to, volume, "mL", "tumour volume in the organ (burden / cell_density)"),
        "replaced_fraction": (
            to,
            volume / organ_volume,
            "1",
            "fraction of the organ replaced by tumour (NaN where the organ has no volume)",
        ),
        "carrier_cells": (tco, origin_first(sol["carrier"]), "cells", "tumour cells in transit"),
        "ctc_per_7_5ml": (
            ("time", "carrier"),
            sol["carrier"].sum(axis=1) * (CELLSEARCH_ML / blood_volume),
            "cells/(7.5 mL)",
            "circulating tumour cells per 7.5 mL of blood, the CellSearch sample (NaN for "
            "carriers that are not blood or have no volume)",
        ),
        "seeding_rate": (
            ("time", "organ", "route", "origin"),
            np.transpose(sol["seeding_rate"], (0, 3, 1, 2)),
            "colonies/day",
            "colonies founded per day, by delivering route kind and origin",
        ),
        "colonies": (too, colonies, "colonies", "cumulative colonies founded since t0"),
        "p_metastasis": (
            to,
            -np.expm1(-colonies.sum(axis=-1)),
            "1",
            "probability of at least one colony (Poisson in the colonies founded)",
        ),
    }
    if sol["visible_lesions"] is not None:
        data["visible_lesions"] = (
            to,
            sol["visible_lesions"],
            "lesions",
            "expected colonies at or above the visible size",
        )
        data["largest_lesion"] = (
            to,
            sol["largest_lesion"],
            "cells",
            "size of the oldest expected colony (born when the expected count reached 1; "
            "0 while below 1)",
        )
        data["size_distribution"] = (
            ("time", "organ", "size"),
            sol["size_distribution"],
            "colonies",
            "expected colonies per size bin (bounds: size_lower, size_upper)",
        )
    if sol["shed"] is not None:
        data["cumulative_shed"] = (too, origin_first(sol["shed"]), "cells", "cumulative cells shed")
        data["cumulative_arrived"] = (
            too,
            origin_first(sol["arrived"]),
            "cells",
            "cumulative cells arriving in the organ (colonising or not)",
        )
        data["cumulative_cleared"] = (
            tco,
            origin_first(sol["cleared"]),
            "cells",
            "cumulative cells dying in transit",
        )
        data["cumulative_lost"] = (
            too,
            origin_first(sol["lost"]),
            "cells",
            "cumulative shed cells not sent along any transfer",
        )

    fluid_index = [i for i, c in enumerate(model.carriers) if c.fluid is not None]
    if fluid_index:
        for key, units, long in (
            ("fluid_volume", "mL", "fluid volume of the cavity or CSF (NaN: no fluid state)"),
            ("fluid_rate", "mL/day", "rate of change of the fluid volume (NaN: no fluid state)"),
        ):
            full = np.full((len(sol["ts"]), len(carriers)), np.nan)
            full[:, fluid_index] = sol[key]
            data[key] = (("time", "carrier"), full, units, long)

    crit = criteria(model)
    crossing = np.where(np.isfinite(sol["crossing_times"]), sol["crossing_times"], np.nan)
    n_mech = len(MECHANISMS)
    by_mechanism = {lv: np.full((len(organs), n_mech), np.nan) for lv in ("failure", "warning")}
    lethal_time = np.nan
    for k, (i, level, mech) in enumerate(zip(crit.organ, crit.level, crit.mechanism, strict=True)):
        if level == "lethal":
            lethal_time = crossing[k]
        else:
            by_mechanism[level][i, MECHANISMS.index(mech)] = crossing[k]

    # first mechanism reached per organ (fmin skips NaN; all NaN gives NaN)
    failure_time = np.fmin.reduce(by_mechanism["failure"], axis=1)
    warning_time = np.fmin.reduce(by_mechanism["warning"], axis=1)
    candidates = []
    for i in range(len(organs)):
        failure = model.organs[i].failure
        if failure is None or not failure.lethal:
            continue
        for j, mech in enumerate(MECHANISMS):
            t = by_mechanism["failure"][i, j]
            if np.isfinite(t):
                candidates.append((t, organs[i], mech))
    if np.isfinite(lethal_time):
        candidates.append((lethal_time, "whole_body", "lethal_burden"))
    death_time, cause, mechanism = (
        min(candidates, key=lambda c: c[0]) if candidates else (np.nan, "", "")
    )
    if cause == "whole_body":
        condition = "lethal whole-body burden"
    elif cause:
        condition = model.organs[model.organ_names.index(cause)].failure.label(mechanism)
    else:
        condition = ""
    data["failure_time"] = (("organ",), failure_time, "day", "time of organ failure (NaN: none)")
    data["failure_time_by_mechanism"] = (
        ("organ", "mechanism"),
        by_mechanism["failure"],
        "day",
        "time each failure mechanism of the organ is reached (NaN: not reached or not set)",
    )
    data["warning_time_by_mechanism"] = (
        ("organ", "mechanism"),
        by_mechanism["warning"],
        "day",
        "time each mechanism's warning level is reached (NaN: not reached or not set)",
    )
    data["failure_burden"] = (
        ("organ",),
        _failure_burden(model),
        "cells",
        "burden at which the organ fails (the lower of its burden criteria; NaN: none)",
    )
    data["warning_time"] = (
        ("organ",),
        warning_time,
        "day",
        "time organ function is first threatened (NaN: never)",
    )
    data["lethal_burden_time"] = (
        (),
        np.float64(lethal_time),
        "day",
        "time the whole-body burden reaches the lethal burden",
    )
    data["lethal_burden"] = (
        (),
        np.float64(
            np.nan if model.lethal_burden is None else float(np.asarray(model.lethal_burden))
        ),
        "cells",
        "whole-body lethal burden (NaN: none)",
    )
    data["death_time"] = (
        (),
        np.float64(death_time),
        "day",
        "time of death: the first lethal organ failure or the lethal whole-body burden",
    )
    data["failure_lethal"] = (
        ("organ",),
        np.array([bool(o.failure and o.failure.lethal) for o in model.organs]),
        "1",
        "whether the organ's failure is the patient's death (False: none, or Failure(lethal="
        "False))",
    )
    jumps = [item for item in interventions if isinstance(item, AbstractJump)]
    if jumps:
        data["intervention_time"] = (
            ("intervention", "occurrence"),
            sol["intervention_times"],
            "day",
            "time each jump intervention was applied (triggered drainages: each occurrence; "
            "NaN: not applied)",
        )
    code = int(sol["result"])
    from ._simulate import result_message

    variables = {
        name: xr.Variable(dims, np.asarray(values), attrs={"units": units, "long_name": long})
        for name, (dims, values, units, long) in data.items()
    }
    variables["death_mechanism"] = xr.Variable(
        (),
        np.array(mechanism, dtype=object),
        attrs={
            "units": "1",
            "long_name": "mechanism of the first failure: "
            + ", ".join(MECHANISMS)
            + " or lethal_burden",
        },
    )
    variables["death_condition"] = xr.Variable(
        (),
        np.array(condition, dtype=object),
        attrs={
            "units": "1",
            "long_name": "clinical name of the first failure (Failure(labels=...), e.g. ascites)",
        },
    )
    variables["cause_of_death"] = xr.Variable(
        (),
        np.array(cause, dtype=object),
        attrs={"units": "1", "long_name": "organ whose failure came first, or whole_body"},
    )
    variables["solver_status"] = xr.Variable(
        (),
        np.array(result_message(code), dtype=object),
        attrs={"units": "1", "long_name": "solver outcome ('successful' or the failure)"},
    )
    variables["solver_steps"] = xr.Variable(
        (), np.int64(sol["num_steps"]), attrs={"units": "1", "long_name": "accepted solver steps"}
    )
    coords = {
        "time": xr.Variable(("time",), sol["ts"], attrs={"units": "day", "long_name": "time"}),
        "organ": xr.Variable(
            ("organ",), np.array(organs, dtype=object), attrs={"long_name": "organ"}
        ),
        "carrier": xr.Variable(
            ("carrier",), np.array(carriers, dtype=object), attrs={"long_name": "carrier"}
        ),
        "route": xr.Variable(
            ("route",),
            np.array([k.name for k in topo.kinds], dtype=object),
            attrs={"long_name": "route kind of the delivering transfer"},
        ),
        "route_family": xr.Variable(
            ("route",),
            np.array([k.family for k in topo.kinds], dtype=object),
            attrs={"long_name": "top-level route kind"},
        ),
        "mechanism": xr.Variable(
            ("mechanism",),
            np.array(MECHANISMS, dtype=object),
            attrs={"long_name": "organ failure mechanism"},
        ),
        "origin": xr.Variable(
            ("origin",),
            np.array(ORIGINS, dtype=object),
            attrs={"long_name": "origin of the cells: primary tumour or metastases"},
        ),
    }
    if jumps:
        coords["intervention"] = xr.Variable(
            ("intervention",),
            np.array(_unique_labels([item.label for item in jumps]), dtype=object),
            attrs={"long_name": "jump intervention, in the order given"},
        )
    if sol["size_distribution"] is not None:
        edges = np.asarray(size_edges, dtype=float)
        size_attrs = {"units": "cells"}
        coords["size"] = xr.Variable(
            ("size",),
            np.sqrt(edges[:-1] * edges[1:]),
            attrs={**size_attrs, "long_name": "colony size (geometric bin centre)"},
        )
        coords["size_lower"] = xr.Variable(
            ("size",), edges[:-1], attrs={**size_attrs, "long_name": "lower bin edge"}
        )
        coords["size_upper"] = xr.Variable(
            ("size",), edges[1:], attrs={**size_attrs, "long_name": "upper bin edge"}
        )
    table = parameters(model)
    attrs = {
        "title": f"metaflow_ode simulation of {model.name}",
        "model": _describe(model),
        "parameters": json.dumps({path: row.value for path, row in table.iterrows()}),
        "parameter_units": json.dumps({path: row.units for path, row in table.iterrows()}),
        "options": json.dumps(options or {}),
        "interventions": _describe_interventions(interventions),
        "metaflow_ode_version": _version(),
        "citations": CITATIONS,
    }
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def write_netcdf(dataset: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write `dataset` to a netCDF file atomically.

    The file is written under a temporary name in the same folder and renamed into place, so
    `path` holds either the old file or the complete new one, never a partial write.

    **Returns:** the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        dataset.to_netcdf(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
