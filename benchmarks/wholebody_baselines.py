"""Hand-written baselines for the breast whole-body preset in the lumped fidelity.

The library solve these baselines reproduce is

    model = mfo.anatomy.reference_model(primary="breast")
    mfo.solve(model, 3650.0, saveat=mfo.every(30.0),
              resolution=mfo.Lumped(eliminate_carriers=True), rtol=1e-6, atol=1e-6)

(Tsit5, the default with eliminated carriers: 20 organs, 18 carriers, 4 fluid volumes). Side by
side with it, the cohort benchmark of issue 7 times the same equations written by hand:

- `direct_solve`: `direct_rhs` in `jax.numpy` over a flat state vector, one
  `diffrax.diffeqsolve` (Tsit5, `PIDController(rtol, atol)`, `SaveAt(ts=ts)`); composes with
  `jax.jit` and `jax.vmap` over patients;
- `scipy_solve`: `numpy_rhs` in numpy, `scipy.integrate.solve_ivp(method="RK45")`.

**Taken from the library** (`extract`): only numbers and names read off the `mfo.Model`
object: the Gompertz and power-law parameters of each organ, the initial cells, each
transfer's source, target, fraction, rate and colonisation efficiency, each carrier's
clearance and the `Fluid` parameters of the cavities and the CSF. No library function
computes anything here: the effective organ-to-organ colonisation operator after carrier
elimination is assembled and solved with numpy below (`mfo.dissemination_matrix` is called
only in the `__main__` self-check, to confirm the hand-built operator equals it).

**Written by hand**: the carrier elimination and the whole right-hand side. With `O` organs,
`C` carriers, `F` fluid volumes, the quasi-steady carriers give, per unit emission,

    L = diag(clearance + outflow rates) - (carrier -> carrier rates)       [C, C]
    T = L^-1 F          (F: share of each organ's emission sent to each carrier)  [C, O]
    P = D + R T         (D: organ -> organ share x efficiency, R: carrier -> organ rate x
                         efficiency)                                               [O, O]

and the state `y = [primary, M[O], colonies[2, O], V[F]]` (the same content as the
library's state dict, so the step-size controller sees the same error norm) follows

    e_p        = m_p * pow(primary, a_p)                      (primary tumour emission)
    E_1        = m * pow(M, a)                                (metastatic emission per organ)
    E_0        = e_p at the primary organ, 0 elsewhere
    d primary  = g_p(primary) - e_p
    d M        = g(M) - E_1 + P E_0 + P E_1
    d colonies = [P E_0, P E_1]                               (origin: primary, secondary)
    d V        = prod + secr * (lining @ S) - prod / V0 * V / (1 + B / obstruction)
                 S = M + primary at the primary organ, B = obstructing organs @ S +
                 obstructing carriers @ T (E_0 + E_1)

with `g` Gompertz and `pow` the power law, both continued linearly below one cell exactly as
the library does (`g(x) = x g(1)`, `pow(x) = x` for `0 <= x < 1`, 0 for `x <= 0`). The breast
metastases have their own Gompertz law (`breast.metastasis_growth`) but share the primary's
emission law, so `breast.emission.coefficient` sets both the primary's and the breast
metastases' emission (`with_values` mirrors `Model.with_parameters` for these paths).

**Not reproduced**: the library also locates threshold crossings (organ failures, warnings,
the whole-body lethal burden) by root finding and restarts the solver at each crossing. These
crossings are only recorded; they do not change the dynamics, so burdens agree to about the
tolerance, but the library takes a few more (restarted) steps. Failure events, interventions
and therapies are not part of these baselines.

**Agreement** (self-check, 3 patients, max of `|a - b| / (|b| + 1)` over organs and months):
`direct_solve` vs the library about 1e-13 at rtol = atol = 1e-6 (same method, same state and
error norm); `scipy_solve` vs the library 2e-4 to 5e-4 at 1e-6, which is the two methods' own
global error (Tsit5 and RK45 each sit 1e-4 to 2e-4 from an rtol = 1e-12 reference, at small
burdens of ~20 cells in muscle around day 570) and shrinks with the tolerance: 3e-5 at 1e-7,
3e-6 at 1e-8, about 1e-6 at 1e-9.

Run `python benchmarks/wholebody_baselines.py` for the self-check: 3 patients, organ burdens
of the library against both baselines, max of `|a - b| / (|b| + 1)`, and rough timings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate

import metaflow_ode as mfo

jax.config.update("jax_enable_x64", True)

T1, DT = 3650.0, 30.0
RTOL, ATOL = 1e-6, 1e-6


# ---- numbers from the model -------------------------------------------------------------------


def _gompertz_params(law) -> tuple[float, float]:
    if not isinstance(law, mfo.Gompertz):
        raise NotImplementedError(f"only Gompertz growth is written by hand, got {law!r}")
    return float(law.rate), float(law.capacity)


def _power_params(law) -> tuple[float, float]:
    if law is None:
        return 0.0, 1.0  # no emission
    if not isinstance(law, mfo.PowerLaw):
        raise NotImplementedError(f"only PowerLaw emission is written by hand, got {law!r}")
    return float(law.coefficient), float(law.exponent)


def colonisation_operator(model: mfo.Model) -> tuple[np.ndarray, np.ndarray]:
    """The effective operators after carrier elimination, built with numpy from the transfers.

    Returns `P[target, source]` (colonies founded in `target` per cell shed by `source`,
    summed over route kinds) and `T[carrier, source]` (quasi-steady cells in transit per unit
    emission rate, days).
    """
    organs = {n: i for i, n in enumerate(model.organ_names)}
    carriers = {n: i for i, n in enumerate(model.carrier_names)}
    n_o, n_c = len(organs), len(carriers)
    D = np.zeros((n_o, n_o))  # organ -> organ, share of emission x efficiency
    F = np.zeros((n_c, n_o))  # organ -> carrier, share of emission
    A = np.zeros((n_c, n_c))  # carrier -> carrier, rate (1/day)
    R = np.zeros((n_o, n_c))  # carrier -> organ, rate x efficiency (1/day)
    exit_rate = np.array([float(c.clearance) for c in model.carriers])
    for t in model.transfers:
        if t.source in organs:
            s = organs[t.source]
            if t.target in organs:
                D[organs[t.target], s] += float(t.fraction) * float(t.efficiency)
            else:
                F[carriers[t.target], s] += float(t.fraction)
        else:
            s = carriers[t.source]
            exit_rate[s] += float(t.rate)
            if t.target in organs:
                R[organs[t.target], s] += float(t.rate) * float(t.efficiency)
            else:
                A[carriers[t.target], s] += float(t.rate)
    T = np.linalg.solve(np.diag(exit_rate) - A, F) if n_c else np.zeros((0, n_o))
    return D + R @ T, T


def extract(model: mfo.Model) -> dict[str, np.ndarray]:
    """Plain numpy arrays of everything the hand-written equations need (see module docs).

    Keys: `growth_rate`, `capacity`, `emission_coefficient`, `emission_exponent` (`[O]`, laws
    of the metastases in each organ); `primary_growth_rate`, `primary_capacity`,
    `primary_emission_coefficient`, `primary_emission_exponent`, `primary_initial` (scalars);
    `primary_onehot` and `initial` (`[O]`); `P` (`[O, O]`) and `T` (`[C, O]`) from
    `colonisation_operator`; fluids `fluid_volume`, `fluid_production`, `fluid_secretion`,
    `fluid_obstruction` (`[F]`, inf when unobstructed), `fluid_lining`,
    `fluid_obstructing_organs` (`[F, O]`), `fluid_obstructing_carriers` (`[F, C]`).
    """
    organs, carriers = model.organ_names, model.carrier_names
    primary = model.organs[model.primary_index]
    growth = np.array([_gompertz_params(o.metastasis_growth_law) for o in model.organs])
    emission = np.array([_power_params(o.metastasis_emission_law) for o in model.organs])
    p_rate, p_cap = _gompertz_params(primary.growth)
    p_coef, p_exp = _power_params(primary.emission)
    P, T = colonisation_operator(model)
    fluids = [c.fluid for c in model.carriers if c.fluid is not None]

    def membership(names, groups):
        out = np.zeros((len(groups), len(names)))
        for f, group in enumerate(groups):
            for name in group:
                if name in names:
                    out[f, names.index(name)] = 1.0
        return out

    return {
        "growth_rate": growth[:, 0],
        "capacity": growth[:, 1],
        "emission_coefficient": emission[:, 0],
        "emission_exponent": emission[:, 1],
        "primary_growth_rate": np.float64(p_rate),
        "primary_capacity": np.float64(p_cap),
        "primary_emission_coefficient": np.float64(p_coef),
        "primary_emission_exponent": np.float64(p_exp),
        "primary_initial": np.float64(float(primary.initial)),
        "primary_onehot": np.eye(len(organs))[model.primary_index],
        "initial": np.array([0.0 if o.primary else float(o.initial) for o in model.organs]),
        "P": P,
        "T": T,
        "fluid_volume": np.array([float(f.volume) for f in fluids]),
        "fluid_production": np.array([float(f.production) for f in fluids]),
        "fluid_secretion": np.array([float(f.secretion) for f in fluids]),
        "fluid_obstruction": np.array(
            [np.inf if f.obstruction is None else float(f.obstruction) for f in fluids]
        ),
        "fluid_lining": membership(organs, [f.lining for f in fluids]),
        "fluid_obstructing_organs": membership(organs, [f.obstructed_by for f in fluids]),
        "fluid_obstructing_carriers": membership(carriers, [f.obstructed_by for f in fluids]),
    }


def with_values(p: dict, model: mfo.Model, values: Mapping) -> dict:
    """`p` with some library parameter paths replaced, as `Model.with_parameters` would.

    Supported paths: `<organ>.growth.rate`, `<organ>.emission.coefficient` and, for the
    primary organ, `<organ>.metastasis_growth.rate`. Values may be JAX tracers (inside
    `jax.vmap`), so patients batch over the leaves of `p` they change. On the primary organ,
    `growth`/`emission` are the primary tumour's laws and also its metastases' unless the
    organ has its own `metastasis_growth`/`metastasis_emission`.
    """
    p = dict(p)
    xp = jnp if any(isinstance(v, jax.Array) for v in values.values()) else np
    names = model.organ_names

    def set_entry(key, i, value):
        p[key] = (
            jnp.asarray(p[key]).at[i].set(value)
            if xp is jnp
            else np.where(np.arange(len(names)) == i, value, p[key])
        )

    for path, value in values.items():
        organ, law, field = path.split(".")
        i = names.index(organ)
        o = model.organs[i]
        if (law, field) == ("growth", "rate"):
            if o.primary:
                p["primary_growth_rate"] = value
            if not o.primary or o.metastasis_growth is None:
                set_entry("growth_rate", i, value)
        elif (law, field) == ("metastasis_growth", "rate") and o.metastasis_growth is not None:
            set_entry("growth_rate", i, value)
        elif (law, field) == ("emission", "coefficient"):
            if o.primary:
                p["primary_emission_coefficient"] = value
            if not o.primary or o.metastasis_emission is None:
                set_entry("emission_coefficient", i, value)
        else:
            raise KeyError(f"with_values does not handle {path!r}")
    return p


# ---- the equations, by hand: jax.numpy -------------------------------------------------------


def _gompertz(rate, capacity, x, xp):
    """`rate x ln(capacity / x)` for `x >= 1`, continued as `x * g(1)` below one cell."""
    above = x >= 1
    safe = xp.where(above, x, 1.0)
    return xp.where(
        above,
        rate * safe * xp.log(capacity / safe),
        xp.maximum(x, 0.0) * rate * xp.log(capacity),
    )


def _power(coefficient, exponent, x, xp):
    """`coefficient x**exponent` for `x >= 1`, `coefficient x` for `0 <= x < 1`, else 0."""
    above = x >= 1
    safe = xp.where(above, x, 1.0)
    return coefficient * xp.where(above, safe**exponent, xp.maximum(x, 0.0))


def _rhs(y, p, xp):
    n_o = p["capacity"].shape[0]
    primary = y[0]
    M = y[1 : 1 + n_o]
    V = y[1 + 3 * n_o :]
    onehot = p["primary_onehot"]
    P = p["P"]

    e_primary = _power(
        p["primary_emission_coefficient"], p["primary_emission_exponent"], primary, xp
    )
    E0 = onehot * e_primary
    E1 = _power(p["emission_coefficient"], p["emission_exponent"], M, xp)
    col0, col1 = P @ E0, P @ E1

    d_primary = _gompertz(p["primary_growth_rate"], p["primary_capacity"], primary, xp) - e_primary
    d_M = _gompertz(p["growth_rate"], p["capacity"], M, xp) - E1 + col0 + col1

    burden = M + primary * onehot
    in_transit = p["T"] @ (E0 + E1)
    serosa = p["fluid_lining"] @ burden
    blocking = p["fluid_obstructing_organs"] @ burden + p["fluid_obstructing_carriers"] @ in_transit
    drainage = (
        p["fluid_production"] / p["fluid_volume"] * V / (1.0 + blocking / p["fluid_obstruction"])
    )
    d_V = p["fluid_production"] + p["fluid_secretion"] * serosa - drainage
    return xp.concatenate([xp.reshape(d_primary, (1,)), d_M, col0, col1, d_V])


def direct_rhs(t, y, p):
    """dy/dt of the flat state `[primary, M[O], colonies[2, O], V[F]]` (jax.numpy)."""
    del t
    return _rhs(y, p, jnp)


def initial_state(p, xp=jnp):
    """The flat initial state: primary cells, metastatic cells, no colonies, baseline fluid."""
    n_o = p["capacity"].shape[0]
    return xp.concatenate(
        [
            xp.reshape(xp.asarray(p["primary_initial"], dtype=float), (1,)),
            xp.asarray(p["initial"], dtype=float),
            xp.zeros(2 * n_o),
            xp.asarray(p["fluid_volume"], dtype=float),
        ]
    )


def burden(ys, p, xp=jnp):
    """Tumour cells per organ `(T, O)` from saved states (the primary counted in its organ)."""
    n_o = p["capacity"].shape[0]
    return ys[:, 1 : 1 + n_o] + ys[:, :1] * p["primary_onehot"]


def direct_solve(p, ts, rtol=RTOL, atol=ATOL, max_steps=100_000):
    """Organ burdens `(T, O)` at `ts` from one diffrax Tsit5 solve over `[ts[0], ts[-1]]`.

    Traceable: wrap in `jax.jit` (with `rtol`, `atol`, `max_steps` static) and `jax.vmap` over
    patients. No failure events: the library additionally root-finds threshold crossings.
    """
    p = jax.tree.map(jnp.asarray, p)
    ts = jnp.asarray(ts, dtype=float)
    sol = dfx.diffeqsolve(
        dfx.ODETerm(direct_rhs),
        dfx.Tsit5(),
        ts[0],
        ts[-1],
        None,
        initial_state(p),
        p,
        saveat=dfx.SaveAt(ts=ts),
        stepsize_controller=dfx.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    return burden(sol.ys, p)


# ---- the equations, by hand: numpy + scipy ---------------------------------------------------


def numpy_rhs(t, y, p):
    """dy/dt of the flat state, in numpy (`p` of numpy arrays, see `extract`)."""
    del t
    return _rhs(y, p, np)


def scipy_solve(p, ts, rtol=RTOL, atol=ATOL):
    """Organ burdens `(T, O)` at `ts` from `scipy.integrate.solve_ivp(method="RK45")`."""
    p = {k: np.asarray(v, dtype=float) for k, v in p.items()}
    ts = np.asarray(ts, dtype=float)
    sol = scipy.integrate.solve_ivp(
        numpy_rhs,
        (ts[0], ts[-1]),
        initial_state(p, np),
        method="RK45",
        t_eval=ts,
        rtol=rtol,
        atol=atol,
        args=(p,),
    )
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return burden(sol.y.T, p, np)


# ---- self-check --------------------------------------------------------------------------------


def _timed(fn, *args, repeat=3):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best, out


def main():
    model = mfo.anatomy.reference_model(primary="breast")
    p0 = extract(model)

    P_lib = mfo.dissemination_matrix(model, colonising=True).sum("route").values.T
    print(
        "hand-built P vs mfo.dissemination_matrix: max |diff| / max |P| = "
        f"{np.max(np.abs(p0['P'] - P_lib)) / np.max(np.abs(P_lib)):.1e}"
    )

    resolution = mfo.Lumped(eliminate_carriers=True)
    ts = mfo.every(DT).resolve(0.0, T1)

    @jax.jit
    def library(values):
        changed = model.with_parameters(values)
        sol = mfo.solve(
            changed, T1, saveat=mfo.every(DT), resolution=resolution, rtol=RTOL, atol=ATOL
        )
        return sol.burden, sol.result, sol.num_steps

    direct = jax.jit(direct_solve, static_argnames=("rtol", "atol", "max_steps"))

    base = {
        "breast.growth.rate": float(model.organs[model.primary_index].growth.rate),
        "breast.emission.coefficient": float(
            model.organs[model.primary_index].emission.coefficient
        ),
    }
    patients = [
        {k: v * f for k, v, f in zip(base, base.values(), factors, strict=True)}
        for factors in ((1.0, 1.0), (1.15, 0.4), (0.85, 2.5))
    ]

    def rel(a, b):
        return float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / (np.abs(np.asarray(b)) + 1)))

    times = {"library": [], "direct": [], "scipy": []}
    for values in patients:
        p = with_values(p0, model, values)
        jvalues = {k: jnp.asarray(v) for k, v in values.items()}
        t_lib, (b_lib, result, steps) = _timed(library, jvalues)
        assert int(result) == 0, "library solve failed"
        t_dir, b_dir = _timed(direct, p, jnp.asarray(ts), RTOL, ATOL)
        t_sp, b_sp = _timed(scipy_solve, p, ts, RTOL, ATOL, repeat=1)
        times["library"].append(t_lib)
        times["direct"].append(t_dir)
        times["scipy"].append(t_sp)
        print(
            f"growth rate {values['breast.growth.rate']:.3e}, emission "
            f"{values['breast.emission.coefficient']:.2e}: total burden at {T1:.0f} d "
            f"{float(np.sum(b_lib[-1])):.3e} cells, library steps {int(steps)}"
        )
        print(
            f"  max |a-b|/(|b|+1): direct vs library {rel(b_dir, b_lib):.1e}, "
            f"scipy vs library {rel(b_sp, b_lib):.1e}, scipy vs direct {rel(b_sp, b_dir):.1e}"
        )
    print(
        "single-patient wall time after compilation (s, median of patients): "
        + ", ".join(f"{k} {np.median(v):.3f}" for k, v in times.items())
    )

    # The patients batched: vmap over the leaves that `with_values` changes.
    batch = {k: jnp.asarray([v[k] for v in patients]) for k in base}
    vmapped = jax.jit(
        jax.vmap(lambda values: direct_solve(with_values(p0, model, values), jnp.asarray(ts)))
    )
    b_vmap = vmapped(batch)
    looped = [direct(with_values(p0, model, v), jnp.asarray(ts), RTOL, ATOL) for v in patients]
    print(f"vmapped direct_solve vs one at a time: {rel(b_vmap, jnp.stack(looped)):.1e}")

    # The differences above are each solver's own global error at rtol = atol = 1e-6 (it shrinks
    # with the tolerance): at 1e-9 the library and scipy agree much more closely.
    tight = 1e-9
    b_lib = mfo.solve(
        model, T1, saveat=mfo.every(DT), resolution=resolution, rtol=tight, atol=tight
    ).burden
    b_sp = scipy_solve(p0, ts, tight, tight)
    b_dir = direct(p0, jnp.asarray(ts), tight, tight)
    print(
        f"at rtol = atol = {tight:g}, first patient: direct vs library {rel(b_dir, b_lib):.1e}, "
        f"scipy vs library {rel(b_sp, b_lib):.1e}"
    )


if __name__ == "__main__":
    main()
