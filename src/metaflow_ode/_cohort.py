"""`simulate_cohort`: one model, many patients (DESIGN section 3).

The patients differ in numbers only (the model's structure is shared), so one compiled
function solves a whole chunk of them: `jax.vmap` over the per-patient parameters; with
several local devices the chunk's patients are split over them (a `NamedSharding` along
`patient`, partitioned by XLA).
Chunks bound the memory; each finished chunk is converted to its part of the dataset and, with
a `store`, written to its region of a Zarr store at once, so an interrupted run resumes from
the chunks already written. With a `dask.distributed` client the chunks run on the cluster's
workers (each worker process compiles once and keeps the compiled function) and the workers
write to the same store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import resource
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from ._dataset import UnknownVariables, to_dataset
from ._interventions import check_interventions
from ._model import Model, _check_numbers, _suggest
from ._resolution import Colonies, Lumped
from ._simulate import (
    _OK,
    SaveTimes,
    _check_fidelity,
    _check_number,
    _options,
    _resolution_options,
    _solve,
)

__all__ = ["simulate_cohort", "parse_memory"]

PATIENT = "patient"
_COMPLETED = "chunk_completed"
_UNITS = {
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
    "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "b": 1,
}  # fmt: skip
_DEFAULT_CACHE = Path(
    os.environ.get("METAFLOW_ODE_CACHE_DIR", Path.home() / ".cache" / "metaflow_ode" / "jax")
)


def parse_memory(value: int | float | str) -> int:
    """A memory size in bytes from a number of bytes or a string such as `"4 GiB"`, `"512MB"`
    or `"1e9"` (units KiB, MiB, GiB, TiB, KB, MB, GB, TB, B; any case)."""
    if isinstance(value, bool):
        raise TypeError(f"memory size must be a number of bytes or e.g. '4 GiB', got {value!r}.")
    if isinstance(value, (int, float, np.number)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        factor = 1.0
        for unit, size in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
            if text.endswith(unit):
                text, factor = text[: -len(unit)], size
                break
        try:
            number = float(text) * factor
        except ValueError:
            number = math.nan
    else:
        raise TypeError(f"memory size must be a number of bytes or e.g. '4 GiB', got {value!r}.")
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"memory size must be > 0 bytes (e.g. 4e9 or '4 GiB'), got {value!r}.")
    return int(number)


# --- parameters -----------------------------------------------------------------------------


def _cohort_values(
    model: Model, parameters: Mapping[str, Any] | xr.Dataset
) -> tuple[dict[str, np.ndarray], int, dict[str, xr.Variable]]:
    """Per-patient values (float64, shape (P,)), the number of patients, patient coordinates."""
    coords: dict[str, xr.Variable] = {}
    if isinstance(parameters, xr.Dataset):
        if PATIENT not in parameters.dims:
            raise ValueError(
                "`simulate_cohort(parameters=...)`: the dataset needs a `patient` dimension "
                f"(it has {tuple(parameters.dims)}); `mfo.sample_patients` makes one."
            )
        for name, var in parameters.data_vars.items():
            if var.dims != (PATIENT,):
                raise ValueError(
                    f"`simulate_cohort(parameters=...)`: variable {name!r} must have dims "
                    f"('patient',), got {var.dims}."
                )
        coords = {name: c.variable for name, c in parameters.coords.items() if c.dims == (PATIENT,)}
        raw = {str(name): var.values for name, var in parameters.data_vars.items()}
    elif isinstance(parameters, Mapping):
        raw = dict(parameters)
    else:
        raise TypeError(
            "`simulate_cohort(parameters=...)` takes a mapping from dotted parameter path to a "
            '1-D array of per-patient values (`{"breast.growth.rate": rates}`) or an '
            f"`xarray.Dataset` with a `patient` dimension, got {type(parameters).__name__}."
        )
    if not raw:
        raise ValueError(
            "`simulate_cohort(parameters=...)` is empty: give at least one parameter path with "
            "one value per patient."
        )
    entries = model._parameter_entries()
    values: dict[str, np.ndarray] = {}
    n = None
    for path, value in raw.items():
        if not isinstance(path, str) or path not in entries:
            raise ValueError(
                f"`simulate_cohort(parameters=...)`: unknown parameter path {path!r}."
                f"{_suggest(str(path), entries)} `mfo.parameters(model)` lists every path."
            )
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"`simulate_cohort(parameters=...)`: values of {path!r} must be numbers, got "
                f"{type(value).__name__}."
            ) from None
        if array.ndim != 1:
            raise ValueError(
                f"`simulate_cohort(parameters=...)`: {path!r} needs a 1-D array with one value "
                f"per patient, got shape {array.shape}."
            )
        if n is None:
            n = array.shape[0]
        elif array.shape[0] != n:
            raise ValueError(
                f"`simulate_cohort(parameters=...)`: {path!r} has {array.shape[0]} values but "
                f"the first parameter has {n}; give every parameter one value per patient."
            )
        domain = entries[path].field.metadata["domain"]
        ok = domain.contains_all(array)
        if not np.all(ok):
            i = int(np.flatnonzero(~ok)[0])
            raise ValueError(
                f"`simulate_cohort(parameters=...)`: {path!r} must be {domain.value}; patient "
                f"{i} has {float(array[i])!r} ({int(np.sum(~ok))} patient(s) out of range)."
            )
        values[path] = array
    if n == 0:
        raise ValueError("`simulate_cohort(parameters=...)` has no patients (arrays of length 0).")
    values = dict(sorted(values.items()))  # one column order for parameter_value
    if PATIENT not in coords:
        coords[PATIENT] = xr.Variable((PATIENT,), np.arange(n), attrs={"long_name": "patient"})
    return values, int(n), coords


def _with_arrays(model: Model, values: Mapping[str, Any]) -> Model:
    """`model` with the leaves at `values`' paths replaced by (per-patient) arrays, unchecked."""
    entries = model._parameter_entries()
    for path, value in values.items():
        entry = entries[path]
        model = eqx.tree_at(
            lambda m, entry=entry: getattr(entry.where(m), entry.field.name), model, value
        )
    return model


