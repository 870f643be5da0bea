"""Conversion of a `Solution` into the public `xarray.Dataset`, and atomic file output.

Runs outside `jit`, on host arrays. Variable and dimension names are part of the public API
(DESIGN section 3, "Output dataset").
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

import diffrax as dfx
import equinox as eqx
import numpy as np
import xarray as xr

from ._atomic import write_atomic
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


def _num(value) -> np.ndarray:
    """A model number as a float64 array: a scalar, or one value per patient in a cohort."""
    return np.asarray(value, dtype=np.float64)


def _per_organ(values: list) -> np.ndarray:
    """Stack per-organ numbers (scalars or per-patient arrays) on a last `organ` axis."""
    return np.stack(np.broadcast_arrays(*[_num(v) for v in values]), axis=-1)


def _failure_burden(model: Model) -> np.ndarray:
    density = _num(model.cell_density)
    out = []
    for organ in model.organs:
        failure = organ.failure
        levels = []
        if failure is not None and failure.burden is not None:
            levels.append(_num(failure.burden))
        if failure is not None and failure.replaced_fraction is not None:
            levels.append(_num(failure.replaced_fraction) * density * _num(organ.volume))
        out.append(np.minimum.reduce(np.broadcast_arrays(*levels)) if levels else np.nan)
    return _per_organ(out)


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


class UnknownVariables(ValueError):
    """`to_dataset(keep=...)` named a variable this simulation does not have."""


def to_dataset(
    model: Model,
    solution,
    *,
    options: dict | None = None,
    size_edges=None,
    interventions=(),
    keep=None,
) -> xr.Dataset:
    """Build the output dataset from a (host) [`Solution`][metaflow_ode.Solution] of `model`.

    `size_edges` (cells) are the bin edges of the colonies fidelity's size distribution;
    `interventions` those passed to `simulate` (described in the attrs, and the times the
    jumps among them were applied in `intervention_time`).

    A cohort solution (every array with a leading patient axis, from `jax.vmap`) gives a
    dataset with a leading `patient` dimension; `model`'s numbers may then be per-patient
    arrays (the cohort's parameters) and the time grid must be shared by all patients.

    `keep`: names of the data variables to build (default all). The per-time arrays that are
    derived from the solution (burden, volume, replaced fraction, CTCs per sample,
    P(metastasis)) are computed only when kept: for a large cohort chunk they are most of the
    cost of this function.
    """
    topo = topology(model)
    batched = np.ndim(solution.result) == 1
    lead = ("patient",) if batched else ()
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
    if batched:
        ts = sol["ts"]
        if not np.all(ts == ts[:1]):
            raise ValueError("`to_dataset`: the patients of a cohort must share save times.")
        sol["ts"] = ts[0]
    organs, carriers = list(topo.organs), list(topo.carriers)

    # Derived per-time arrays: zero-argument functions, evaluated (once) only if kept.
    @functools.cache
    def burden():
        total = np.array(sol["metastatic"], dtype=np.result_type(sol["metastatic"], sol["primary"]))
        total[..., topo.primary] += sol["primary"]
        return total

    density = _num(model.cell_density)[..., None, None]
    volume = functools.cache(lambda: burden() / density)
    organ_volume = _per_organ([np.nan if o.volume is None else o.volume for o in model.organs])
    blood = [
        c.volume if c.volume is not None and c.kind.family == "haematogenous" else np.nan
        for c in model.carriers
    ]
    blood_volume = _per_organ(blood) if blood else np.zeros((*np.shape(density)[:-2], 0))
    origin_first = lambda a: np.swapaxes(a, -1, -2)  # noqa: E731  (T, 2, X) -> (T, X, 2)

    to, too, tco = ("time", "organ"), ("time", "organ", "origin"), ("time", "carrier", "origin")
    data = {
        "burden": (to, burden, "cells", "tumour cells in the organ (primary tumour included)"),
        "primary_burden": (("time",), sol["primary"], "cells", "cells of the primary tumour"),
        "metastatic_burden": (to, sol["metastatic"], "cells", "metastatic cells in the organ"),
        "volume": (to, volume, "mL", "tumour volume in the organ (burden / cell_density)"),
        "replaced_fraction": (
            to,
            lambda: volume() / organ_volume[..., None, :],
            "1",
            "fraction of the organ replaced by tumour (NaN where the organ has no volume)",
        ),
    }
    # A cohort may leave out the larger outputs it does not keep (`variables=`): None here.
    if sol["carrier"] is not None:
        data["carrier_cells"] = (
            tco,
            origin_first(sol["carrier"]),
            "cells",
            "tumour cells in transit",
        )
        data["ctc_per_7_5ml"] = (
            ("time", "carrier"),
            lambda: sol["carrier"].sum(axis=-2) * (CELLSEARCH_ML / blood_volume[..., None, :]),
            "cells/(7.5 mL)",
            "circulating tumour cells per 7.5 mL of blood, the CellSearch sample (NaN for "
            "carriers that are not blood or have no volume)",
        )
    if sol["seeding_rate"] is not None:
        data["seeding_rate"] = (
            ("time", "organ", "route", "origin"),
            np.moveaxis(sol["seeding_rate"], -1, -3),
            "colonies/day",
            "colonies founded per day, by delivering route kind and origin",
        )
    if sol["colonies"] is not None:
        colonies = np.swapaxes(sol["colonies"], -1, -2)
        data["colonies"] = (too, colonies, "colonies", "cumulative colonies founded since t0")
        data["p_metastasis"] = (
            to,
            lambda: -np.expm1(-colonies.sum(axis=-1)),
            "1",
            "probability of at least one colony (Poisson in the colonies founded)",
        )
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
    if sol["size_distribution"] is not None:
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
    if fluid_index and sol["fluid_volume"] is not None:
        for key, units, long in (
            ("fluid_volume", "mL", "fluid volume of the cavity or CSF (NaN: no fluid state)"),
            ("fluid_rate", "mL/day", "rate of change of the fluid volume (NaN: no fluid state)"),
        ):
            full = np.full((*sol[key].shape[:-1], len(carriers)), np.nan)
            full[..., fluid_index] = sol[key]
            data[key] = (("time", "carrier"), full, units, long)

    crit = criteria(model)
    crossing = np.where(np.isfinite(sol["crossing_times"]), sol["crossing_times"], np.nan)
    n_mech = len(MECHANISMS)
    shape = crossing.shape[:-1]
    by_mechanism = {
        lv: np.full((*shape, len(organs), n_mech), np.nan) for lv in ("failure", "warning")
    }
    lethal_time = np.full(shape, np.nan)
    for k, (i, level, mech) in enumerate(zip(crit.organ, crit.level, crit.mechanism, strict=True)):
        if level == "lethal":
            lethal_time = crossing[..., k]
        else:
            by_mechanism[level][..., i, MECHANISMS.index(mech)] = crossing[..., k]

    # first mechanism reached per organ (fmin skips NaN; all NaN gives NaN)
    failure_time = np.fmin.reduce(by_mechanism["failure"], axis=-1)
    warning_time = np.fmin.reduce(by_mechanism["warning"], axis=-1)
    # Death: the first lethal organ failure (any mechanism) or the lethal whole-body burden.
    # Candidates in a fixed order (organ-major, then mechanism, whole body last), the earliest
    # wins and ties go to the first, as in a per-patient scan.
    labels = [("", "", "")]  # alive
    columns = []
    for i, organ in enumerate(model.organs):
        if organ.failure is None or not organ.failure.lethal:
            continue
        for j, mech in enumerate(MECHANISMS):
            labels.append((organs[i], mech, organ.failure.label(mech)))
            columns.append(by_mechanism["failure"][..., i, j])
    labels.append(("whole_body", "lethal_burden", "lethal whole-body burden"))
    columns.append(lethal_time)
    candidates = np.stack(columns, axis=-1)
    reached = np.isfinite(candidates)
    first = np.argmin(np.where(reached, candidates, np.inf), axis=-1)
    any_reached = reached.any(axis=-1)
    earliest = np.take_along_axis(candidates, first[..., None], axis=-1)[..., 0]
    death_time = np.where(any_reached, earliest, np.nan)
    which = np.where(any_reached, first + 1, 0)
    # A cohort's strings are fixed-width (Zarr stores them so), sized by the whole vocabulary
    # rather than by the patients at hand, so every chunk of a cohort has the same width.
    text = str if batched else object
    cause, mechanism, condition = (
        np.array(np.array([label[n] for label in labels], dtype=text)[which], dtype=text)
        for n in range(3)
    )
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
        np.asarray(lethal_time, dtype=np.float64),
        "day",
        "time the whole-body burden reaches the lethal burden",
    )
    data["lethal_burden"] = (
        (),
        np.nan if model.lethal_burden is None else _num(model.lethal_burden),
        "cells",
        "whole-body lethal burden (NaN: none)",
    )
    data["death_time"] = (
        (),
        np.asarray(death_time, dtype=np.float64),
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
    from ._simulate import result_message

    codes = np.asarray(sol["result"])
    if batched:  # a cohort: diffrax's short result names ("successful", "max_steps_reached")
        names = {int(item._value): name for name, item in dfx.RESULTS._name_to_item.items()}
        status = np.array([names[c] for c in range(len(names))], dtype=str)[codes]
    else:
        status = np.array(result_message(int(codes)), dtype=object)

    def variable(dims, values, attrs):
        # In a cohort every per-patient array carries one more (leading) axis than its dims.
        values = np.asarray(values() if callable(values) else values)
        if batched and values.ndim == len(dims) + 1:
            dims = lead + tuple(dims)
        return xr.Variable(dims, values, attrs=attrs)

    variables = {
        name: variable(dims, values, {"units": units, "long_name": long})
        for name, (dims, values, units, long) in data.items()
        if keep is None or name in keep
    }
    variables["death_mechanism"] = variable(
        (),
        np.asarray(mechanism),
        attrs={
            "units": "1",
            "long_name": "mechanism of the first failure: "
            + ", ".join(MECHANISMS)
            + " or lethal_burden",
        },
    )
    variables["death_condition"] = variable(
        (),
        np.asarray(condition),
        attrs={
            "units": "1",
            "long_name": "clinical name of the first failure (Failure(labels=...), e.g. ascites)",
        },
    )
    variables["cause_of_death"] = variable(
        (),
        np.asarray(cause),
        attrs={"units": "1", "long_name": "organ whose failure came first, or whole_body"},
    )
    variables["solver_status"] = variable(
        (),
        status,
        attrs={"units": "1", "long_name": "solver outcome ('successful' or the failure)"},
    )
    variables["solver_steps"] = variable(
        (),
        np.asarray(sol["num_steps"], dtype=np.int64),
        attrs={"units": "1", "long_name": "accepted solver steps"},
    )
    if keep is not None:  # names neither built (data) nor always present are unknown
        unknown = [name for name in keep if name not in data and name not in variables]
        if unknown:
            raise UnknownVariables(
                f"no variable(s) {unknown} in this simulation; it has "
                f"{sorted({*data, *variables})}."
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
    values = {
        path: float(v) if np.ndim(v) == 0 else "per patient: variable parameter_value"
        for path, v in ((p, _num(x)) for p, x in model.parameter_values().items())
    }
    attrs = {
        "title": f"metaflow_ode simulation of {model.name}",
        "model": _describe(model),
        "parameters": json.dumps(values),
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
    `path` holds either the old file or the complete new one, never a partial write. A new
    file gets the mode `open` would give it (`0o666` less the umask); a replaced file keeps
    its mode.

    **Returns:** the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, lambda tmp: dataset.to_netcdf(tmp))
