"""The colonies fidelity as a vector field: Gauss-Legendre birth-window quadrature.

See [`Colonies`][metaflow_ode.Colonies] for the scheme. Notation: O organs, K windows, q
nodes per window; `W[i, k, j]` colonies born in window `k` of organ `i` weighted by the
Lagrange basis `l_j` of node `j`; `tau[k, j]` the node's birth time; `X_i(a)` the size of a
colony of organ `i` at age `a` (one growth ODE per organ, solved once on `log X`).

Cumulative births up to a time `tau` inside window `k` (local coordinate `u` in [-1, 1]) are
`C(tau) = sum_{k' < k} sum_j W[k', j] + sum_j W[k, j] / w_j * int_{-1}^{u} l_j`, with `w_j` the
Gauss weights: the Lagrange basis at Gauss nodes is orthogonal with norms `w_j`, so `W / w`
are the coefficients of the seeding rate's interpolating polynomial in the window.
"""

from __future__ import annotations

import functools

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float

from ._model import Model
from ._resolution.colonies import Colonies
from ._vector_field import LumpedSystem, _apply, _group_laws

__all__ = ["ColoniesSystem"]

_BISECTIONS = 80


@functools.cache
def _lagrange(q: int):
    """Gauss-Legendre nodes and weights on [-1, 1]; Lagrange basis and antiderivatives."""
    xi, w = np.polynomial.legendre.leggauss(q)
    basis, integral = [], []
    for j in range(q):
        others = np.delete(xi, j)
        coeffs = np.poly(others) / np.prod(xi[j] - others) if q > 1 else np.array([1.0])
        antiderivative = np.polyint(coeffs)
        antiderivative[-1] -= np.polyval(antiderivative, -1.0)
        basis.append(coeffs)
        integral.append(antiderivative)
    return xi, w, np.array(basis), np.array(integral)


def _polyvals(coeffs: np.ndarray, u: Array) -> Array:
    """Evaluate each row of `coeffs` (highest power first) at `u`; result `u.shape + (q,)`."""
    out = jnp.zeros(u.shape + (coeffs.shape[0],))
    for c in coeffs.T:
        out = out * u[..., None] + jnp.asarray(c)
    return out