# --- the compiled chunk ---------------------------------------------------------------------


# Solution fields behind each optional output variable: a cohort that keeps none of a field's
# variables does not compute it (XLA drops the dead computation) nor carry it to the host.
_FIELDS = {
    "carrier": ("carrier_cells", "ctc_per_7_5ml"),
    "seeding_rate": ("seeding_rate",),
    "colonies": ("colonies", "p_metastasis"),
    "fluid_volume": ("fluid_volume", "fluid_rate"),
    "fluid_rate": ("fluid_volume", "fluid_rate"),
    "size_distribution": ("size_distribution",),
}


def _dropped(variables: tuple[str, ...] | None) -> tuple[str, ...]:
    if variables is None:
        return ()
    return tuple(f for f, names in _FIELDS.items() if not set(names) & set(variables))


@eqx.filter_jit
def _solve_chunk(model, values, interventions, ts, t0, t1, options, drop):
    """Solve one chunk: `values` maps paths to arrays (n,), perhaps sharded over devices;
    the Solution fields named in `drop` are left out (None)."""
    resolution, solver, controller, max_steps, root_finder = options

    def one(dynamic, v):
        m = eqx.combine(dynamic, static).with_parameters(v)
        return _solve(m, interventions, ts, t0, t1, resolution, solver, controller, max_steps,
                      root_finder)  # fmt: skip

    dynamic, static = eqx.partition(model, eqx.is_array)
    solution = jax.vmap(one, in_axes=(None, 0))(dynamic, values)
    return dataclasses.replace(solution, **dict.fromkeys(drop))


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything needed to run one chunk, on this process or on a dask worker (picklable)."""

    model: Model
    interventions: tuple
    ts: np.ndarray
    t0: float
    t1: float
    options: tuple  # resolution, solver, controller, max_steps, root_finder
    chunk_size: int
    n_devices: int
    attrs_options: dict
    size_edges: Any
    variables: tuple[str, ...] | None
    cache_dir: str | None

    def mesh(self):
        if self.n_devices <= 1:
            return None
        devices = jax.local_devices()[: self.n_devices]
        return jax.sharding.Mesh(np.array(devices), (PATIENT,))

    def arguments(self, values: Mapping[str, np.ndarray]):
        mesh = self.mesh()
        if mesh is None:
            values = {k: jnp.asarray(v) for k, v in values.items()}
        else:
            # Patients split over the devices; XLA partitions the vmapped solve along them.
            sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(PATIENT))
            values = {k: jax.device_put(v, sharding) for k, v in values.items()}
        return (
            self.model,
            values,
            self.interventions,
            jnp.asarray(self.ts),
            jnp.asarray(self.t0),
            jnp.asarray(self.t1),
            self.options,
            _dropped(self.variables),
        )


def _resolve_tolerances(solver, controller):
    """An implicit solver whose root finder takes the controller's tolerances, made explicit.

    diffrax marks such tolerances with a module-level sentinel that it compares by identity,
    which does not survive pickling to a dask worker; this sets the values diffrax would use.
    """
    if not isinstance(solver, dfx.AbstractImplicitSolver):
        return solver
    attrs = [
        a for a in ("rtol", "atol", "norm")
        if getattr(solver.root_finder, a) is dfx._root_finder.use_stepsize_tol
    ]  # fmt: skip
    return eqx.tree_at(
        lambda s: tuple(getattr(s.root_finder, a) for a in attrs),
        solver,
        tuple(getattr(controller, a) for a in attrs),
        is_leaf=lambda x: x is dfx._root_finder.use_stepsize_tol,
    )


def _pad(values: Mapping[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Pad a short last chunk to the compiled size with copies of its last patient."""
    return {k: np.concatenate([v, np.repeat(v[-1:], size - len(v))]) for k, v in values.items()}


