"""Benchmark: a 12-organ lumped model, 10 years, monthly output, for 1 and N parameter sets.

Compares, in one process and with the same equations, solver family and tolerances:

- `metaflow_ode`: `mfo.solve` under `jax.vmap` (compiled once with `equinox.filter_jit`);
- direct diffrax: the same vector field written by hand against diffrax, vmapped;
- scipy: `scipy.integrate.solve_ivp` (RK45, same tolerances) in a Python loop over patients,
  timed on a subset and scaled up linearly.

Run: `python benchmarks/lumped.py` (add `--patients 1000` for a quicker run). Prints a table
of times and ratios; record it in docs/performance.md with the command and the machine.
"""

from __future__ import annotations

import argparse
import platform
import time

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate

import metaflow_ode as mfo

ORGANS = [
    # name, Gompertz rate (/day), capacity (cells), share of arterial delivery
    ("breast", 0.006, 5e11, 0.00),
    ("lung", 0.005, 1.0e12, 0.30),
    ("liver", 0.005, 1.5e12, 0.20),
    ("bone", 0.004, 1.0e12, 0.15),
    ("brain", 0.005, 1.0e12, 0.08),
    ("adrenal", 0.004, 1.0e10, 0.05),
    ("kidney", 0.004, 3.0e11, 0.05),
    ("spleen", 0.004, 2.0e11, 0.03),
    ("pancreas", 0.004, 1.0e11, 0.03),
    ("skin", 0.003, 1.0e12, 0.04),
    ("muscle", 0.003, 1.0e12, 0.04),
    ("nodes", 0.006, 5.0e10, 0.03),
]
EMISSION = (5e-8, 0.663)
T1, DT = 3650.0, 30.0
RTOL, ATOL = 1e-6, 1e-6


def build_model() -> mfo.Model:
    organs = [
        mfo.Organ(name, mfo.Gompertz(rate, cap), mfo.PowerLaw(*EMISSION), primary=(i == 0))
        for i, (name, rate, cap, _) in enumerate(ORGANS)
    ]
    carriers = [
        mfo.Carrier("venous", mfo.Haematogenous, half_life=0.05),
        mfo.Carrier("arterial", mfo.Haematogenous, half_life=0.05),
    ]
    transfers = [mfo.Transfer(name, "venous", kind=mfo.Haematogenous) for name, *_ in ORGANS]
    transfers.append(
        mfo.Transfer("venous", "lung", kind=mfo.Haematogenous, rate=60.0, efficiency=0.01)
    )
    transfers.append(mfo.Transfer("venous", "arterial", kind=mfo.Haematogenous, rate=40.0))
    for name, _, _, share in ORGANS[2:]:
        transfers.append(
            mfo.Transfer(
                "arterial", name, kind=mfo.Haematogenous, rate=100.0 * share, efficiency=0.01
            )
        )
    return mfo.Model(organs, carriers, transfers, lethal_burden=None)


def patients(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "breast.growth.rate": 0.006 * rng.lognormal(0.0, 0.2, n),
        "breast.emission.coefficient": 5e-8 * rng.lognormal(0.0, 0.5, n),
    }


# ---- the same equations, by hand ------------------------------------------------------------


def hand_arrays(model: mfo.Model):
    """Gompertz parameters and the organ-to-organ colonisation matrix, from the model."""
    rate = np.array([float(o.growth.rate) for o in model.organs])
    cap = np.array([float(o.growth.capacity) for o in model.organs])
    P = mfo.dissemination_matrix(model, colonising=True).sum("route")
    return rate, cap, P.values.T  # [target, source]


def hand_field(t, y, args):
    rate, cap, P, m, alpha = args
    xp, M = y[0], y[1:13]

    def beta(x):
        safe = jnp.where(x >= 1, x, 1.0)
        return m * jnp.where(x >= 1, safe**alpha, jnp.maximum(x, 0.0))

    def gompertz(r, k, x):
        # Continued linearly below one cell, as in metaflow_ode's growth laws.
        safe = jnp.where(x >= 1, x, 1.0)
        return jnp.where(x >= 1, r * safe * jnp.log(k / safe), jnp.maximum(x, 0.0) * r * jnp.log(k))

    e_primary = jnp.zeros(12).at[0].set(beta(xp))
    e_secondary = beta(M)
    col_p, col_s = P @ e_primary, P @ e_secondary
    dxp = gompertz(rate[0], cap[0], xp) - e_primary[0]
    dM = gompertz(rate, cap, M) - e_secondary + col_p + col_s
    return jnp.concatenate([dxp[None], dM, col_p, col_s])


def batched(one, batch_size):
    """Map `one` over patients in vmapped chunks of `batch_size` (bounded memory, cache-sized)."""
    return eqx.filter_jit(
        lambda r0, m: jax.lax.map(lambda a: one(*a), (r0, m), batch_size=batch_size)
    )


def make_direct(model, batch_size):
    rate, cap, P = hand_arrays(model)
    ts = jnp.arange(0.0, T1 + 1e-9, DT)
    ts = jnp.append(ts, T1) if ts[-1] < T1 else ts

    def one(r0, m):
        r = jnp.asarray(rate).at[0].set(r0)
        y0 = jnp.zeros(37).at[0].set(1.0)
        sol = dfx.diffeqsolve(
            dfx.ODETerm(hand_field),
            dfx.Tsit5(),
            0.0,
            T1,
            None,
            y0,
            (r, jnp.asarray(cap), jnp.asarray(P), m, EMISSION[1]),
            saveat=dfx.SaveAt(ts=ts),
            stepsize_controller=dfx.PIDController(rtol=RTOL, atol=ATOL),
            max_steps=100_000,
        )
        return sol.ys

    return batched(one, batch_size)