class ColoniesSystem(LumpedSystem):
    """The lumped system with each organ's metastases resolved into colonies by size."""

    windows: int = eqx.field(static=True)
    nodes: int = eqx.field(static=True)
    has_dormancy: bool = eqx.field(static=True)
    treated: bool = eqx.field(static=True)
    t0: Float[Array, ""]
    width: Float[Array, ""]
    birth_size: Float[Array, ""]
    dormancy: Float[Array, ""]
    size: dfx.Solution  # log X_i(a), dense, for every organ at once
    max_age: Float[Array, ""]
    visible_age: Float[Array, " O"]
    edge_ages: Float[Array, "O B"]
    visible_log: Float[Array, " O"]  # log cells of a visible lesion
    edge_log: Float[Array, "O B"]  # log cells of the size-bin edges

    def __init__(
        self,
        model: Model,
        resolution: Colonies,
        t0,
        t1,
        *,
        dynamic_carriers: bool,
        accounting: bool = False,
        therapies: tuple = (),
        adjoint: dfx.AbstractAdjoint = dfx.RecursiveCheckpointAdjoint(),
    ):
        super().__init__(
            model, dynamic_carriers=dynamic_carriers, accounting=accounting, therapies=therapies
        )
        # A therapy reaching metastases changes colony sizes over time: each birth node then
        # carries its own size, integrated along its characteristic (state `log_size`).
        self.treated = any(len(organs) > 0 for organs in self.therapy_organs)
        self.windows = resolution.windows
        self.nodes = resolution.nodes
        self.t0 = jnp.asarray(t0, jnp.float64)
        self.width = (jnp.asarray(t1, jnp.float64) - self.t0) / self.windows
        self.birth_size = jnp.asarray(resolution.birth_size, jnp.float64)
        self.has_dormancy = resolution.dormancy is not None
        self.dormancy = (
            jnp.asarray(0.0)
            if resolution.dormancy is None
            else jnp.asarray(resolution.dormancy, jnp.float64)
        )
        self.max_age = jnp.asarray(t1, jnp.float64) - self.t0
        self.size = _size_solution(model, self.birth_size, self.max_age, adjoint)
        visible = resolution.visible_cells(jnp.asarray(model.cell_density, jnp.float64))
        self.visible_age = self._age_at(jnp.broadcast_to(visible, (self.n_organs,)))
        edges = jnp.asarray(resolution.size_edges, jnp.float64)
        self.edge_ages = self._age_at(jnp.broadcast_to(edges, (self.n_organs, edges.shape[0])))
        self.visible_log = jnp.log(jnp.broadcast_to(visible, (self.n_organs,)))
        self.edge_log = jnp.log(jnp.broadcast_to(edges, (self.n_organs, edges.shape[0])))

    # --- the birth grid ----------------------------------------------------------------------

    @property
    def _gauss(self):
        return _lagrange(self.nodes)

    def birth_times(self) -> Float[Array, "K q"]:
        xi = jnp.asarray(self._gauss[0])
        starts = self.t0 + self.width * jnp.arange(self.windows)
        return starts[:, None] + self.width * (1.0 + xi[None, :]) / 2.0

    def jump_times(self) -> Float[Array, " J"]:
        edges = self.t0 + self.width * jnp.arange(self.windows + 1)
        nodes = self.birth_times().ravel()
        parts = [edges, nodes]
        if self.has_dormancy:  # waking colonies: the emission changes at edges + latency too
            parts += [edges + self.dormancy, nodes + self.dormancy]
        return jnp.sort(jnp.concatenate(parts))

    # --- colony sizes -------------------------------------------------------------------------

    def log_size_all(self, age: Array) -> Array:
        """`log X_i(age)` of every organ `i` at each age: shape `age.shape + (O,)`."""
        flat = jnp.clip(age.ravel(), 0.0, self.max_age)
        return jax.vmap(self.size.evaluate)(flat).reshape(age.shape + (self.n_organs,))

    def log_size(self, age: Array) -> Array:
        """`log X_i(age[i, ...])`: ages of shape `(O, ...)`, one row per organ."""
        values = self.log_size_all(age)  # (O, ..., O)
        return jnp.moveaxis(jnp.diagonal(values, axis1=0, axis2=-1), -1, 0)

    def colony_size(self, t, delay=0.0) -> Float[Array, "O K q"]:
        """Size of the colonies of every node at time `t`, grown for `t - tau - delay` days."""
        age = t - self.birth_times() - delay  # (K, q), the same for every organ
        log_x = jnp.moveaxis(self.log_size_all(age), -1, 0)
        return jnp.where(age > 0, jnp.exp(log_x), self.birth_size)

    def _window(self, t):
        """Index (unclipped float) of the birth window holding time `t`; a time within 1e-9
        window widths below an edge counts as on it, so saves on edges see closed windows."""
        return jnp.floor((t - self.t0) / self.width + 1e-9)

    def _open_window(self, t):
        """Index of the birth window open at `t` (`windows` once t1 is reached) and its start."""
        k = jnp.clip(self._window(t), 0, self.windows).astype(int)
        return k, self.t0 + k * self.width

    def node_sizes(self, t, y, delay=0.0) -> Float[Array, "O K q"]:
        """Size of the colonies of every birth node at `t`: from their age, or, under a
        therapy of metastases, the node's own size state."""
        if not self.treated:
            return self.colony_size(t, delay)
        age = t - self.birth_times() - delay
        return jnp.where(age > 0, jnp.exp(y["log_size"]), self.birth_size)

    def window_sum(self, t, y, f, delay=0.0) -> Float[Array, " O"]:
        """`sum over colonies of f(size)` per organ at `t`, sizes grown after a `delay`.

        `f` maps sizes of shape `(O, ...)` to values of the same shape.

        Closed windows by their Gauss nodes; the window still open at `t` by the midpoint
        rule: its colonies born so far (`sum_j W`), at the size of the mean age. Under a
        therapy of metastases that size is interpolated in birth time, linearly in log size,
        between the sizes of the nodes already born and the birth size at `t - delay`.
        """
        weights = y["weights"]
        k_open, start = self._open_window(t)
        closed = (jnp.arange(self.windows) < k_open)[None, :, None]
        nodes = jnp.sum(weights * f(self.node_sizes(t, y, delay)) * closed, axis=(1, 2))
        index = jnp.minimum(k_open, self.windows - 1)
        born = jnp.where(k_open < self.windows, weights[:, index, :].sum(-1), 0.0)
        age = 0.5 * (t - start) - delay
        if self.treated:
            grid = self.birth_times().ravel()
            newest = t - delay
            alive = grid < newest
            xp = jnp.where(alive, grid, newest)  # unborn nodes collapse onto (t - delay, b)
            fp = jnp.where(
                alive, y["log_size"].reshape(self.n_organs, -1), jnp.log(self.birth_size)
            )
            mean_birth = 0.5 * (t + start)
            log_mid = jax.vmap(lambda values: jnp.interp(mean_birth, xp, values))(fp)
        else:
            log_mid = self.log_size_all(jnp.maximum(age, 0.0))
        mid = jnp.where(age > 0, jnp.exp(log_mid), self.birth_size)
        return nodes + born * f(mid)

    def _age_at(self, sizes: Array) -> Array:
        """Age (days) at which a colony of each organ reaches `sizes` (inf: never by t1)."""
        target = jnp.log(sizes)
        lo = jnp.zeros_like(target)
        hi = jnp.broadcast_to(self.max_age, target.shape)

        def body(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            above = self.log_size(mid) >= target
            return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

        lo, hi = jax.lax.fori_loop(0, _BISECTIONS, body, (lo, hi))
        hi = jax.lax.stop_gradient(hi)
        reached = self.log_size(hi) >= target
        at_birth = target <= jnp.log(self.birth_size)
        # One Newton step with the true slope makes the age differentiable (implicit function
        # theorem): bisection alone carries no derivative with respect to the parameters.
        value, slope = jax.jvp(self.log_size, (hi,), (jnp.ones_like(hi),))
        safe = jnp.where(reached & ~at_birth, jax.lax.stop_gradient(slope), 1.0)
        hi = hi - (
            value - jax.lax.stop_gradient(value) - (target - jax.lax.stop_gradient(target))
        ) / jnp.maximum(safe, 1e-300)
        return jnp.where(at_birth, 0.0, jnp.where(reached, hi, jnp.inf))

    # --- the metastatic part of the vector field ----------------------------------------------

    def metastatic_burden(self, t, y) -> Float[Array, " O"]:
        return self.window_sum(t, y, lambda x: x, self.dormancy)

    def metastatic_emission(self, t, y) -> Float[Array, " O"]:
        weights = y["weights"]
        if not self.has_dormancy:
            return self.window_sum(t, y, lambda x: _apply(self.emission, x))
        # Dormant colonies do not shed. Colonies born before `wake = t - latency` are awake:
        # windows closed before it by their nodes; in the window holding `wake`, the colonies
        # born up to it (cumulative births) at the mean size of a just-awake colony.
        wake = t - self.dormancy
        k = jnp.floor((wake - self.t0) / self.width)  # at edges + latency, jump times
        whole = (jnp.arange(self.windows) < k)[None, :, None]
        shed = _apply(self.emission, self.node_sizes(t, y, self.dormancy))
        nodes = jnp.sum(weights * shed * whole, axis=(1, 2))
        start = self.t0 + jnp.clip(k, 0, self.windows - 1) * self.width
        in_range = (k >= 0) & (k < self.windows)
        tau = jnp.stack([jnp.full(self.n_organs, start), jnp.full(self.n_organs, wake)], 1)
        born = self.cumulative_births(weights, tau, t)
        awake = jnp.where(in_range, born[:, 1] - born[:, 0], 0.0)
        age = 0.5 * jnp.maximum(wake - start, 0.0)
        size = jnp.exp(self.log_size_all(age))
        return nodes + awake * _apply(self.emission, size)

    def metastatic_derivatives(self, t, y, emissions, colonising) -> dict:
        del emissions
        births = colonising.sum(axis=0)  # colonies founded per day, per organ
        # exactly floor: births switch window at the edge itself, a jump time of the solver
        k = jnp.clip(jnp.floor((t - self.t0) / self.width), 0, self.windows - 1).astype(int)
        u = 2.0 * (t - self.t0 - k * self.width) / self.width - 1.0
        basis = _polyvals(self._gauss[2], jnp.asarray(u))  # (q,)
        onehot = (jnp.arange(self.windows) == k).astype(jnp.float64)
        dw = births[:, None, None] * onehot[None, :, None] * basis[None, None, :]
        if not self.treated:
            return {"weights": dw}
        # each born node's colony follows dX/dt = keep g(X) - beta(X) - kill X
        kill, keep, _ = self.therapy_effects(t)
        x = jnp.exp(y["log_size"])
        growth = _apply(self.growth, x) * keep[:, None, None]
        shed = _apply(self.emission, x)
        rate = (growth - shed) / x - kill[:, None, None]
        age = t - self.birth_times() - self.dormancy
        return {"weights": dw, "log_size": jnp.where(age[None] > 0, rate, 0.0)}

    def metastatic_initial_state(self, model: Model) -> dict:
        shape = (self.n_organs, self.windows, self.nodes)
        if not self.treated:
            return {"weights": jnp.zeros(shape)}
        return {"weights": jnp.zeros(shape), "log_size": jnp.full(shape, jnp.log(self.birth_size))}

    # --- interventions ------------------------------------------------------------------------

    def scale_tumour(self, t, y, organ: int, factor, primary: bool) -> dict:
        """Keep each colony of `organ` with probability `factor` (and scale its primary)."""
        del t
        y = dict(y)
        y["weights"] = y["weights"].at[organ].multiply(factor)
        if primary and organ == self.topo.primary:
            y["primary"] = y["primary"] * factor
        return y

    def scale_visible(self, t, y, organ: int, factor) -> dict:
        """Keep each visible colony of `organ` with probability `factor`: the colonies of the
        birth nodes whose colony has reached the visible size at `t`."""
        age = t - self.birth_times() - self.dormancy  # (K, q)
        if self.treated:  # sizes are node states, not a function of age
            visible = (age > 0) & (y["log_size"][organ] >= self.visible_log[organ])
        else:
            visible = age >= self.visible_age[organ]
        y = dict(y)
        weights = y["weights"][organ]
        y["weights"] = y["weights"].at[organ].set(jnp.where(visible, factor * weights, weights))
        return y

    def deposit(self, t, y, cells) -> dict:
        """`cells[origin, organ]` colonies founded at once at `t`: a point mass of births.

        The mass goes to the two birth nodes around `t` (neighbours on the whole birth grid,
        across a window edge if need be), split linearly in birth time: weights stay
        non-negative, and the count and mean birth time are kept. (The Lagrange values
        `l_j(u_t)` of `dW/dt = s l_j` would be the projection within the window, but they are
        negative for some nodes and then give negative lesion counts.)
        """
        y = dict(y)
        y["colonies"] = y["colonies"] + cells
        grid = self.birth_times().ravel()  # increasing
        n = grid.shape[0]
        if n == 1:
            share = jnp.ones(1)
        else:
            i = jnp.clip(jnp.searchsorted(grid, t, side="right"), 1, n - 1)
            lam = jnp.clip((t - grid[i - 1]) / (grid[i] - grid[i - 1]), 0.0, 1.0)
            share = jnp.zeros(n).at[i - 1].add(1.0 - lam).at[i].add(lam)
        births = cells.sum(axis=0)
        share = share.reshape(self.windows, self.nodes)
        y["weights"] = y["weights"] + births[:, None, None] * share[None]
        return y

    # --- lesion-level outputs -------------------------------------------------------------------

    def cumulative_births(self, weights: Array, tau: Array, t) -> Array:
        """Colonies born up to time `tau <= t` (shape `(O, ...)`), given the weights at `t`.

        In completed windows from the window polynomials; in the window still open at `t`
        (whose weights hold only the births so far) linearly between its start and `t`.
        """
        _, w, _, integral = self._gauss
        totals = weights.sum(axis=-1)  # (O, K)
        prefix = jnp.concatenate([jnp.zeros((self.n_organs, 1)), jnp.cumsum(totals, -1)], -1)
        tau = jnp.minimum(tau, t)
        rel = (tau - self.t0) / self.width
        k = jnp.clip(jnp.floor(rel), 0, self.windows - 1).astype(int)
        u = jnp.clip(2.0 * (rel - k) - 1.0, -1.0, 1.0)
        partial_basis = _polyvals(integral, u)  # (..., q)
        organ = jnp.arange(self.n_organs).reshape((-1,) + (1,) * (tau.ndim - 1))
        coeff = weights[organ, k] / jnp.asarray(w)  # (O, ..., q)
        closed = prefix[organ, k] + jnp.sum(coeff * partial_basis, axis=-1)
        start = self.t0 + k * self.width
        open_window = self._window(t) == k
        share = (tau - start) / jnp.maximum(t - start, jnp.finfo(jnp.float64).tiny)
        opened = prefix[organ, k] + jnp.clip(share, 0.0, 1.0) * totals[organ, k]
        value = jnp.where(open_window, opened, closed)
        return jnp.where(tau <= self.t0, 0.0, value)

    def lesion_outputs(self, t, y):
        """Visible lesions (O), largest lesion (O) and colonies per size bin (O, B-1) at `t`."""
        weights = y["weights"]
        delay = self.dormancy

        def count_older(age):
            # colonies whose size has reached the size of `age`: born before t - age - delay
            # colonies at birth size (age 0) include the dormant ones: all born up to t
            tau = jnp.where(age == 0, t, t - age - delay)
            return jnp.where(jnp.isfinite(age), self.cumulative_births(weights, tau, t), 0.0)

        if self.treated:
            # sizes are node states: colonies at or above a size are those born before the
            # birth time at which the node sizes cross it
            def count_above(log_size):
                at_birth = log_size <= jnp.log(self.birth_size)
                tau = jnp.where(at_birth, t, self._birth_time_of_size(t, y, log_size))
                return self.cumulative_births(weights, tau, t)

            visible = count_above(self.visible_log[:, None])[:, 0]
            above_edges = count_above(self.edge_log)
        else:
            visible = count_older(self.visible_age[:, None])[:, 0]
            above_edges = count_older(self.edge_ages)
        bins = above_edges[:, :-1] - above_edges[:, 1:]

        return visible, self.largest_lesion(t, y), bins

    def largest_lesion(self, t, y) -> Float[Array, " O"]:
        """The colony born when the expected count first reached 1 (0 while below 1)."""
        weights = y["weights"]
        lo = jnp.full((self.n_organs, 1), self.t0)
        hi = jnp.full((self.n_organs, 1), t)

        def body(_, bounds):
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            above = self.cumulative_births(weights, mid, t) >= 1.0
            return jnp.where(above, lo, mid), jnp.where(above, mid, hi)

        lo, hi = jax.lax.fori_loop(0, _BISECTIONS, body, (lo, hi))
        # Newton step with the true slope (the seeding rate at the birth time): the birth time
        # then moves with the parameters and not with t, as it should (implicit differentiation;
        # the event root finder needs this derivative).
        hi = jax.lax.stop_gradient(hi)
        count, rate = jax.jvp(
            lambda tau: self.cumulative_births(weights, tau, t), (hi,), (jnp.ones_like(hi),)
        )
        rate = jnp.maximum(jax.lax.stop_gradient(rate), 1e-300)
        hi = hi - (count - jax.lax.stop_gradient(count)) / rate
        age = (t - hi - self.dormancy)[:, 0]
        if self.treated:
            grid, log_x = self._node_log_sizes(t, y)
            log_size = jax.vmap(lambda tau, lx: jnp.interp(tau, grid, lx))(hi[:, 0], log_x)
        else:
            log_size = self.log_size(age)
        size = jnp.where(age > 0, jnp.exp(log_size), self.birth_size)
        return jnp.where(weights.sum(axis=(1, 2)) >= 1.0, size, 0.0)

    def _node_log_sizes(self, t, y):
        """The birth grid (n,) and the log size at `t` of each node's colonies (O, n)."""
        grid = self.birth_times().ravel()
        log_x = jnp.log(self.node_sizes(t, y, self.dormancy)).reshape(self.n_organs, -1)
        return grid, log_x

    def _birth_time_of_size(self, t, y, log_target) -> Array:
        """Under therapy: the latest birth time whose colonies have reached `exp(log_target)`
        cells at `t` (shape `(O, M)`), linear in log size between birth nodes (colony sizes
        fall with birth time: the growth flow keeps their order); `t0` if no node has."""
        grid, log_x = self._node_log_sizes(t, y)
        n = grid.shape[0]

        def one(lx, target):
            reached = jnp.sum(lx >= target)
            i = jnp.clip(reached, 1, n - 1)
            x0, x1 = lx[i - 1], lx[i]
            share = jnp.clip((x0 - target) / jnp.maximum(x0 - x1, 1e-300), 0.0, 1.0)
            tau = grid[i - 1] + share * (grid[i] - grid[i - 1])
            return jnp.where(reached == 0, self.t0, jnp.where(reached == n, grid[-1], tau))

        per_target = jax.vmap(one, in_axes=(None, 0))
        return jax.vmap(per_target)(log_x, log_target)


def _size_solution(model: Model, birth_size, max_age, adjoint) -> dfx.Solution:
    """Solve `d log X_i / da = v_i(X_i) / X_i`, `X_i(0) = birth_size`, for every organ."""
    growth = _group_laws([o.metastasis_growth_law for o in model.organs])
    emission = _group_laws([o.metastasis_emission_law for o in model.organs])

    def field(a, log_x, args):
        del a, args
        x = jnp.exp(log_x)
        return (_apply(growth, x) - _apply(emission, x)) / x

    n = len(model.organs)
    return dfx.diffeqsolve(
        dfx.ODETerm(field),
        # Newton rather than the default chord iteration: on exactly exponential growth the
        # chord increments are rounding noise, which its divergence test rejects forever.
        dfx.Kvaerno5(root_finder=optx.Newton(rtol=1e-8, atol=1e-8)),
        0.0,
        max_age,
        None,
        jnp.full((n,), jnp.log(birth_size)),
        stepsize_controller=dfx.PIDController(rtol=1e-11, atol=1e-11, pcoeff=0.4, icoeff=0.3),
        saveat=dfx.SaveAt(dense=True),
        max_steps=16_384,
        throw=False,
        adjoint=adjoint,
    )
