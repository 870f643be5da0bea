"""Colonies fidelity: run time, states and error against a numpy renewal-equation solver.

Two models, side by side in one process:

- the Iwata 2000 model (one organ, secondary dissemination in the organ), 2000 days;
- a 10-organ model (a primary and 9 metastatic organs, Gompertz laws of different rates,
  every organ seeding every other one through a dissemination matrix), 2000 days.

For each: the library at its default grid (`Colonies()`, 128 windows x 2 nodes = 256 states
per organ) and at a coarse grid, and the trapezoidal renewal solver in numpy at the step that
reaches the same accuracy (errors measured against a Richardson-extrapolated renewal solution
at a fine step). Run: `python benchmarks/colonies.py` (a few minutes on 2 cores);
`python benchmarks/colonies.py --convergence` prints the error table under grid refinement.
"""

from __future__ import annotations

import os
import platform
import sys
import time

import jax
import numpy as np

import metaflow_ode as mfo

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from renewal import _trapezoid_solve, renewal  # noqa: E402

T_END = 2000.0
TIMES = np.array([1000.0, 1500.0, 2000.0])


def gompertz(a, b, t, x0=1.0):
    return b * np.exp(np.log(x0 / b) * np.exp(-a * np.asarray(t)))


def iwata_case():
    A, B, m, alpha = 0.00286, 7.3e10, 5.3e-8, 0.663
    beta = lambda x: m * x**alpha  # noqa: E731
    model = mfo.parameter_sets.load("Iwata2000")
    args = (
        lambda t: beta(gompertz(A, B, t)),
        np.array([1.0]),
        np.array([[1.0]]),
        lambda a: beta(gompertz(A, B, a))[None, :],
        lambda a: gompertz(A, B, a)[None, :],
    )
    return "Iwata 2000 (1 organ)", model, args


def ten_organ_case():
    rng = np.random.default_rng(7)
    n = 9
    rates = rng.uniform(0.002, 0.004, n)
    capacity = 1e11
    m, alpha = 2e-8, 0.663
    beta = lambda x: m * x**alpha  # noqa: E731
    share = rng.dirichlet(np.ones(n + 1), size=n + 1)[:, :n] * 0.9  # rows: source, cols: target
    organs = [
        mfo.Organ("primary_site", mfo.Gompertz(0.003, 5e10), mfo.PowerLaw(m, alpha), primary=True)
    ]
    organs += [
        mfo.Organ(f"organ{i}", mfo.Gompertz(rates[i], capacity), mfo.PowerLaw(m, alpha))
        for i in range(n)
    ]
    names = [o.name for o in organs]
    transfers = [
        mfo.Transfer(names[s], names[1 + t], kind=mfo.Haematogenous, fraction=float(share[s, t]))
        for s in range(n + 1)
        for t in range(n)
    ]
    model = mfo.Model(organs, transfers=transfers, lethal_burden=None, name="10 organs")
    args = (
        lambda t: beta(gompertz(0.003, 5e10, t)),
        share[0],
        share[1:].T,  # P[i, j]: from organ j to organ i
        lambda a: np.array([beta(gompertz(r, capacity, a)) for r in rates]),
        lambda a: np.array([gompertz(r, capacity, a) for r in rates]),
    )
    return "10 organs", model, args


def timed(fn, repeat=3):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    print(f"# colonies fidelity, {T_END:g} days; errors at t = {', '.join(map(str, TIMES))}")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}")
    print(
        "| model | implementation | states per organ | compile (s) | run (s) "
        "| max rel. error N | max rel. error M |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, model, args in (iwata_case(), ten_organ_case()):
        exact = renewal(TIMES, *args, dt=0.125)
        organ_index = slice(1, None) if len(model.organs) > 1 else slice(0, 1)

        def error(N, M, exact=exact):
            return (
                np.max(np.abs(N / exact["N"] - 1)),
                np.max(np.abs(M / exact["M"] - 1)),
            )

        for windows, nodes in ((128, 2), (32, 2)):
            resolution = mfo.Colonies(windows, nodes)

            def run(model=model, resolution=resolution):
                s = mfo.solve(model, T_END, saveat=mfo.at(TIMES), resolution=resolution)
                return jax.block_until_ready(s)

            start = time.perf_counter()
            run()
            compile_s = time.perf_counter() - start
            seconds, s = timed(run)
            N = np.asarray(s.colonies.sum(1))[:, organ_index].T
            M = np.asarray(s.metastatic)[:, organ_index].T
            en, em = error(N, M)
            print(
                f"| {label} | metaflow_ode Colonies({windows}, {nodes}) | {windows * nodes} "
                f"| {compile_s - seconds:.1f} | {seconds:.3f} | {en:.1e} | {em:.1e} |"
            )
        for dt in (2.0, 0.5):

            def solve_numpy(dt=dt, args=args):
                n = int(round(T_END / dt))
                t, s, N, X = _trapezoid_solve(dt, n, *args)
                idx = np.rint(TIMES / dt).astype(int)
                M = np.stack(
                    [
                        dt
                        * (
                            (s[:, : k + 1] * X[:, k::-1]).sum(1)
                            - 0.5 * (s[:, 0] * X[:, k] + s[:, k] * X[:, 0])
                        )
                        for k in idx
                    ],
                    1,
                )
                return N[:, idx], M

            seconds, (N, M) = timed(solve_numpy, repeat=1)
            en, em = error(N, M)
            print(
                f"| {label} | numpy renewal, trapezoid dt = {dt:g} d | {int(T_END / dt)} steps "
                f"| - | {seconds:.3f} | {en:.1e} | {em:.1e} |"
            )


def convergence() -> None:
    """Errors of Colonies(windows, nodes) on the Iwata case against the renewal solution."""
    label, model, args = iwata_case()
    exact = renewal(TIMES, *args, dt=0.125)
    print(f"# {label}: errors at t = {', '.join(map(str, TIMES))} (window edges for all grids)")
    print("| nodes | windows | states/organ | max rel. error M | max rel. error N |")
    print("|---|---|---|---|---|")
    for nodes, windows in [(1, 32), (1, 128), (2, 16), (2, 32), (2, 64), (2, 128), (3, 16)]:
        s = mfo.solve(model, T_END, saveat=mfo.at(TIMES), resolution=mfo.Colonies(windows, nodes))
        N = np.asarray(s.colonies.sum(1))[:, 0]
        M = np.asarray(s.metastatic)[:, 0]
        print(
            f"| {nodes} | {windows} | {windows * nodes} "
            f"| {np.max(np.abs(M / exact['M'][0] - 1)):.1e} "
            f"| {np.max(np.abs(N / exact['N'][0] - 1)):.1e} |"
        )


if __name__ == "__main__":
    if "--convergence" in sys.argv:
        convergence()
    else:
        main()