def _enable_cache(cache_dir: str | None) -> None:
    if cache_dir is None:
        return
    if jax.config.jax_compilation_cache_dir is None:
        try:
            Path(cache_dir).mkdir(parents=True, exist_ok=True)
        except OSError as error:  # e.g. a worker without the client's home directory
            warnings.warn(
                f"simulate_cohort: no persistent compilation cache ({error}); pass "
                "`compilation_cache=` a directory every process can write.",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        jax.config.update("jax_compilation_cache_dir", cache_dir)


def _run_chunk(
    plan: _Plan, values: Mapping[str, np.ndarray], patient: Mapping
) -> tuple[xr.Dataset, int]:
    """Solve one chunk of patients; return its part of the cohort dataset and its failures."""
    return _chunk_dataset(plan, _launch_chunk(plan, values), values, patient)


def _launch_chunk(plan: _Plan, values: Mapping[str, np.ndarray]):
    """Start solving one chunk; returns at once (JAX dispatches asynchronously) with the
    solution still being computed on the devices."""
    _enable_cache(plan.cache_dir)
    return _solve_chunk(*plan.arguments(_pad(values, plan.chunk_size)))


def _chunk_dataset(
    plan: _Plan, launched, values: Mapping[str, np.ndarray], patient: Mapping
) -> tuple[xr.Dataset, int]:
    """Wait for a launched chunk; return its part of the cohort dataset and its failures."""
    n = len(next(iter(values.values())))
    solution = jax.tree.map(lambda a: a[:n], jax.device_get(launched))
    batched = _with_arrays(plan.model, values)
    keep = None if plan.variables is None else [v for v in plan.variables if v != "parameter_value"]
    try:
        dataset = to_dataset(
            batched,
            solution,
            options=plan.attrs_options,
            size_edges=plan.size_edges,
            interventions=plan.interventions,
            keep=keep,
        )
    except UnknownVariables as error:
        raise ValueError(f"`simulate_cohort(variables=...)`: {error}") from None
    paths = list(values)
    dataset["parameter_value"] = xr.Variable(
        (PATIENT, "parameter"),
        np.stack([values[p] for p in paths], axis=-1),
        attrs={"units": "see parameter_units", "long_name": "per-patient parameter values"},
    )
    dataset = dataset.assign_coords(
        parameter=xr.Variable(
            ("parameter",), np.array(paths, dtype=str), attrs={"long_name": "parameter path"}
        ),
        **{name: xr.Variable((PATIENT,), np.asarray(v)) for name, v in patient.items()},
    )
    failed = int(np.sum(np.asarray(solution.result) != _OK))
    if keep is not None:
        dataset = dataset[[*keep, "parameter_value"]]  # the cohort's inputs always stay
    return dataset, failed


def _chunk_on_worker(plan: _Plan, values, patient, store, index, region) -> dict:
    """A dask task: run the chunk, write it to the store (if any), return it or its summary."""
    from . import _simulate

    before = _simulate._trace_count
    dataset, failed = _run_chunk(plan, values, patient)
    info = {
        "index": index,
        "traces": _simulate._trace_count - before,
        "pid": os.getpid(),
        "failed": failed,
    }
    if store is None:
        info["dataset"] = dataset
    else:
        _write_region(dataset, store, index, region)
    return info


# --- the Zarr store -------------------------------------------------------------------------


def _structure(tree) -> bytes:
    """The static part of a pytree (types, names, settings), without memory addresses."""
    return _without_addresses(repr(jax.tree.structure(tree)))


def _without_addresses(text: str) -> bytes:
    """`text` with `at 0x...` memory addresses (different in every process) removed."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", text).encode()


def _fingerprint(plan: _Plan, values: Mapping[str, np.ndarray], patient: Mapping, n: int) -> str:
    """A hash of everything that determines the stored result: a store is resumed only if its
    fingerprint matches."""
    digest = hashlib.sha256()
    digest.update(json.dumps(plan.attrs_options, sort_keys=True, default=str).encode())
    for tree in (plan.model, plan.interventions, plan.options):
        digest.update(_structure(tree))
        for leaf in jax.tree.leaves(tree):
            if isinstance(leaf, (jax.Array, np.ndarray, np.number, int, float)):
                digest.update(np.asarray(leaf, dtype=np.float64).tobytes())
            else:  # e.g. the controller's norm function
                digest.update(_without_addresses(repr(leaf)))
    digest.update(np.asarray(plan.ts).tobytes())
    digest.update(repr((plan.t0, plan.t1, plan.chunk_size, plan.variables, n)).encode())
    for path, array in values.items():  # in the (sorted) column order of parameter_value
        digest.update(path.encode())
        digest.update(array.tobytes())
    for name in sorted(patient):
        digest.update(name.encode())
        digest.update(repr(np.asarray(patient[name].values).tolist()).encode())
    return digest.hexdigest()


def _template(
    first: xr.Dataset, n: int, chunk: int, n_chunks: int, fingerprint: str, extra_attrs: dict
):
    """The whole cohort's dataset with lazy (never computed) arrays along `patient`."""
    import dask.array as da

    data = {}
    for name, var in first.variables.items():
        if PATIENT in var.dims and name != PATIENT:
            pairs = list(zip(var.dims, var.shape, strict=True))
            shape = tuple(n if d == PATIENT else s for d, s in pairs)
            chunks = tuple(chunk if d == PATIENT else s for d, s in pairs)
            data[name] = xr.Variable(
                var.dims, da.zeros(shape, chunks=chunks, dtype=var.dtype), attrs=var.attrs
            )
    template = first.drop_vars(list(data) + [PATIENT], errors="ignore").assign(
        {name: v for name, v in data.items() if name not in first.coords}
    )
    template = template.assign_coords({name: v for name, v in data.items() if name in first.coords})
    template.attrs.update(extra_attrs)
    template[_COMPLETED] = xr.Variable(
        ("chunk",),
        da.zeros((n_chunks,), chunks=1, dtype=np.int8),
        attrs={"long_name": "1 where the chunk has been written (resume bookkeeping)"},
    )
    template.attrs["cohort_fingerprint"] = fingerprint
    return template


def _encoding(dataset: xr.Dataset) -> dict:
    # One Zarr chunk per cohort chunk: concurrent region writes never share a Zarr chunk.
    return {
        name: {"chunks": var.data.chunksize}
        for name, var in dataset.variables.items()
        if hasattr(var.data, "chunksize")
    }


def _write_region(dataset: xr.Dataset, store: str, index: int, region: slice) -> None:
    """Write a chunk into its region, then mark it completed (so a marked chunk is whole)."""
    part = dataset.drop_vars(
        [name for name, var in dataset.variables.items() if PATIENT not in var.dims]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        part.to_zarr(store, region={PATIENT: region}, zarr_format=2, consolidated=False)
        xr.Dataset({_COMPLETED: ("chunk", np.ones(1, np.int8))}).to_zarr(
            store, region={"chunk": slice(index, index + 1)}, zarr_format=2, consolidated=False
        )


def _open_store(store: str) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        return xr.open_zarr(store, consolidated=False, zarr_format=2)


# --- progress and memory --------------------------------------------------------------------


class _Progress:
    def __init__(self, progress, total: int, initial: int):
        self.callback = progress if callable(progress) else None
        self.bar = None
        show = progress is True or (progress is None and sys.stderr.isatty())
        if self.callback is None and show:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="patient", desc="cohort")
        self.done = initial
        self.total = total

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _peak_rss() -> int:
    """Peak resident memory of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _chunk_memory(plan: _Plan, values) -> tuple[int, int, float]:
    """Compile the chunk function; return XLA's estimate of a chunk's peak memory and of its
    output (bytes), and the compile time (s)."""
    start = time.perf_counter()
    compiled = _solve_chunk.lower(*plan.arguments(_pad(values, plan.chunk_size))).compile()
    seconds = time.perf_counter() - start
    stats = compiled.compiled.memory_analysis()
    if stats is None:  # some backends do not report
        return 0, 0, seconds
    output = stats.output_size_in_bytes
    device = stats.argument_size_in_bytes + output + stats.temp_size_in_bytes
    # One chunk runs while the previous one's solution (on the device) is turned into a
    # dataset on the host: the fetched solution, the dataset built from it and its encoded copy.
    return int(device + output + 3 * output), int(output), seconds


# --- the entry point ------------------------------------------------------------------------


def simulate_cohort(
    model: Model,
    parameters: Mapping[str, Any] | xr.Dataset,
    t1: float,
    *,
    t0: float = 0.0,
    saveat: SaveTimes | Any | None = None,
    resolution: Lumped | Colonies = Lumped(),
    solver=None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    max_steps: int = 100_000,
    interventions: Sequence = (),
    variables: Sequence[str] | None = None,
    chunk_size: int = 512,
    store: str | os.PathLike | None = None,
    overwrite: bool = False,
    client=None,
    devices: int | None = None,
    memory_limit: int | str | None = None,
    progress: bool | Callable[[int, int], None] | None = None,
    compilation_cache: str | os.PathLike | bool = True,
) -> xr.Dataset:
    """Simulate a virtual cohort: `model` once per patient, the patients differing in numbers.

    **Arguments:**

    - `model`: the [`Model`][metaflow_ode.Model]; its structure is shared by every patient.
    - `parameters`: the per-patient numbers, a mapping from dotted parameter path (see
      [`parameters`][metaflow_ode.parameters]) to a 1-D array with one value per patient, or
      an `xarray.Dataset` with a `patient` dimension and one variable per path (as made by
      [`sample_patients`][metaflow_ode.sample_patients]; its `patient` coordinates are kept).
      Values are checked at once against each parameter's domain and the graph's constraints;
      an error names the path and the first patient out of range.
    - `t1`, `t0`, `saveat`, `resolution`, `solver`, `rtol`, `atol`, `max_steps`,
      `interventions`: as in [`simulate`][metaflow_ode.simulate], shared by all patients.
    - `variables`: names of the data variables to keep (default all; `parameter_value` is
      always kept); a short list (e.g. `["burden", "failure_time", "death_time",
      "cause_of_death"]`) makes large cohorts smaller in memory and on disk, and outputs no
      kept variable needs are not computed.
    - `chunk_size`: patients solved together in one compiled call (default 512; at most the
      number of patients, rounded up to a multiple of `devices`, and shrunk to fit
      `memory_limit`). Every chunk has the same size (the last one is padded), so the function
      compiles once. Memory grows
      linearly with it; a larger chunk amortises per-call costs, but under `vmap` every
      patient of a chunk takes as many solver steps as the slowest one (and, with failure
      criteria, every solve segment as many as the slowest patient's). On a CPU, 256 patients
      per device was fastest for the breast preset (docs/performance.md); a GPU wants tens of
      thousands.
    - `store`: a path (local or shared file system) for a Zarr store (format 2). Each chunk's
      part of the dataset is written to its region as soon as it is solved, and marked done
      after. If the store already holds this cohort (same model, numbers, patients,
      interventions, solver options, save times, chunk size and kept variables), only the
      missing chunks run: an interrupted run resumes. The result is then opened lazily from
      the store.
    - `overwrite`: replace a Zarr store that holds a different cohort (default: raise). A
      path that is not a Zarr store is never replaced.
    - `client`: a `dask.distributed.Client`; the chunks then run on its workers (each worker
      compiles once) and, with a `store` on a file system the workers share, they write there.
    - `devices`: how many local JAX devices to split each chunk over (default all; the chunk
      size is rounded up to a multiple). The devices step together: a chunk takes as many
      solver steps as its slowest patient.
    - `memory_limit`: bytes or a string such as `"4 GiB"`. Before running, XLA's memory
      analysis of the compiled chunk (plus the host copies of its output) is compared with it;
      if a chunk does not fit, the chunk size is reduced to fit (or, if even one patient does
      not fit, a `ValueError` names the limit). Without a `store` the whole result must also
      fit in memory.
    - `progress`: `True` for a progress bar (tqdm), `False` for none, a callable
      `progress(done, total)` called after every chunk, or `None` (default): a bar only when
      standard error is a terminal.
    - `compilation_cache`: a directory for JAX's persistent compilation cache, so later runs
      (and other worker processes) load the compiled chunk instead of compiling it;
      `True` (default) uses `$METAFLOW_ODE_CACHE_DIR` or `~/.cache/metaflow_ode/jax` unless
      JAX already has a cache directory configured; `False` leaves JAX's settings alone.

    **Returns:** the dataset of [`simulate`][metaflow_ode.simulate] with a leading `patient`
    dimension on every per-patient variable, plus `parameter_value` (patient, parameter) with
    the cohort's numbers. A solver failure does not stop the cohort (`throw=False` semantics):
    the patient's `solver_status` says why and its outputs are NaN after the failure; a
    warning counts the failures. Staging is not applied (use [`stage`][metaflow_ode.stage] on a
    patient, `ds.isel(patient=i)`). The attrs add `patients`, `chunk_size`, `devices`,
    `compile_seconds`, `run_seconds`, `estimated_chunk_memory_bytes`, `peak_memory_bytes` (the
    peak resident memory of this process) and `failed_patients`; with a `parameters` dataset,
    `patient_sampling` holds its attrs (the seed and distributions of `sample_patients`).
    """
    if not isinstance(model, Model):
        raise TypeError(
            f"`simulate_cohort(model, ...)` takes a `mfo.Model`, got {type(model).__name__}."
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(
            f"`simulate_cohort(chunk_size=...)` must be a positive integer, got {chunk_size!r}."
        )
    if not isinstance(overwrite, bool):
        raise TypeError("`simulate_cohort(overwrite=...)` must be True or False.")
    if not (progress is None or isinstance(progress, bool) or callable(progress)):
        raise TypeError(
            "`simulate_cohort(progress=...)` must be True, False, None or a callable "
            "`progress(done, total)`."
        )
    if variables is not None and (
        isinstance(variables, str)
        or not isinstance(variables, Sequence)
        or not all(isinstance(v, str) for v in variables)
    ):
        raise TypeError("`simulate_cohort(variables=...)` must be a list of variable names.")
    limit = None if memory_limit is None else parse_memory(memory_limit)
    values, n, patient_coords = _cohort_values(model, parameters)
    sampling = {}
    if isinstance(parameters, xr.Dataset) and parameters.attrs:
        # how the patients were drawn (seed, distributions, correlation of sample_patients)
        sampling["patient_sampling"] = json.dumps(parameters.attrs, default=str)
    t0 = _check_number("t0", t0)
    interventions = check_interventions(model, interventions, t0)
    # The graph's and the fidelity's checks (colonies start empty and grow at birth size)
    # see every patient's numbers.
    patients_model = _with_arrays(model, values)
    _check_numbers(patients_model)
    ts, t0, t1, resolution, solver, controller, max_steps, root_finder = _options(
        patients_model, t1, t0, saveat, resolution, solver, rtol, atol, max_steps
    )
    _check_fidelity(model, interventions, resolution)

    available = len(jax.local_devices())
    if devices is None:
        devices = available
    if isinstance(devices, bool) or not isinstance(devices, int) or not 1 <= devices <= available:
        raise ValueError(
            f"`simulate_cohort(devices=...)` must be an integer from 1 to the {available} local "
            f"JAX device(s), got {devices!r}."
        )
    if compilation_cache is True:
        cache_dir = jax.config.jax_compilation_cache_dir or str(_DEFAULT_CACHE)
    elif compilation_cache is False or compilation_cache is None:
        cache_dir = None
    elif isinstance(compilation_cache, (str, os.PathLike)):
        cache_dir = os.fspath(compilation_cache)
    else:
        raise TypeError(
            "`simulate_cohort(compilation_cache=...)` must be True, False or a directory path."
        )
    _enable_cache(cache_dir)

    chunk = min(chunk_size, n)
    chunk = -(-chunk // devices) * devices  # a multiple of the device count
    attrs_options = {
        "resolution": type(resolution).__name__,
        **_resolution_options(resolution),
        "solver": type(solver).__name__,
        "rtol": float(rtol),
        "atol": float(atol),
        "t0": t0,
        "t1": t1,
    }
    plan = _Plan(
        model=model,
        interventions=interventions,
        ts=np.asarray(ts),
        t0=t0,
        t1=t1,
        options=(
            resolution,
            _resolve_tolerances(solver, controller),
            controller,
            max_steps,
            root_finder,
        ),
        chunk_size=chunk,
        n_devices=devices,
        attrs_options=attrs_options,
        size_edges=resolution.size_edges if isinstance(resolution, Colonies) else None,
        variables=None if variables is None else tuple(variables),
        cache_dir=cache_dir,
    )

    def chunk_values(lo: int, hi: int) -> dict[str, np.ndarray]:
        return {k: v[lo:hi] for k, v in values.items()}

    def chunk_patients(lo: int, hi: int) -> dict[str, np.ndarray]:
        return {name: c.values[lo:hi] for name, c in patient_coords.items()}

    # Compile here (once), ask XLA how much memory a chunk needs, shrink the chunk to fit.
    estimate, output, compile_seconds = _chunk_memory(plan, chunk_values(0, plan.chunk_size))
    while limit is not None and estimate > limit:
        # Memory grows about linearly with the chunk; shrink it (and recompile) until it fits.
        per_patient = estimate / plan.chunk_size
        fit = min(int(limit // per_patient), plan.chunk_size - 1) // devices * devices
        if fit < 1:
            raise ValueError(
                f"`simulate_cohort(memory_limit={memory_limit!r})`: a chunk of "
                f"{plan.chunk_size} patient(s) needs about {estimate / 2**20:.2f} MiB; raise "
                "the limit or keep fewer outputs (`variables=`, a coarser `saveat`)."
            )
        plan = dataclasses.replace(plan, chunk_size=fit)
        estimate, output, more = _chunk_memory(plan, chunk_values(0, plan.chunk_size))
        compile_seconds += more
    if limit is not None and store is None:
        whole = output / plan.chunk_size * n  # the output, kept for the whole cohort
        if estimate + whole > limit:
            raise ValueError(
                f"`simulate_cohort(memory_limit={memory_limit!r})`: the whole result of {n} "
                f"patients needs about {whole / 2**30:.2f} GiB in memory; pass a `store=` path "
                "to stream it to disk, or keep fewer outputs (`variables=`)."
            )

    size = plan.chunk_size
    n_chunks = -(-n // size)
    bounds = [(k, k * size, min(n, (k + 1) * size)) for k in range(n_chunks)]
    start = time.perf_counter()
    done: set[int] = set()
    parts: dict[int, xr.Dataset] = {}
    compilations: dict[str, int] = {}  # dask worker process -> traces of the solve
    failed = 0
    store_path = None if store is None else os.fspath(store)
    if store_path is not None and "://" in store_path:
        raise ValueError(
            f"`simulate_cohort(store={store_path!r})` must be a path on a local or shared file "
            "system (object-storage URLs are not supported: resuming needs the file system)."
        )

    if store_path is not None:
        fingerprint = _fingerprint(plan, values, patient_coords, n)
        if Path(store_path).exists():
            existing = None
            if (Path(store_path) / ".zgroup").is_file():
                try:
                    existing = _open_store(store_path)
                except Exception:  # noqa: BLE001  (a broken store: only with overwrite)
                    existing = None
            if existing is None or "cohort_fingerprint" not in existing.attrs:
                if not (overwrite and (Path(store_path) / ".zgroup").is_file()):
                    raise ValueError(
                        f"`simulate_cohort(store={store_path!r})`: the path exists and is not "
                        "a cohort store; choose a new path (an existing Zarr store is replaced "
                        "only with `overwrite=True`)."
                    )
                shutil.rmtree(store_path)
            elif existing.attrs["cohort_fingerprint"] == fingerprint:
                done = {int(k) for k in np.flatnonzero(existing[_COMPLETED].values)}
            elif overwrite:
                shutil.rmtree(store_path)
            else:
                raise ValueError(
                    f"`simulate_cohort(store={store_path!r})` holds a different cohort (other "
                    "numbers, patients, interventions or options); choose a new path or pass "
                    "`overwrite=True`."
                )

    bar = _Progress(progress, n, sum(hi - lo for k, lo, hi in bounds if k in done))
    pending = [b for b in bounds if b[0] not in done]
    created = store_path is not None and Path(store_path).exists()

    def finish(index: int, dataset: xr.Dataset | None, count: int, bad: int) -> None:
        nonlocal failed, created
        failed += bad
        if dataset is not None:
            if store_path is None:
                parts[index] = dataset
            else:
                if not created:
                    template = _template(dataset, n, size, n_chunks, fingerprint, sampling)
                    template = template.assign_coords(
                        {name: c for name, c in patient_coords.items()}
                    )
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", category=UserWarning)
                        template.to_zarr(
                            store_path,
                            compute=False,
                            mode="w",
                            zarr_format=2,
                            consolidated=False,
                            encoding=_encoding(template),
                        )
                    created = True
                _, lo, hi = bounds[index]
                _write_region(dataset, store_path, index, slice(lo, hi))
        bar.update(count)

    try:
        if client is None:
            # One chunk ahead: the devices solve chunk k + 1 while this process builds and
            # writes the dataset of chunk k (on a GPU that host work is otherwise idle time).
            ahead = None
            for item in [*pending, None]:
                launched = None if item is None else _launch_chunk(plan, chunk_values(*item[1:]))
                if ahead is not None:
                    (index, lo, hi), solution = ahead
                    dataset, bad = _chunk_dataset(
                        plan, solution, chunk_values(lo, hi), chunk_patients(lo, hi)
                    )
                    finish(index, dataset, hi - lo, bad)
                ahead = None if item is None else (item, launched)
        else:
            failed += _run_on_cluster(
                client, plan, pending, chunk_values, chunk_patients, store_path, created, finish,
                compilations,
            )  # fmt: skip
    finally:
        bar.close()
    run_seconds = time.perf_counter() - start

    if store_path is None:
        result = xr.concat(
            [parts[k] for k in sorted(parts)],
            dim=PATIENT,
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="override",
            combine_attrs="override",
        )
    else:
        result = _open_store(store_path).drop_vars(_COMPLETED)
        failed = (
            int((result["solver_status"] != "successful").sum())
            if ("solver_status" in result)
            else failed
        )
    result.attrs.update(
        {
            "patients": n,
            "chunk_size": plan.chunk_size,
            "devices": devices,
            "compile_seconds": compile_seconds,
            "run_seconds": run_seconds,
            "estimated_chunk_memory_bytes": estimate,
            "peak_memory_bytes": _peak_rss(),
            "failed_patients": failed,
        }
    )
    if client is not None:
        result.attrs["worker_compilations"] = json.dumps(compilations)
    result.attrs.update(sampling)
    if failed:
        warnings.warn(
            f"simulate_cohort: the solver failed for {failed} of {n} patients; their "
            "`solver_status` says why and their outputs are NaN after the failure.",
            RuntimeWarning,
            stacklevel=2,
        )
    return result


def _run_on_cluster(
    client, plan, pending, chunk_values, chunk_patients, store_path, created, finish, compilations
) -> int:
    """Run the pending chunks on a dask cluster; return the count of failed patients."""
    from dask.distributed import as_completed

    if not pending:
        return 0
    plan_future = client.scatter(plan, broadcast=True)
    failed = 0
    queue = list(pending)
    if store_path is not None and not created:
        # The first chunk comes back to build the store's template here.
        index, lo, hi = queue.pop(0)
        future = client.submit(
            _chunk_on_worker, plan_future, chunk_values(lo, hi), chunk_patients(lo, hi), None,
            index, slice(lo, hi), pure=False,
        )  # fmt: skip
        info = future.result()
        _count(compilations, info)
        finish(index, info["dataset"], hi - lo, info["failed"])
    futures = {}
    for index, lo, hi in queue:
        future = client.submit(
            _chunk_on_worker, plan_future, chunk_values(lo, hi), chunk_patients(lo, hi),
            store_path, index, slice(lo, hi), pure=False,
        )  # fmt: skip
        futures[future] = (index, lo, hi)
    for future in as_completed(futures):
        index, lo, hi = futures[future]
        info = future.result()
        _count(compilations, info)
        if store_path is None:
            finish(index, info["dataset"], hi - lo, info["failed"])
        else:
            finish(index, None, hi - lo, 0)
            failed += info["failed"]
    return failed


def _count(compilations: dict[str, int], info: dict) -> None:
    key = str(info["pid"])
    compilations[key] = compilations.get(key, 0) + info["traces"]
