"""`solve` (pure JAX, jit/vmap/grad) and `simulate` (the same, returned as an xarray Dataset).

Threshold crossings (organ failure, warning, whole-body lethal burden) are located by a sequence
of solve segments: each segment ends at the next crossing, found by root finding on the
solver's dense interpolant (`diffrax.Event` with a Newton root finder), the crossed criterion is
recorded and switched off, and integration restarts from there. A model with N criteria needs
at most N + 1 segments; they run in one `lax.scan`, so the segment body compiles once.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
import xarray as xr
from jaxtyping import Array, ArrayLike, Float, Int

from ._colonies import ColoniesSystem
from ._interventions import (
    AbstractIntervention,
    AbstractJump,
    LocalAblation,
    _Therapy,
    check_interventions,
)
from ._model import Model
from ._params import is_concrete
from ._resolution import Colonies, Lumped
from ._vector_field import LumpedSystem

if TYPE_CHECKING:
    from ._staging import StagingRules

__all__ = ["SaveTimes", "every", "at", "Solution", "SolverError", "solve", "simulate"]

_OK = int(dfx.RESULTS.successful._value)
_EVENT = int(dfx.RESULTS.event_occurred._value)
_MAX_STEPS = int(dfx.RESULTS.max_steps_reached._value)

_DEFAULT = object()  # `simulate(staging=...)` not given

# Incremented each time `_solve` is traced: tests use it to prove new numbers do not recompile.
_trace_count = 0


@dataclasses.dataclass(frozen=True)
class SaveTimes:
    """Where to save the solution: build with [`every`][metaflow_ode.every] or
    [`at`][metaflow_ode.at]."""

    interval: float | None
    start: float | None
    times: tuple[float, ...] | None

    def resolve(self, t0: float, t1: float) -> np.ndarray:
        """The save times in days for a simulation over `[t0, t1]`."""
        if self.times is not None:
            ts = np.asarray(self.times, dtype=np.float64)
            if ts.size and (ts[0] < t0 or ts[-1] > t1):
                raise ValueError(
                    f"`saveat=mfo.at(times)`: times must lie in [t0, t1] = [{t0}, {t1}], got "
                    f"[{ts[0]}, {ts[-1]}]."
                )
            return ts
        start = t0 if self.start is None else self.start
        if not t0 <= start <= t1:
            raise ValueError(f"`mfo.every(start=...)` must lie in [t0, t1] = [{t0}, {t1}].")
        n = math.floor((t1 - start) / self.interval * (1 + 1e-12)) + 1
        ts = start + self.interval * np.arange(n, dtype=np.float64)
        if ts[-1] < t1 * (1 - 1e-12) - 1e-12:
            ts = np.append(ts, t1)
        return np.minimum(ts, t1)


def every(interval: float, *, start: float | None = None) -> SaveTimes:
    """Save every `interval` days from `start` (default `t0`) up to and including `t1`.

    **Arguments:**

    - `interval`: spacing in days (> 0).
    - `start`: first save time in days; default the start of the simulation.
    """
    if isinstance(interval, bool) or not isinstance(interval, (int, float, np.number)):
        raise TypeError(f"`mfo.every(interval)` must be a number of days, got {interval!r}.")
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(f"`mfo.every(interval)` must be > 0 days, got {interval!r}.")
    return SaveTimes(float(interval), None if start is None else float(start), None)


def at(times: ArrayLike) -> SaveTimes:
    """Save at the given times (days), which must be finite and strictly increasing."""
    ts = np.asarray(times, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0:
        raise ValueError("`mfo.at(times)` needs a non-empty 1-D array of times in days.")
    if not np.all(np.isfinite(ts)) or np.any(np.diff(ts) <= 0):
        raise ValueError("`mfo.at(times)`: times must be finite and strictly increasing.")
    return SaveTimes(None, None, tuple(ts.tolist()))


class SolverError(RuntimeError):
    """The ODE solver failed; the message says why and what to try."""


class Solution(eqx.Module):
    """Raw result of [`solve`][metaflow_ode.solve]: JAX arrays, usable under jit/vmap/grad.

    Shapes: T save times, O organs, C carriers, K route kinds present in the model, N
    threshold criteria; origin axes have length 2 (primary, secondary). Cells and days.
    Entries after a solver failure are NaN (only reachable with `throw=False`; see `result`).
    The accounting totals (`shed`, `arrived`, `cleared`, `lost`) are `None` unless
    `accounting=True`; the lesion-level outputs (`visible_lesions`, `largest_lesion` in cells,
    `size_distribution`: colonies per size bin, B bins) are `None` unless the resolution is
    [`Colonies`][metaflow_ode.Colonies]. `fluid_volume` (mL) and `fluid_rate` (mL/day) have one
    column per carrier with a [`Fluid`][metaflow_ode.Fluid] (F of them, in model order).
    `intervention_times[j, r]` is the time (days) of the `r`-th application of the `j`-th jump
    intervention (scheduled ones have one; triggered drainages up to `times`; NaN: not applied).
    """

    ts: Float[Array, " T"]
    primary: Float[Array, " T"]
    metastatic: Float[Array, "T O"]
    carrier: Float[Array, "T 2 C"]
    seeding_rate: Float[Array, "T K 2 O"]
    colonies: Float[Array, "T 2 O"]
    shed: Float[Array, "T 2 O"] | None
    arrived: Float[Array, "T 2 O"] | None
    cleared: Float[Array, "T 2 C"] | None
    lost: Float[Array, "T 2 O"] | None
    visible_lesions: Float[Array, "T O"] | None
    largest_lesion: Float[Array, "T O"] | None
    size_distribution: Float[Array, "T O B"] | None
    fluid_volume: Float[Array, "T F"]
    fluid_rate: Float[Array, "T F"]
    crossing_times: Float[Array, " N"]
    intervention_times: Float[Array, "J R"]
    result: Int[Array, ""]
    t_reached: Float[Array, ""]
    num_steps: Int[Array, ""]
    primary_index: int = eqx.field(static=True)

    @property
    def burden(self) -> Float[Array, "T O"]:
        """Tumour cells per organ (the primary tumour counted in its organ)."""
        onehot = jnp.zeros(self.metastatic.shape[-1]).at[self.primary_index].set(1.0)
        return self.metastatic + self.primary[..., None] * onehot


def _default_solver(dynamic: bool) -> dfx.AbstractSolver:
    return dfx.Kvaerno5() if dynamic else dfx.Tsit5()


def _tree_where(flag, new, old):
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


@eqx.filter_jit
def _solve(
    model: Model,
    interventions,
    ts,
    t0,
    t1,
    resolution,
    solver,
    controller,
    max_steps,
    root_finder,
    adjoint: dfx.AbstractAdjoint = dfx.RecursiveCheckpointAdjoint(),
):
    global _trace_count
    _trace_count += 1
    dynamic = bool(model.carriers) and not resolution.eliminate_carriers
    therapies = tuple(i for i in interventions if isinstance(i, _Therapy))
    if isinstance(resolution, Colonies):
        system = ColoniesSystem(
            model,
            resolution,
            t0,
            t1,
            dynamic_carriers=dynamic,
            accounting=resolution.accounting,
            therapies=therapies,
            adjoint=adjoint,
        )
        # Window edges and birth nodes are kinks of the vector field: step onto them.
        controller = dfx.ClipStepSizeController(controller, jump_ts=system.jump_times())
    else:
        system = LumpedSystem(
            model,
            dynamic_carriers=dynamic,
            accounting=resolution.accounting,
            therapies=therapies,
        )
    y0 = system.initial_state(model)
    term = dfx.ODETerm(lambda t, y, args: args[0](t, y, None))
    n_crit = len(system.criteria)
    solve_kwargs = dict(
        stepsize_controller=controller, max_steps=max_steps, throw=False, adjoint=adjoint
    )
    jumps = tuple(i for i in interventions if isinstance(i, AbstractJump))

    if n_crit == 0 and not interventions:
        sol = dfx.diffeqsolve(
            term,
            solver,
            t0,
            t1,
            None,
            y0,
            (system, None),
            saveat=dfx.SaveAt(ts=ts),
            **solve_kwargs,
        )
        ys = sol.ys
        result = sol.result._value
        ok = result == _OK
        # diffrax fills saves it never reached with inf; report them as NaN.
        ys = jax.tree.map(lambda a: jnp.where(ok | jnp.isfinite(a), a, jnp.nan), ys)
        crossing = jnp.zeros((0,))
        steps = sol.stats["num_steps"]
        t_reached = jnp.where(ok, t1, jnp.max(jnp.where(jnp.isfinite(sol.ts), sol.ts, t0)))
        records = jnp.zeros((0, 1))
    else:
        ys, crossing, records, result, steps, t_reached = _solve_segments(
            term, solver, system, y0, t0, t1, ts, root_finder, solve_kwargs, jumps, therapies
        )
    if isinstance(system, ColoniesSystem):
        # A failed colony-size solve invalidates everything that uses it: report it.
        size_code = system.size.result._value
        result = jnp.where((size_code != _OK) & (result == _OK), size_code, result)
    return _outputs(system, ts, ys, crossing, records, result, steps, t_reached)


def _solve_segments(
    term, solver, system, y0, t0, t1, ts, root_finder, solve_kwargs, jumps, therapies
):
    """Integrate in segments that end at threshold crossings, at triggered interventions and
    at scheduled times (jumps, therapy starts and stops); apply the interventions between."""
    n_crit = len(system.criteria)
    scheduled = [(j, iv) for j, iv in enumerate(jumps) if not getattr(iv, "triggered", False)]
    triggers = [(j, iv) for j, iv in enumerate(jumps) if getattr(iv, "triggered", False)]
    limits = np.array([iv.times for _, iv in triggers], dtype=int)
    sched = jnp.stack(
        [jnp.asarray(iv.at, jnp.float64) for _, iv in scheduled]
        + [jnp.asarray(v, jnp.float64) for th in therapies for v in (th.start, th.stop)]
        + [jnp.asarray(jnp.inf)]  # keeps the array non-empty
    )
    n_records = max([1, *limits.tolist()])
    n_events = n_crit + len(triggers)

    def event_values(t, y, crossed, fired):
        parts = []
        if n_crit:
            parts.append(jnp.where(crossed, -1.0, system.criterion_values(t, y)))
        if triggers:
            g = jnp.stack([iv.trigger_value(system, t, y) for _, iv in triggers])
            parts.append(jnp.where(fired >= limits, -1.0, g))
        return jnp.concatenate(parts)

    def cond_fn(t, y, args, **kwargs):
        _, crossed, fired = args
        return jnp.max(event_values(t, y, crossed, fired))

    event = dfx.Event(cond_fn, root_finder=root_finder) if n_events else None

    def fire(t, y, fired, records, mask):
        for i, (j, iv) in enumerate(triggers):
            y = _tree_where(mask[i], iv.apply(system, t, y), y)
            slot = jnp.minimum(fired[i], n_records - 1)
            records = records.at[j, slot].set(jnp.where(mask[i], t, records[j, slot]))
        return y, fired + mask.astype(int), records

    nan_ys = jax.tree.map(lambda a: jnp.full((ts.shape[0],) + a.shape, jnp.nan), y0)
    carry0 = (
        jnp.asarray(t0, jnp.float64),
        y0,
        jnp.zeros(n_crit, bool),
        jnp.full(n_crit, jnp.inf),
        jnp.zeros(sched.shape, bool),
        jnp.zeros(len(triggers), int),
        jnp.full((len(jumps), n_records), jnp.nan),
        nan_ys,
        jnp.asarray(_OK),
        jnp.asarray(0),
    )

    def segment(carry, _):
        tstart, y, crossed, times, applied, fired, records, ys, result, steps = carry
        active = (result == _OK) & (tstart < t1)
        # Interventions due at the segment start, in the order given; then triggers and
        # criteria already at their level (at t0, or raised by a jump).
        due = active & ~applied & (sched <= tstart)
        for s, (j, iv) in enumerate(scheduled):
            y = _tree_where(due[s], iv.apply(system, tstart, y), y)
            records = records.at[j, 0].set(jnp.where(due[s], tstart, records[j, 0]))
        applied = applied | due
        if n_events:
            g = event_values(tstart, y, crossed, fired)
            if triggers:
                y, fired, records = fire(tstart, y, fired, records, active & (g[n_crit:] >= 0))
            if n_crit:
                newly = active & ~crossed & (g[:n_crit] >= 0)
                times = jnp.where(newly, tstart, times)
                crossed = crossed | newly
        t_stop = jnp.minimum(t1, jnp.min(jnp.where(applied, jnp.inf, sched)))
        t_stop = jnp.where(active, jnp.maximum(t_stop, tstart), tstart)
        sol = dfx.diffeqsolve(
            term,
            solver,
            tstart,
            t_stop,
            None,
            y,
            (system, crossed, fired),
            saveat=dfx.SaveAt(
                subs=[dfx.SubSaveAt(ts=jnp.clip(ts, tstart, t_stop)), dfx.SubSaveAt(t1=True)]
            ),
            event=event,
            **solve_kwargs,
        )
        code = sol.result._value
        ok = (code == _OK) | (code == _EVENT)
        tend = sol.ts[1][-1]
        yend = jax.tree.map(lambda a: a[-1], sol.ys[1])
        # Saves the solver reached are finite; after a failure the rest stay NaN.
        reached = jnp.isfinite(sol.ts[0])
        in_segment = active & reached & (ts >= tstart) & jnp.where(ok, ts <= tend, True)
        ys = jax.tree.map(
            lambda new, old: jnp.where(in_segment.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
            sol.ys[0],
            ys,
        )
        failed = active & ~ok
        result = jnp.where(failed, code, result)
        t_failed = jnp.max(jnp.where(reached, sol.ts[0], tstart))
        t_next = jnp.where(failed, t_failed, jnp.where(active, tend, tstart))
        y_next = _tree_where(active & ok, yend, y)
        if n_events:
            g = event_values(tend, yend, crossed, fired)
            event_here = (code == _EVENT) & active
            index = jnp.arange(n_events)
            which = event_here & (g > -1.0) & ((g >= -1e-9) | (index == jnp.argmax(g)))
            if n_crit:
                newly = which[:n_crit] & ~crossed
                times = jnp.where(newly, tend, times)
                crossed = crossed | newly
            if triggers:
                y_next, fired, records = fire(tend, y_next, fired, records, which[n_crit:])
        steps = steps + jnp.where(active, sol.stats["num_steps"], 0)
        return (t_next, y_next, crossed, times, applied, fired, records, ys, result, steps), None

    length = n_crit + int(sched.shape[0]) + int(limits.sum()) + 1
    carry, _ = jax.lax.scan(segment, carry0, None, length=length)
    tfinal, _, _, times, _, _, records, ys, result, steps = carry
    t_reached = jnp.where(result == _OK, t1, tfinal)
    return ys, times, records, result, steps, t_reached


def _outputs(system: LumpedSystem, ts, ys, crossing, records, result, steps, t_reached) -> Solution:
    def per_time(t, y):
        E = system.emissions(t, y)
        c = system.carrier_cells(t, y, E)
        burden = system.organ_burden(t, y)
        if system.fluids.carriers:
            volume = y["fluid"]
            rate = system.fluids.rate(volume, burden, c)
        else:
            volume = rate = jnp.zeros((0,))
        return (
            c,
            system.arrivals(E, c, colonising=True),
            system.metastatic_burden(t, y),
            volume,
            rate,
        )

    carrier, seeding, metastatic, fluid_volume, fluid_rate = jax.vmap(per_time)(ts, ys)
    if isinstance(system, ColoniesSystem):
        visible, largest, bins = jax.vmap(system.lesion_outputs)(ts, ys)
    else:
        visible = largest = bins = None
    return Solution(
        ts=ts,
        primary=ys["primary"],
        metastatic=metastatic,
        carrier=carrier,
        seeding_rate=seeding,
        colonies=ys["colonies"],
        shed=ys.get("shed"),
        arrived=ys.get("arrived"),
        cleared=ys.get("cleared"),
        lost=ys.get("lost"),
        visible_lesions=visible,
        largest_lesion=largest,
        size_distribution=bins,
        fluid_volume=fluid_volume,
        fluid_rate=fluid_rate,
        crossing_times=crossing,
        intervention_times=records,
        result=jnp.asarray(result),
        t_reached=jnp.asarray(t_reached, jnp.float64),
        num_steps=jnp.asarray(steps),
        primary_index=system.topo.primary,
    )


def _check_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"`simulate({name}=...)` must be a number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`simulate({name}=...)` must be finite, got {value!r}.")
    return value


def _check_colonies_grow(model: Model, resolution: Colonies) -> None:
    """Colonies must grow at birth size in every organ that receives them (host values only;
    numbers may be per-patient arrays, as in a cohort)."""
    if not is_concrete(resolution.birth_size):
        return
    x0 = float(np.asarray(resolution.birth_size))
    targets = {t.target for t in model.transfers}
    for organ in model.organs:
        if organ.name not in targets:
            continue
        laws = (organ.metastasis_growth_law, organ.metastasis_emission_law)
        leaves = jax.tree.leaves(laws)
        if not all(is_concrete(leaf) for leaf in leaves):
            continue
        growth = np.asarray(laws[0](x0), dtype=np.float64)
        shed = 0.0 if laws[1] is None else np.asarray(laws[1](x0), dtype=np.float64)
        net = np.broadcast_to(growth - shed, np.broadcast_shapes(np.shape(growth), np.shape(shed)))
        if not np.all(net > 0):
            worst = int(np.argmin(net)) if net.ndim else None
            growth = float(np.broadcast_to(growth, net.shape)[worst] if net.ndim else growth)
            shed = float(np.broadcast_to(shed, net.shape)[worst] if net.ndim else shed)
            raise ValueError(
                f"`simulate(resolution=mfo.Colonies(...))`: in organ {organ.name!r} a colony of "
                f"birth_size = {x0:g} cells does not grow (growth {growth:.3g} - shedding "
                f"{shed:.3g} cells/day <= 0), so the size distribution is not defined. Use a "
                "growth law that grows at birth size, a larger `birth_size`, or the lumped "
                "fidelity."
            )


def _options(model, t1, t0, saveat, resolution, solver, rtol, atol, max_steps):
    if not isinstance(model, Model):
        raise TypeError(f"`simulate(model, ...)` takes a `mfo.Model`, got {type(model).__name__}.")
    t0 = _check_number("t0", t0)
    t1 = _check_number("t1", t1)
    if t1 <= t0:
        raise ValueError(f"`simulate(t1=...)` must be after `t0` = {t0}, got {t1}.")
    if saveat is None:
        saveat = at(np.linspace(t0, t1, 101))
    elif not isinstance(saveat, SaveTimes):
        saveat = at(saveat)
    ts = saveat.resolve(t0, t1)
    if not isinstance(resolution, (Lumped, Colonies)):
        raise TypeError(
            f"`simulate(resolution=...)` must be `mfo.Lumped(...)` or `mfo.Colonies(...)`, "
            f"got {type(resolution).__name__}."
        )
    if isinstance(resolution, Lumped):
        lesion = [
            o.name for o in model.organs if o.failure and o.failure.largest_lesion is not None
        ]
        if lesion:
            raise ValueError(
                f"`Failure(largest_lesion=...)` of {lesion} needs lesions: simulate with "
                "`resolution=mfo.Colonies(...)`, or use `Failure(burden=...)` in the lumped "
                "fidelity."
            )
    if isinstance(resolution, Colonies):
        seeded = [
            o.name
            for o in model.organs
            if not o.primary and is_concrete(o.initial) and np.any(np.asarray(o.initial) != 0.0)
        ]
        if seeded:
            raise ValueError(
                f"`simulate(resolution=mfo.Colonies(...))` starts every organ without colonies, "
                f"but {seeded} have an initial burden: set `initial=0` on those organs (an "
                "initial burden has no size distribution)."
            )
        _check_colonies_grow(model, resolution)
    dynamic = bool(model.carriers) and not resolution.eliminate_carriers
    if solver is None:
        solver = _default_solver(dynamic)
    elif not isinstance(solver, dfx.AbstractSolver):
        raise TypeError(
            f"`simulate(solver=...)` must be a diffrax solver instance such as "
            f"`diffrax.Kvaerno5()`, got {solver!r}."
        )
    for name, value in (("rtol", rtol), ("atol", atol)):
        value = _check_number(name, value)
        if value <= 0:
            raise ValueError(f"`simulate({name}=...)` must be > 0, got {value}.")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(
            f"`simulate(max_steps=...)` must be a positive integer, got {max_steps!r}."
        )
    if isinstance(solver, dfx.AbstractImplicitSolver):
        # Proportional-integral gains for implicit solvers: with the default integral-only
        # controller Kvaerno5 rejects about every other step on smooth growth curves
        # (measured: 1081 accepted / 1078 rejected on one Gompertz curve at rtol 1e-8,
        # against 641 / 140 with these gains).
        controller = dfx.PIDController(rtol=float(rtol), atol=float(atol), pcoeff=0.4, icoeff=0.3)
    else:
        controller = dfx.PIDController(rtol=float(rtol), atol=float(atol))
    root_finder = optx.Newton(rtol=1e-12, atol=1e-10)
    return ts, t0, t1, resolution, solver, controller, max_steps, root_finder


def _check_fidelity(model: Model, interventions, resolution) -> None:
    """Interventions the chosen fidelity cannot represent fail here, naming the fix."""
    if isinstance(resolution, Colonies):
        return
    for item in interventions:
        if isinstance(item, LocalAblation) and item.visible_only:
            raise ValueError(
                f"`LocalAblation({item.organ!r}, visible_only=True)` needs lesions: "
                "simulate with `resolution=mfo.Colonies(...)`, or ablate every lesion of "
                "the organ with `visible_only=False` in the lumped fidelity."
            )


def _prepare_and_solve(
    model, t1, t0, saveat, resolution, solver, rtol, atol, max_steps, interventions
):
    """Validate the options, run the compiled solve; return it and the solver used."""
    options = _options(model, t1, t0, saveat, resolution, solver, rtol, atol, max_steps)
    ts, t0, t1, resolution, solver, controller, max_steps, root_finder = options
    interventions = check_interventions(model, interventions, t0)
    _check_fidelity(model, interventions, resolution)
    solution = _solve(
        model,
        interventions,
        jnp.asarray(ts),
        jnp.asarray(t0),
        jnp.asarray(t1),
        resolution,
        solver,
        controller,
        max_steps,
        root_finder,
    )
    return solution, solver


def solve(
    model: Model,
    t1: float,
    *,
    t0: float = 0.0,
    saveat: SaveTimes | ArrayLike | None = None,
    resolution: Lumped | Colonies = Lumped(),
    solver: dfx.AbstractSolver | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    max_steps: int = 100_000,
    interventions: Sequence[AbstractIntervention] = (),
) -> Solution:
    """Solve `model` from `t0` to `t1` days and return the raw [`Solution`][metaflow_ode.Solution].

    Pure JAX: compose it with `jax.vmap` and `jax.grad` (differentiate with respect to the
    model's numbers, e.g. through [`Model.with_parameters`][metaflow_ode.Model.with_parameters]).
    Compiled once per model topology and option set: new parameter values never recompile.
    Solver failures are not raised here (they cannot be, under `vmap`): check `result`, or use
    [`simulate`][metaflow_ode.simulate].

    Arguments are those of [`simulate`][metaflow_ode.simulate].
    """
    solution, _ = _prepare_and_solve(
        model, t1, t0, saveat, resolution, solver, rtol, atol, max_steps, interventions
    )
    return solution


def result_message(code: int) -> str:
    """The user-facing message for a solver result code."""
    if code == _OK:
        return "successful"
    return dfx.RESULTS._index_to_message[code]


def raise_for_result(solution: Solution, *, max_steps: int) -> None:
    """Raise a [`SolverError`][metaflow_ode.SolverError] with a diagnosis if the solve failed."""
    code = int(solution.result)
    if code == _OK:
        return
    reached = float(solution.t_reached)
    steps = int(solution.num_steps)
    if code == _MAX_STEPS:
        hint = (
            f"The solver took {steps} steps (max_steps={max_steps}) and reached only "
            f"t = {reached:g} d. Increase `max_steps`, loosen `rtol`/`atol`, or, if the model "
            "is stiff (fast carriers against slow growth, or very fast growth laws), use a stiff "
            "solver (`solver=diffrax.Kvaerno5()`) or `resolution=mfo.Lumped("
            "eliminate_carriers=True)`."
        )
    else:
        hint = (
            f"The solve stopped at t = {reached:g} d after {steps} steps. Check the parameter "
            "values (extreme rates make the model very stiff; use a stiff solver such as "
            "`diffrax.Kvaerno5()`) and the tolerances."
        )
    raise SolverError(
        f"{result_message(code)}\n{hint}\nPass `throw=False` to get the partial result."
    )


def simulate(
    model: Model,
    t1: float,
    *,
    t0: float = 0.0,
    saveat: SaveTimes | ArrayLike | None = None,
    resolution: Lumped | Colonies = Lumped(),
    solver: dfx.AbstractSolver | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    max_steps: int = 100_000,
    interventions: Sequence[AbstractIntervention] = (),
    staging: StagingRules | None = _DEFAULT,  # type: ignore[assignment]
    throw: bool = True,
) -> xr.Dataset:
    """Simulate `model` from `t0` to `t1` days and return an `xarray.Dataset`.

    **Arguments:**

    - `model`: the [`Model`][metaflow_ode.Model].
    - `t1`: end time in days.
    - `t0`: start time in days (default 0).
    - `saveat`: save times: [`every`][metaflow_ode.every]`(dt)`, [`at`][metaflow_ode.at]`(times)`
      or an array of times; default 101 equally spaced times.
    - `resolution`: the fidelity, [`Lumped`][metaflow_ode.Lumped]`()` by default, or
      [`Colonies`][metaflow_ode.Colonies]`(...)` for size-structured colonies (adds
      `visible_lesions`, `largest_lesion` and `size_distribution` on a `size` dimension).
    - `solver`: a diffrax solver; default `Kvaerno5` (stiff) when carriers are dynamic, `Tsit5`
      otherwise.
    - `rtol`, `atol`: tolerances of the PID step-size controller (atol in cells).
    - `max_steps`: maximum solver steps per segment.
    - `interventions`: treatments and procedures, e.g. `[mfo.Resection("breast", at=400.0),
      mfo.SystemicTherapy(400.0, 580.0, mfo.KillRate(0.03))]` (see "Interventions" in the
      docs). Their times and doses are numbers: new values never recompile. The state saved
      at an intervention's time is the state right after it.
    - `staging`: the [`StagingRules`][metaflow_ode.StagingRules] that classify each save time
      into a stage of the Bio Therapeutic Goals of Cancer Care model (variables `stage`,
      `goal_of_care`, `indicated_therapies`, `stage_entry_time`, `stage_duration`; see
      [`stage`][metaflow_ode.stage]); default `StagingRules()` with the colonies fidelity's
      visible size; `None` for no staging. Skipped when the solver failed.
    - `throw`: raise [`SolverError`][metaflow_ode.SolverError] on solver failure (default); if
      `False`, return the partial result with `solver_status` set and NaN after the failure.

    **Returns:** the dataset described in the docs ("Output dataset"): `burden`, `volume`,
    `replaced_fraction`, `carrier_cells`, `seeding_rate`, `colonies`, `p_metastasis`,
    `failure_time`, `warning_time`, `death_time`, `cause_of_death`, accounting totals, with
    `units` and `long_name` on every variable.
    """
    from ._dataset import to_dataset
    from ._staging import StagingRules, stage  # the anatomy package imports this module

    if not isinstance(throw, bool):
        raise TypeError("`simulate(throw=...)` must be True or False.")
    if staging is not _DEFAULT and staging is not None and not isinstance(staging, StagingRules):
        raise TypeError(
            "`simulate(staging=...)` must be `mfo.StagingRules(...)` or None, got "
            f"{type(staging).__name__}."
        )
    interventions = check_interventions(model, interventions, _check_number("t0", t0))
    solution, solver = _prepare_and_solve(
        model, t1, t0, saveat, resolution, solver, rtol, atol, max_steps, interventions
    )
    solution = jax.device_get(solution)
    if throw:
        raise_for_result(solution, max_steps=max_steps)
    options = {
        "resolution": type(resolution).__name__,
        **_resolution_options(resolution),
        "solver": type(solver).__name__,
        "rtol": float(rtol),
        "atol": float(atol),
    }
    size_edges = resolution.size_edges if isinstance(resolution, Colonies) else None
    dataset = to_dataset(
        model, solution, options=options, size_edges=size_edges, interventions=interventions
    )
    if staging is _DEFAULT:
        staging = (
            StagingRules(visible_diameter=float(np.asarray(resolution.visible_diameter)))
            if isinstance(resolution, Colonies)
            else StagingRules()
        )
    if staging is not None and int(solution.result) == _OK:
        dataset = stage(dataset, staging)
    return dataset


def _resolution_options(resolution) -> dict:
    out = {}
    for field in dataclasses.fields(resolution):
        value = getattr(resolution, field.name)
        if value is None or isinstance(value, (bool, int, float, str)):
            out[field.name] = value
        elif isinstance(value, tuple):
            out[field.name] = list(value)
        else:
            out[field.name] = float(np.asarray(value))
    return out
