"""Benchmark: virtual cohorts of the breast whole-body preset (lumped), 10 years, monthly output.

Side by side in one process, for the same patients, equations, solver family and tolerances:

- `metaflow_ode`: `mfo.simulate_cohort`, streaming a short list of outputs to a Zarr store
  (what a large cohort does in practice; the dataset conversion and the writes are timed too);
- direct diffrax: the vector field written by hand (`wholebody_baselines.direct_solve`), one
  `jax.jit(jax.vmap(...))` over chunks of the same size, on the same devices;
- scipy: `scipy.integrate.solve_ivp` (RK45) on `wholebody_baselines.numpy_rhs`, a Python loop,
  timed on a sample of the patients and scaled linearly.

Patients differ in the primary's growth rate and emission coefficient (log-normal, correlated
0.5, `mfo.sample_patients`, seed 0). The library additionally locates organ-failure, warning
and lethal-burden crossings by root finding (23 criteria); the baselines only integrate.

Run: `python benchmarks/cohort.py` (default 10,000 and 100,000 patients; `--patients 2000`
for a quick run). To use both CPU cores as two JAX devices, set
`XLA_FLAGS=--xla_force_host_platform_device_count=2` (both JAX implementations then split every
chunk over the two devices). Prints a table; record it in docs/performance.md with the command
and the machine. `benchmarks/gpu.sh` runs the same on an NVIDIA GPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import metaflow_ode as mfo

sys.path.insert(0, str(Path(__file__).parent))
import wholebody_baselines as wb  # noqa: E402

T1, DT = 3650.0, 30.0
RTOL = ATOL = 1e-6
KEEP = ["burden", "failure_time", "death_time", "cause_of_death", "solver_status", "solver_steps"]


class PeakRSS:
    """Peak resident memory (bytes) of this process while the block runs, sampled every 20 ms."""

    def __enter__(self):
        self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def patients(n: int):
    model = mfo.anatomy.reference_model(primary="breast")
    primary = model.organs[model.primary_index]
    return mfo.sample_patients(
        n,
        {
            "breast.growth.rate": mfo.LogNormal(float(primary.growth.rate), 0.25),
            "breast.emission.coefficient": mfo.LogNormal(float(primary.emission.coefficient), 0.5),
        },
        seed=0,
        correlation=[[1.0, 0.5], [0.5, 1.0]],
    )


def run_library(model, params, chunk, store):
    with PeakRSS() as rss:
        ds = mfo.simulate_cohort(
            model,
            params,
            T1,
            saveat=mfo.every(DT),
            resolution=mfo.Lumped(eliminate_carriers=True),
            rtol=RTOL,
            atol=ATOL,
            variables=KEEP,
            chunk_size=chunk,
            store=store,
            progress=False,
            compilation_cache=False,
        )
    steps = ds.solver_steps.values
    size = ds.attrs["chunk_size"]
    waste = [
        1 - steps[i : i + size].mean() / steps[i : i + size].max()
        for i in range(0, len(steps), size)
    ]
    return {
        "compile": ds.attrs["compile_seconds"],
        "run": ds.attrs["run_seconds"],
        "peak": rss.peak,
        "steps": (int(steps.min()), float(np.median(steps)), int(steps.max())),
        "waste": float(np.median(waste)),
        "failed": ds.attrs["failed_patients"],
        "chunk": size,
        "burden": ds.burden.isel(patient=slice(0, 100)).values,
    }


def run_direct(model, params, chunk, devices):
    p0 = wb.extract(model)
    ts = jnp.asarray(mfo.every(DT).resolve(0.0, T1))

    def one(rate, coefficient):
        p = wb.with_values(
            p0, model, {"breast.growth.rate": rate, "breast.emission.coefficient": coefficient}
        )
        return wb.direct_solve(p, ts, RTOL, ATOL)

    solve = jax.jit(jax.vmap(one))
    rates = params["breast.growth.rate"].values
    coefs = params["breast.emission.coefficient"].values
    n = len(rates)
    chunk = min(chunk, n)
    chunk = -(-chunk // devices) * devices
    if devices > 1:
        mesh = jax.sharding.Mesh(np.array(jax.local_devices()[:devices]), ("patient",))
        sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("patient"))
        put = lambda a: jax.device_put(a, sharding)  # noqa: E731
    else:
        put = jnp.asarray

    def pad(a, lo):
        part = a[lo : lo + chunk]
        return put(np.concatenate([part, np.repeat(part[-1:], chunk - len(part))]))

    start = time.perf_counter()
    solve.lower(pad(rates, 0), pad(coefs, 0)).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    first = None
    for lo in range(0, n, chunk):
        out = np.asarray(solve(pad(rates, lo), pad(coefs, lo)))[: min(chunk, n - lo)]
        if first is None:
            first = out[:100]
    return {"compile": compile_s, "run": time.perf_counter() - start, "burden": first}


def run_scipy(model, params, sample):
    p0 = wb.extract(model)
    ts = mfo.every(DT).resolve(0.0, T1)
    start = time.perf_counter()
    for i in range(sample):
        p = wb.with_values(
            p0,
            model,
            {
                "breast.growth.rate": float(params["breast.growth.rate"][i]),
                "breast.emission.coefficient": float(params["breast.emission.coefficient"][i]),
            },
        )
        wb.scipy_solve(p, ts, RTOL, ATOL)
    return (time.perf_counter() - start) / sample


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--scipy-sample", type=int, default=20)
    parser.add_argument(
        "--direct-max",
        type=int,
        default=10_000,
        help="time direct diffrax on at most this many patients and scale linearly",
    )
    args = parser.parse_args()

    model = mfo.anatomy.reference_model(primary="breast")
    devices = jax.local_device_count()
    device = jax.devices()[0]
    print(
        f"# breast whole-body preset, lumped (carriers eliminated, 4 fluid states), {T1:g} d, "
        f"output every {DT:g} d, Tsit5, rtol=atol={RTOL:g}"
    )
    print(
        f"# machine: {platform.machine()}, {os.cpu_count()} CPU cores, {devices} x "
        f"{device.platform} ({device.device_kind}), jax {jax.__version__}"
    )
    scipy_per_patient = run_scipy(model, patients(args.scipy_sample), args.scipy_sample)
    print(f"# scipy solve_ivp loop: {scipy_per_patient:.3f} s per patient", flush=True)
    rows = []
    directs = {}  # direct diffrax timed once per sample size and reused by larger cohorts
    for n in args.patients:
        params = patients(n)
        with tempfile.TemporaryDirectory() as tmp:
            lib = run_library(model, params, args.chunk, Path(tmp) / "cohort.zarr")
        print(
            f"# {n} patients, metaflow_ode: compile {lib['compile']:.1f} s, run {lib['run']:.1f} s,"
            f" device peak memory {_device_peak()}",
            flush=True,
        )
        m = min(n, args.direct_max)
        if m not in directs:
            directs[m] = run_direct(model, params.isel(patient=slice(0, m)), lib["chunk"], devices)
            print(
                f"# {m} patients, direct diffrax: compile {directs[m]['compile']:.1f} s, "
                f"run {directs[m]['run']:.1f} s",
                flush=True,
            )
        direct = directs[m]
        direct_run = direct["run"] * n / m
        k = min(len(lib["burden"]), len(direct["burden"]))
        a, b = lib["burden"][:k], direct["burden"][:k]
        agree = np.max(np.abs(a - b) / (np.abs(b) + 1))
        rows.append((n, lib, direct, direct_run, m, agree))

    print(
        "| patients | implementation | compile (s) | run (s) | patients/s | peak memory (GiB) |"
        " steps min / median / max | vmap idle share (median chunk) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for n, lib, direct, direct_run, m, _ in rows:
        lo, med, hi = lib["steps"]
        print(
            f"| {n} | metaflow_ode (chunk {lib['chunk']}, Zarr store) | {lib['compile']:.1f} | "
            f"{lib['run']:.1f} | {n / lib['run']:.0f} | {lib['peak'] / 2**30:.2f} | "
            f"{lo} / {med:.0f} / {hi} | {lib['waste']:.1%} |"
        )
        scaled = "" if m == n else f" (timed on {m}, scaled)"
        print(
            f"| {n} | direct diffrax{scaled} | {direct['compile']:.1f} | {direct_run:.1f} | "
            f"{n / direct_run:.0f} | - | - | - |"
        )
        print(
            f"| {n} | scipy solve_ivp loop (timed on {args.scipy_sample}, scaled) | - | "
            f"{scipy_per_patient * n:.0f} | {1 / scipy_per_patient:.2f} | - | - | - |"
        )
    print()
    for n, lib, _, direct_run, _, agree in rows:
        print(
            f"{n} patients: speed-up over scipy {scipy_per_patient * n / lib['run']:.0f}x "
            f"(target >= 100x); metaflow_ode / direct diffrax {lib['run'] / direct_run:.2f}x "
            f"(target <= 1.3x); peak memory {lib['peak'] / 2**30:.2f} GiB (target < 4 GiB at "
            f"100000); failed patients {lib['failed']}; max relative difference to direct "
            f"diffrax (first 100 patients) {agree:.1e}"
        )
    print(f"# accelerator peak memory over the whole run: {_device_peak()}")


def _device_peak() -> str:
    """The first device's peak allocated memory, where the backend reports it (GPUs do)."""
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return "not reported by this backend" if peak is None else f"{peak / 2**30:.2f} GiB"


if __name__ == "__main__":
    main()