def make_library(model, batch_size):
    resolution = mfo.Lumped(eliminate_carriers=True)

    def one(r0, m):
        changed = model.with_parameters(
            {"breast.growth.rate": r0, "breast.emission.coefficient": m}
        )
        sol = mfo.solve(
            changed,
            T1,
            saveat=mfo.every(DT),
            resolution=resolution,
            solver=dfx.Tsit5(),
            rtol=RTOL,
            atol=ATOL,
        )
        return sol.burden, sol.colonies, sol.result

    return batched(one, batch_size)


def scipy_loop(model, r0s, ms):
    rate, cap, P = hand_arrays(model)
    ts = np.arange(0.0, T1 + 1e-9, DT)
    alpha = EMISSION[1]

    def f(t, y, r, m):
        xp, M = y[0], y[1:13]
        beta = lambda x: m * np.where(x >= 1, np.maximum(x, 1.0) ** alpha, np.maximum(x, 0.0))  # noqa: E731
        gomp = lambda rr, k, x: np.where(
            x > 0, rr * np.maximum(x, 1e-100) * np.log(k / np.maximum(x, 1e-100)), 0.0
        )  # noqa: E731
        e_p = np.zeros(12)
        e_p[0] = beta(xp)
        e_s = beta(M)
        col_p, col_s = P @ e_p, P @ e_s
        rr = rate.copy()
        rr[0] = r
        return np.concatenate(
            [[gomp(r, cap[0], xp) - e_p[0]], gomp(rr, cap, M) - e_s + col_p + col_s, col_p, col_s]
        )

    out = []
    for r, m in zip(r0s, ms, strict=True):
        y0 = np.zeros(37)
        y0[0] = 1.0
        sol = scipy.integrate.solve_ivp(
            f, (0.0, T1), y0, t_eval=ts, rtol=RTOL, atol=ATOL, args=(r, m)
        )
        out.append(sol.y)
    return out


def timed(fn, *args, repeat=1):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, time.perf_counter() - start)
    return best, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--scipy-patients", type=int, default=200)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=2000,
        help="patients per vmapped chunk (jax.lax.map batch_size)",
    )
    args = parser.parse_args()
    model = build_model()
    params = patients(args.patients)
    r0s, ms = (
        jnp.asarray(params[k]) for k in ("breast.growth.rate", "breast.emission.coefficient")
    )

    batch = min(args.batch_size, args.patients)
    library, direct = make_library(model, batch), make_direct(model, batch)
    rows = []
    for name, fn in (("metaflow_ode", library), ("direct diffrax", direct)):
        compile_s, _ = timed(fn, r0s[:1], ms[:1])
        one_s, _ = timed(fn, r0s[:1], ms[:1], repeat=3)
        compile_n, _ = timed(fn, r0s, ms)  # new batch shape: compiles once more
        many_s, out = timed(fn, r0s, ms, repeat=2)
        rows.append((name, compile_s, one_s, compile_n - many_s, many_s))
        if name == "metaflow_ode":
            lib_out = out
        else:
            direct_out = out

    # Same equations: the two agree (burden of every organ at every month).
    burden_direct = np.array(direct_out[:, :, 1:13])
    burden_direct[:, :, 0] += np.asarray(direct_out[:, :, 0])
    max_rel = float(
        np.max(np.abs(np.asarray(lib_out[0]) - burden_direct) / (np.abs(burden_direct) + 1.0))
    )
    assert int(np.max(np.asarray(lib_out[2]))) == 0, "a library solve failed"

    n_sp = min(args.scipy_patients, args.patients)
    start = time.perf_counter()
    scipy_loop(model, np.asarray(r0s[:n_sp]), np.asarray(ms[:n_sp]))
    scipy_s = (time.perf_counter() - start) * args.patients / n_sp

    lib, dfx_row = rows
    print(
        f"# 12-organ lumped model, {T1:.0f} d, output every {DT:.0f} d, Tsit5, rtol=atol={RTOL:g}"
    )
    print(
        f"# machine: {platform.processor() or platform.machine()}, {jax.devices()[0].platform}, "
        f"jax {jax.__version__}, diffrax {dfx.__version__}"
    )
    print(f"| implementation | compile (s) | 1 patient (s) | {args.patients} patients (s) |")
    print("|---|---|---|---|")
    for name, compile_s, one_s, _, many_s in rows:
        print(f"| {name} | {compile_s:.2f} | {one_s:.4f} | {many_s:.2f} |")
    print(
        f"| scipy solve_ivp loop (timed on {n_sp}, scaled) | - | {scipy_s / args.patients:.4f} | "
        f"{scipy_s:.1f} |"
    )
    print()
    print(
        f"speed-up over scipy at {args.patients} patients: {scipy_s / lib[4]:.1f}x (target >= 50x)"
    )
    print(
        f"metaflow_ode / direct diffrax at {args.patients} patients: {lib[4] / dfx_row[4]:.2f}x "
        "(target <= 1.3x)"
    )
    print(f"max relative difference metaflow_ode vs direct diffrax: {max_rel:.1e}")


if __name__ == "__main__":
    main()
