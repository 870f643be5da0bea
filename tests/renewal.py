"""An independent reference for the colonies fidelity: the renewal (Volterra) equations in numpy.

For organs `i` with colonies born at rate `s_i` and a colony of organ `j` emitting
`K_j(a) = beta_j(X_j(a))` at age `a`:

    s_i(t) = p_i e_p(t) + sum_j P_ij int_0^t s_j(tau) K_j(t - tau) dtau
    N_i(t) = int_0^t s_i,   M_i(t) = int_0^t s_i(tau) X_i(t - tau) dtau

(`e_p`: emission of the primary, `p`: its colonising shares, `P`: colonising shares between
organs). Trapezoidal rule on a uniform grid (implicit in the newest term), run at two steps
and Richardson-extrapolated. Written for the tests only; nothing here comes from the library.
"""

from __future__ import annotations

import numpy as np


def _trapezoid_solve(dt, n, primary_emission, p, P, kernel, size):
    """`primary_emission(t)`, `kernel(a) -> (O, len(a))`, `size(a) -> (O, len(a))`."""
    t = dt * np.arange(n + 1)
    e = primary_emission(t)
    K = kernel(t)  # (O, n + 1) at ages t
    X = size(t)
    n_organs = len(p)
    s = np.zeros((n_organs, n + 1))
    implicit = np.eye(n_organs) - 0.5 * dt * P * K[:, 0][None, :]
    s[:, 0] = p * e[0]
    for m in range(1, n + 1):
        # int_0^t s_j(tau) K_j(t - tau): weights 1/2 at both ends
        history = s[:, :m] * K[:, m:0:-1]
        conv = dt * (history.sum(axis=1) - 0.5 * history[:, 0])
        rhs = p * e[m] + P @ conv
        s[:, m] = np.linalg.solve(implicit, rhs)
    N = np.concatenate(
        [np.zeros((n_organs, 1)), np.cumsum(0.5 * dt * (s[:, 1:] + s[:, :-1]), 1)], 1
    )
    return t, s, N, X


def renewal(t_out, primary_emission, p, P, kernel, size, *, dt=0.25, births_by_primary=False):
    """Counts `N` and burdens `M` (shape `(O, len(t_out))`), Richardson-extrapolated.

    `t_out` must lie on the coarse grid (multiples of `2 * dt`... of `dt` for both grids).
    With `births_by_primary`, also the colonies founded by the primary's emission alone.
    """
    t_out = np.asarray(t_out, float)
    out = []
    for h in (dt, dt / 2):
        n = int(round(t_out.max() / h))
        t, s, N, X = _trapezoid_solve(h, n, primary_emission, p, P, kernel, size)
        idx = np.rint(t_out / h).astype(int)
        assert np.allclose(t[idx], t_out)
        M = np.zeros((len(p), len(idx)))
        for c, m in enumerate(idx):
            integrand = s[:, : m + 1] * X[:, m::-1]
            M[:, c] = h * (integrand.sum(1) - 0.5 * (integrand[:, 0] + integrand[:, -1]))
        result = {"N": N[:, idx], "M": M, "s": s, "t": t}
        if births_by_primary:
            e = primary_emission(t)
            from_primary = np.concatenate([[0.0], np.cumsum(0.5 * h * (e[1:] + e[:-1]))])
            result["N_primary"] = np.outer(p, from_primary[idx])
        out.append(result)
    coarse, fine = out
    extrapolated = {k: (4 * fine[k] - coarse[k]) / 3 for k in ("N", "M")}
    if births_by_primary:
        extrapolated["N_primary"] = (4 * fine["N_primary"] - coarse["N_primary"]) / 3
    extrapolated["fine"] = fine
    return extrapolated


def cumulative_at(fine, organ, tau):
    """Colonies of `organ` born up to `tau` (linear in the fine grid's cumulative counts)."""
    s, t = fine["s"][organ], fine["t"]
    h = t[1] - t[0]
    N = np.concatenate([[0.0], np.cumsum(0.5 * h * (s[1:] + s[:-1]))])
    return np.interp(tau, t, N)
