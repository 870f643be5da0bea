"""Benchmark: least-squares fitting with `mfo.fit` against `scipy.optimize.least_squares`.

Two synthetic problems (data simulated by the library from the models' own values, log-normal
error 10 %, seeded), each fitted from the same wrong start:

- `neuroblastoma`: Benzekry et al. 2021 (REFERENCES V2), lumped; the primary's volume on 5 scans
  and the metastatic volume on 2; free: the primary's growth rate and emission coefficient.
- `breast`: the whole-body breast preset, lumped with eliminated carriers (20 organs), rtol =
  atol = 1e-6; the primary's volume at 3 times, liver and lung volumes at 3 times each;
  free: `breast.growth.rate`, `breast.emission.coefficient`, `liver.growth.rate`.

Side by side in one process, for each problem (all in log coordinates, the same residuals
`(log pred - log value) / sigma`, the same start):

- `mfo.fit`: Levenberg-Marquardt (optimistix) with Jacobians by forward-mode differentiation
  through the diffrax solve; "cold" includes compilation, "warm" is a second fit from the same
  start with new data of the same layout (no recompilation); also 8 starts in one vmap;
- `scipy TRF + FD, library residuals`: `scipy.optimize.least_squares` (default TRF) with a
  2-point finite-difference Jacobian on the library's compiled residual function: the same
  simulator, only the optimiser and the Jacobian differ;
- `scipy TRF + FD, solve_ivp`: the classic pure-scipy workflow, residuals from
  `scipy.integrate.solve_ivp` (RK45) on the same equations written in numpy (hand-written for
  the neuroblastoma model; `wholebody_baselines.numpy_rhs` for the breast preset).

Every row reports the objective (the library's negative log-likelihood evaluated at that
row's estimate, so all rows are scored by the same function), the wall time, and the number
of residual evaluations (scipy's `nfev`; for `mfo.fit`, optimiser steps).

Run: `python benchmarks/fit.py` (about 10 minutes on 2 cores); `--problems neuroblastoma` for
a quick run. Record the table in docs/performance.md with the machine.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import scipy.integrate
import scipy.optimize

import metaflow_ode as mfo

sys.path.insert(0, str(Path(__file__).parent))
import wholebody_baselines as wb  # noqa: E402

SIGMA = 0.1


def _data(rows, seed):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rows, columns=["time", "observable", "value"])
    frame["value"] = frame["value"] * np.exp(SIGMA * rng.standard_normal(len(frame)))
    return frame


# --- the problems -------------------------------------------------------------------------


def neuroblastoma(seed):
    model = mfo.parameter_sets.load("Benzekry2021")
    scans, later = [50.0, 57.5, 65.0, 72.5, 80.0], [72.5, 80.0]
    ds = mfo.simulate(model, 80.0, saveat=mfo.at(scans), staging=None)
    rows = [(t, "primary.volume", float(ds.primary_burden.sel(time=t)) / 1e9) for t in scans]
    rows += [(t, "distant.volume", float(ds.volume.sel(time=t, organ="distant"))) for t in later]
    free = ["adrenal.growth.rate", "adrenal.emission.coefficient"]
    start = {free[0]: 0.3, free[1]: 1e-2}
    r_met = float(model.organs[1].growth.rate)

    def pure_scipy(theta, data):
        g, mu = theta

        def rhs(t, y):
            return [(g - mu) * y[0], r_met * y[1] + mu * y[0]]

        ts = np.unique(data["time"])
        sol = scipy.integrate.solve_ivp(
            rhs, (0.0, ts[-1]), [1.0, 0.0], t_eval=ts, rtol=1e-8, atol=1e-8, method="RK45"
        )
        at = {t: i for i, t in enumerate(ts)}
        idx = [at[t] for t in data["time"]]
        column = np.where(data["observable"] == "primary.volume", 0, 1)
        return sol.y[column, idx] / 1e9

    return dict(model=model, data=_data(rows, seed), free=free, start=start,
                pure_scipy=pure_scipy, options={})  # fmt: skip


def breast(seed):
    model = mfo.anatomy.reference_model(primary="breast")
    options = dict(resolution=mfo.Lumped(eliminate_carriers=True), rtol=1e-6, atol=1e-6)
    primary_t, organ_t = [600.0, 750.0, 900.0], [1200.0, 1350.0, 1500.0]
    ds = mfo.simulate(model, 1500.0, saveat=mfo.at(primary_t + organ_t), staging=None, **options)
    rows = [(t, "primary.volume", float(ds.primary_burden.sel(time=t)) / 1e9) for t in primary_t]
    for organ in ("liver", "lung"):
        rows += [(t, f"{organ}.volume", float(ds.volume.sel(time=t, organ=organ))) for t in organ_t]
    free = ["breast.growth.rate", "breast.emission.coefficient", "liver.growth.rate"]
    values = model.parameter_values()
    start = {p: float(values[p]) * f for p, f in zip(free, (1.15, 3.0, 0.85), strict=True)}
    base = wb.extract(model)
    density = float(model.cell_density)
    names = list(model.organ_names)

    def pure_scipy(theta, data):
        p = wb.with_values(base, model, dict(zip(free, theta, strict=True)))
        ts = np.concatenate([[0.0], np.unique(data["time"])])
        p = {k: np.asarray(v, dtype=float) for k, v in p.items()}
        sol = scipy.integrate.solve_ivp(
            wb.numpy_rhs, (0.0, ts[-1]), wb.initial_state(p, np), method="RK45", t_eval=ts,
            rtol=1e-6, atol=1e-6, args=(p,),
        )  # fmt: skip
        ys = sol.y.T[1:]
        primary, burden = ys[:, 0], wb.burden(ys, p, np)  # burden (T, O), primary included
        at = {t: i for i, t in enumerate(ts[1:])}
        out = []
        for t, obs in zip(data["time"], data["observable"], strict=True):
            entity = obs.split(".")[0]
            if entity == "primary":
                out.append(primary[at[t]] / density)
            else:
                out.append(burden[at[t], names.index(entity)] / density)
        return np.asarray(out)

    return dict(model=model, data=_data(rows, seed), free=free, start=start,
                pure_scipy=pure_scipy, options=options)  # fmt: skip


PROBLEMS = {"neuroblastoma": neuroblastoma, "breast": breast}


# --- the methods --------------------------------------------------------------------------


def run(name, seed=0):
    spec = PROBLEMS[name](seed)
    model, data, free, options = spec["model"], spec["data"], spec["free"], spec["options"]
    start_model = model.with_parameters(spec["start"])
    rows = []

    t = time.perf_counter()
    cold = mfo.fit(start_model, data, free, **options)
    cold_time = time.perf_counter() - t
    warm_data = PROBLEMS[name](seed + 1)["data"]  # same layout, new noise
    t = time.perf_counter()
    mfo.fit(start_model, warm_data, free, **options)
    warm_time = time.perf_counter() - t
    t = time.perf_counter()
    mfo.fit(start_model, warm_data, free, starts=8, seed=3, **options)
    multi_cold = time.perf_counter() - t
    t = time.perf_counter()
    multi = mfo.fit(start_model, data, free, starts=8, seed=3, **options)
    multi_time = time.perf_counter() - t

    problem = cold._problem
    nll = eqx.filter_jit(lambda p, u: p.nll(u))
    residuals = eqx.filter_jit(lambda p, u: p.residuals(u))
    u0 = np.log([spec["start"][p] for p in free])

    def score(theta):
        return float(nll(problem, jnp.log(jnp.asarray(theta))))

    steps = int(cold.starts.loc[0, "steps"])
    rows.append(("mfo.fit LM, forward-mode Jacobian (cold: + compile)", cold_time, steps,
                 cold.objective))  # fmt: skip
    rows.append(("mfo.fit LM, forward-mode Jacobian (warm)", warm_time, steps, cold.objective))
    rows.append(("mfo.fit LM, 8 starts in one vmap (warm)", multi_time,
                 int(multi.starts["steps"].sum()), multi.objective))  # fmt: skip

    residuals(problem, jnp.asarray(u0)).block_until_ready()  # compile outside the timing
    t = time.perf_counter()
    sp = scipy.optimize.least_squares(
        lambda u: np.asarray(residuals(problem, jnp.asarray(u))), u0, jac="2-point"
    )
    rows.append(("scipy TRF + FD Jacobian, library residuals", time.perf_counter() - t,
                 sp.nfev, score(np.exp(sp.x))))  # fmt: skip

    values, obs_sigma = data["value"].to_numpy(), SIGMA

    def pure_residuals(u):
        return (np.log(spec["pure_scipy"](np.exp(u), data)) - np.log(values)) / obs_sigma

    t = time.perf_counter()
    ps = scipy.optimize.least_squares(pure_residuals, u0, jac="2-point")
    rows.append(("scipy TRF + FD Jacobian, solve_ivp RK45 residuals", time.perf_counter() - t,
                 ps.nfev, score(np.exp(ps.x))))  # fmt: skip
    estimates = {
        "mfo.fit": [cold.values[p] for p in free],
        "scipy (library residuals)": np.exp(sp.x).tolist(),
        "scipy (solve_ivp)": np.exp(ps.x).tolist(),
    }
    return rows, estimates, multi_cold


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {jax.devices()}")
    print(f"jax {jax.__version__}, metaflow_ode {mfo.__version__}\n")
    for name in args.problems:
        rows, estimates, multi_cold = run(name)
        print(f"## {name}\n")
        print("| method | wall time (s) | evaluations / steps | objective (-log L) |")
        print("|---|---|---|---|")
        for label, seconds, count, objective in rows:
            print(f"| {label} | {seconds:.2f} | {count} | {objective:.6f} |")
        warm = rows[1][1]
        for label, seconds, _, _ in rows[3:]:
            print(f"\n{label}: {seconds / warm:.1f}x the warm `mfo.fit` time")
        print(f"(8-start fit compile + run: {multi_cold:.1f} s)")
        print("\nestimates:")
        for label, values in estimates.items():
            print(f"  {label}: " + ", ".join(f"{v:.6g}" for v in values))
        print()


if __name__ == "__main__":
    main()
