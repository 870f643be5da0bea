"""Interventions: resection, local ablation, systemic and intrathecal therapy, drainage, spill.

Two kinds act on a simulation (DESIGN section 2, "Interventions and stages"):

- **Jumps** change the state at one time: [`Resection`][metaflow_ode.Resection],
  [`LocalAblation`][metaflow_ode.LocalAblation], [`IatrogenicSpill`][metaflow_ode.IatrogenicSpill]
  and [`Drainage`][metaflow_ode.Drainage] (scheduled at a time `at`, or triggered when a fluid
  volume reaches a level). The solve stops there, the jump is applied, and integration restarts
  (`_simulate`: solve segments in one compiled `lax.scan`).
- **Therapies** change the vector field over a window: [`SystemicTherapy`][metaflow_ode.
  SystemicTherapy] and [`IntrathecalTherapy`][metaflow_ode.IntrathecalTherapy], with an effect
  [`KillRate`][metaflow_ode.KillRate] or [`GrowthInhibition`][metaflow_ode.GrowthInhibition],
  constant over the window or scaled by the exposure of a [`Dosing`][metaflow_ode.Dosing]
  schedule. Their start and stop times end solve segments, so the solver steps onto them.

Every time, fraction, rate and dose parameter is a pytree leaf: new values never recompile,
and `jax.vmap`/`jax.grad` work over them. Names of organs, carriers and cavities are static.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._model import Model, _suggest
from ._params import Domain, check_parameters, is_concrete, parameter

__all__ = [
    "AbstractIntervention",
    "AbstractJump",
    "AbstractEffect",
    "Resection",
    "LocalAblation",
    "IatrogenicSpill",
    "Drainage",
    "KillRate",
    "GrowthInhibition",
    "Dosing",
    "SystemicTherapy",
    "IntrathecalTherapy",
    "check_interventions",
]


def _name(owner: str, argument: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"`{owner}({argument}=...)` must be a name (str), got {value!r}.")
    return value


def _names(owner: str, argument: str, value) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise TypeError(
            f"`{owner}({argument}=...)` must be a name or a sequence of names, got {value!r}."
        )
    repeated = sorted({v for v in value if list(value).count(v) > 1})
    if repeated:
        raise ValueError(
            f"`{owner}({argument}=...)` names {repeated} more than once; name each once (a "
            "repeated name would apply the effect twice)."
        )
    return tuple(value)


def _require(model: Model, owner: str, argument: str, name: str, kinds: str) -> None:
    options = {
        "organ": model.organ_names,
        "carrier": model.carrier_names,
        "node": model.organ_names + model.carrier_names,
    }[kinds]
    if name not in options:
        what = {"organ": "an organ", "carrier": "a carrier", "node": "an organ or carrier"}[kinds]
        raise ValueError(
            f"`{owner}({argument}={name!r})` is not {what} of the model.{_suggest(name, options)}"
        )


def _concrete(value) -> float | None:
    return float(np.asarray(value)) if value is not None and is_concrete(value) else None


class AbstractIntervention(eqx.Module):
    """Base class of interventions passed to `simulate(..., interventions=[...])`."""

    def check(self, model: Model, t0: float) -> None:
        """Raise a `ValueError` if this intervention does not fit `model` (names, times)."""

    def __check_init__(self):
        check_parameters(self)


class AbstractJump(AbstractIntervention):
    """An intervention that changes the state at one time (scheduled or triggered)."""

    @abc.abstractmethod
    def apply(self, system, t, y):
        """The state right after the intervention at time `t` (pure JAX)."""

    @property
    def label(self) -> str:
        """A short description for the output dataset, e.g. `Resection(breast)`."""
        return f"{type(self).__name__}({getattr(self, 'organ', '')})"

    def _check_time(self, t0: float) -> None:
        at = _concrete(getattr(self, "at", None))
        if at is not None and at < t0:
            raise ValueError(
                f"`{type(self).__name__}(at={at:g})` is before the start of the simulation "
                f"(t0 = {t0:g} d); schedule it at or after t0."
            )


class Resection(AbstractJump):
    """Surgical resection of every lesion in `organ` at time `at` (R0 by default).

    The organ's tumour (the primary tumour, if the organ holds it, and its metastases) is
    multiplied by `residual`; with `residual = 0` (the default) it is removed and emits no
    more cells. Colonies seeded into the organ later still grow. In the colonies fidelity
    every colony of the organ is removed (or each kept with probability `residual`).

    **Arguments:**

    - `organ`: name of the organ.
    - `at`: time of the operation in days.
    - `residual`: fraction of the organ's tumour cells left behind (R1/R2 resection), in
      [0, 1]; default 0.
    """

    organ: str = eqx.field(static=True)
    at: Float[ArrayLike, ""] = parameter(
        units="day", domain=Domain.FINITE, description="time of the resection"
    )
    residual: Float[ArrayLike, ""] = parameter(
        units="1", domain=Domain.UNIT_INTERVAL, description="fraction of tumour cells left"
    )

    def __init__(self, organ: str, at: float, *, residual: float = 0.0):
        self.organ = _name("Resection", "organ", organ)
        self.at = at
        self.residual = residual

    def check(self, model, t0):
        _require(model, "Resection", "organ", self.organ, "organ")
        self._check_time(t0)

    def apply(self, system, t, y):
        return system.scale_tumour(t, y, system.organ_index(self.organ), self.residual, True)


class LocalAblation(AbstractJump):
    """Local ablation (stereotactic radiotherapy, radiofrequency ablation, metastasectomy) of
    a fraction of the metastases in `organ` at time `at`.

    Each metastatic lesion of the organ is destroyed with probability `fraction`, so the
    organ's metastatic burden and its colonies are multiplied by `1 - fraction`; the primary
    tumour is untouched (remove it with [`Resection`][metaflow_ode.Resection]). Local ablative
    therapy of oligometastatic disease (1-5 lesions) is the treatment the ESTRO-ASTRO
    consensus defines OMD for (Lievens et al., Radiother Oncol 2020; 148:157).

    Imaging-guided ablation treats only what is visible: with `visible_only=True` (colonies
    fidelity) only the colonies at or above the visible size (`Colonies(visible_diameter=)`)
    are destroyed and the occult micrometastases of the organ grow on. Colonies are resolved
    to their birth nodes there: a node's colonies count as visible when the colony born at
    the node has reached the visible size.

    **Arguments:**

    - `organ`: name of the organ.
    - `at`: time of the ablation in days.
    - `fraction`: share of the organ's (visible) metastatic lesions destroyed, in [0, 1];
      default 1.
    - `visible_only`: destroy only visible lesions (needs `resolution=mfo.Colonies(...)`);
      default `False`, every lesion of the organ.
    """

    organ: str = eqx.field(static=True)
    visible_only: bool = eqx.field(static=True)
    at: Float[ArrayLike, ""] = parameter(
        units="day", domain=Domain.FINITE, description="time of the ablation"
    )
    fraction: Float[ArrayLike, ""] = parameter(
        units="1", domain=Domain.UNIT_INTERVAL, description="share of lesions destroyed"
    )

    def __init__(self, organ: str, at: float, fraction: float = 1.0, *, visible_only: bool = False):
        if not isinstance(visible_only, bool):
            raise TypeError("`LocalAblation(visible_only=...)` must be True or False.")
        self.organ = _name("LocalAblation", "organ", organ)
        self.at = at
        self.fraction = fraction
        self.visible_only = visible_only

    def check(self, model, t0):
        _require(model, "LocalAblation", "organ", self.organ, "organ")
        self._check_time(t0)

    def apply(self, system, t, y):
        organ = system.organ_index(self.organ)
        if self.visible_only:
            return system.scale_visible(t, y, organ, 1.0 - self.fraction)
        return system.scale_tumour(t, y, organ, 1.0 - self.fraction, False)


class IatrogenicSpill(AbstractJump):
    """Tumour cells displaced by a procedure: needle track, surgical spill, shunt (iatrogenic
    dissemination; Sparrer et al., Mol Cancer 2025; 24:203).

    At time `at` a `fraction` of the tumour cells of `source` (its primary tumour and its
    metastases) leave it and are put into `target`:

    - an organ: each displaced cell founds a colony there (to model a small implantation
      probability, lower `fraction`);
    - a carrier (the peritoneal fluid, the CSF): the cells join the carrier's cells in transit
      and follow its transfers, clearance and colonisation efficiencies. With eliminated
      carriers (quasi-steady transit) the bolus is delivered at once to the organs the carrier
      feeds, in the shares of the carrier's absorbing chain.

    Cells from the primary tumour keep origin `primary`, cells from metastases `secondary`.
    The accounting totals of `Lumped(accounting=True)` do not include displaced cells.

    (The route kind of the same name, `mfo.Iatrogenic`, labels a standing transfer instead.)

    **Arguments:**

    - `source`: the organ operated on.
    - `target`: the organ or carrier the cells are displaced into.
    - `at`: time of the procedure in days.
    - `fraction`: share of the source's tumour cells displaced, in [0, 1].
    """

    source: str = eqx.field(static=True)
    target: str = eqx.field(static=True)
    at: Float[ArrayLike, ""] = parameter(
        units="day", domain=Domain.FINITE, description="time of the procedure"
    )
    fraction: Float[ArrayLike, ""] = parameter(
        units="1", domain=Domain.UNIT_INTERVAL, description="share of tumour cells displaced"
    )

    def __init__(self, source: str, target: str, at: float, fraction: float):
        self.source = _name("IatrogenicSpill", "source", source)
        self.target = _name("IatrogenicSpill", "target", target)
        if source == target:
            raise ValueError(
                f"`IatrogenicSpill({source!r}, {target!r}, ...)`: source and target are the "
                "same organ; displace the cells into another organ or a carrier."
            )
        self.at = at
        self.fraction = fraction

    @property
    def label(self) -> str:
        return f"IatrogenicSpill({self.source}->{self.target})"

    def check(self, model, t0):
        _require(model, "IatrogenicSpill", "source", self.source, "organ")
        _require(model, "IatrogenicSpill", "target", self.target, "node")
        self._check_time(t0)

    def apply(self, system, t, y):
        source = system.organ_index(self.source)
        moved = system.tumour_cells(t, y, source) * self.fraction  # (2,): primary, secondary
        y = system.scale_tumour(t, y, source, 1.0 - self.fraction, True)
        if self.target in system.topo.organs:
            target = system.organ_index(self.target)
            cells = jnp.zeros((2, system.n_organs)).at[:, target].set(moved)
            return system.deposit(t, y, cells)
        return system.inject(t, y, system.topo.carriers.index(self.target), moved)


class Drainage(AbstractJump):
    """Drainage of a cavity's fluid: paracentesis, thoracentesis, pericardiocentesis, a CSF
    shunt or external ventricular drain.

    The fluid volume of the carrier `cavity` (which needs a [`Fluid`][metaflow_ode.Fluid]) is
    set to `to` mL; its free tumour cells leave with the fluid in proportion (dynamic carriers
    only: with eliminated carriers the cells in transit are quasi-steady and not a state).
    Give exactly one of:

    - `at`: a scheduled time (days);
    - `trigger`: a volume (mL): the cavity is drained each time its fluid reaches it, at most
      `times` times (each drainage is one solve segment, so `times` is fixed at compile time).
      A failure criterion reached at the same instant is recorded before the drainage. The
      volume after drainage must be below the trigger; this is checked for concrete numbers
      only (under `jit`/`vmap` a `to` at or above the trigger drains `times` times at once).

    **Arguments:**

    - `cavity`: name of the carrier whose fluid is drained.
    - `at`: time of a scheduled drainage in days, or `None`.
    - `trigger`: fluid volume in mL that triggers drainage, or `None`.
    - `to`: fluid volume in mL after drainage (> 0); default the fluid's baseline volume.
    - `times`: with `trigger`, the most drainages performed (default 1).
    """

    cavity: str = eqx.field(static=True)
    times: int = eqx.field(static=True)
    at: Float[ArrayLike, ""] | None = parameter(
        units="day", domain=Domain.FINITE, description="time of the drainage", default=None
    )
    trigger: Float[ArrayLike, ""] | None = parameter(
        units="mL", domain=Domain.POSITIVE, description="volume triggering drainage", default=None
    )
    to: Float[ArrayLike, ""] | None = parameter(
        units="mL", domain=Domain.POSITIVE, description="volume after drainage", default=None
    )

    def __init__(
        self,
        cavity: str,
        at: float | None = None,
        *,
        trigger: float | None = None,
        to: float | None = None,
        times: int = 1,
    ):
        self.cavity = _name("Drainage", "cavity", cavity)
        if (at is None) == (trigger is None):
            raise ValueError(
                "`Drainage(...)` needs exactly one of `at=` (a time in days) and `trigger=` "
                "(a fluid volume in mL)."
            )
        if isinstance(times, bool) or not isinstance(times, (int, np.integer)) or times < 1:
            raise ValueError(f"`Drainage(times=...)` must be a positive integer, got {times!r}.")
        if at is not None and times != 1:
            raise ValueError(
                "`Drainage(times=...)` applies to triggered drainage; schedule repeated "
                "drainages as several `Drainage(cavity, at=...)`."
            )
        self.at = at
        self.trigger = trigger
        self.to = to
        self.times = int(times)

    @property
    def label(self) -> str:
        return f"Drainage({self.cavity})"

    @property
    def triggered(self) -> bool:
        """Whether the drainage is triggered by a fluid volume rather than scheduled."""
        return self.trigger is not None

    def check(self, model, t0):
        _require(model, "Drainage", "cavity", self.cavity, "carrier")
        fluid = model.carriers[model.carrier_names.index(self.cavity)].fluid
        if fluid is None:
            raise ValueError(
                f"`Drainage({self.cavity!r})`: that carrier has no fluid volume; give it "
                "`Carrier(..., fluid=mfo.Fluid(volume=..., production=...))`."
            )
        self._check_time(t0)
        trigger, to = _concrete(self.trigger), _concrete(self.to)
        baseline = _concrete(fluid.volume)
        after = baseline if to is None else to
        if trigger is not None and after is not None and not after < trigger:
            raise ValueError(
                f"`Drainage({self.cavity!r}, trigger={trigger:g})`: the volume after drainage "
                f"({after:g} mL) must be below the trigger, or it would drain again at once."
            )

    def volume_after(self, system):
        """Fluid volume after drainage in mL."""
        f = system.fluid_position(self.cavity)
        return system.fluids.volume[f] if self.to is None else jnp.asarray(self.to, jnp.float64)

    def trigger_value(self, system, t, y):
        """Crosses 0 upwards when the fluid reaches the trigger volume."""
        del t
        f = system.fluid_position(self.cavity)
        return jnp.log(jnp.maximum(y["fluid"][f], 1e-300)) - jnp.log(self.trigger)

    def apply(self, system, t, y):
        del t
        return system.drain(y, self.cavity, self.volume_after(system))


class AbstractEffect(eqx.Module):
    """Base class of the effects of a therapy on tumour cells."""

    def __check_init__(self):
        check_parameters(self)


class KillRate(AbstractEffect):
    """Cell kill at `rate` per day (log-kill: `dx/dt = g(x) - rate * x`, Skipper's log-kill
    hypothesis; Skipper, Schabel & Wilcox, Cancer Chemother Rep 1964; 35:1).

    On cells in transit (carriers) it adds to the carrier's clearance.

    **Arguments:**

    - `rate`: kill rate in 1/day at exposure 1 (>= 0).
    """

    rate: Float[ArrayLike, ""] = parameter(
        units="1/day", domain=Domain.NONNEGATIVE, description="kill rate at exposure 1"
    )

    def __init__(self, rate: float):
        self.rate = rate


class GrowthInhibition(AbstractEffect):
    """Cytostatic effect: the growth law is multiplied by `1 - fraction * exposure` (at least
    0), `dx/dt = (1 - f) g(x)`; shedding continues.

    **Arguments:**

    - `fraction`: share of growth inhibited at exposure 1, in [0, 1].
    """

    fraction: Float[ArrayLike, ""] = parameter(
        units="1", domain=Domain.UNIT_INTERVAL, description="share of growth inhibited"
    )

    def __init__(self, fraction: float):
        self.fraction = fraction


class Dosing(eqx.Module):
    """Doses every `interval` days from the therapy's start while before its stop, each
    followed by a first-order decay of exposure with `half_life` (one-compartment bolus
    pharmacokinetics). The exposure is 1 just after a single dose; doses add up:

        exposure(t) = sum over doses t_k <= t of exp(-ln 2 (t - t_k) / half_life)

    and it keeps decaying after the therapy's stop. The jumps at doses inside the window are
    left to the adaptive step-size controller.

    **Arguments:**

    - `interval`: days between doses (> 0).
    - `half_life`: elimination half-life in days (> 0).
    """

    interval: Float[ArrayLike, ""] = parameter(
        units="day", domain=Domain.POSITIVE, description="days between doses"
    )
    half_life: Float[ArrayLike, ""] = parameter(
        units="day", domain=Domain.POSITIVE, description="elimination half-life"
    )

    def __init__(self, interval: float, half_life: float):
        self.interval = interval
        self.half_life = half_life

    def __check_init__(self):
        check_parameters(self)

    def exposure(self, t, start, stop) -> Float[Array, ""]:
        """Exposure at time `t` of doses from `start` to before `stop` (dimensionless)."""
        decay = jnp.log(2.0) / self.half_life
        n_doses = jnp.ceil((stop - start) / self.interval)
        given = jnp.clip(jnp.floor((t - start) / self.interval) + 1.0, 0.0, n_doses)
        # before the first dose `t - last` would be negative and exp(...) overflow: the
        # result is 0 there anyway, but an inf times 0 would poison the gradient
        last = jnp.where(given > 0, start + (given - 1.0) * self.interval, t)
        q = jnp.exp(-decay * self.interval)
        accumulated = -jnp.expm1(given * jnp.log(q)) / -jnp.expm1(jnp.log(q))
        return jnp.where(given > 0, jnp.exp(-decay * (t - last)) * accumulated, 0.0)


class _Therapy(AbstractIntervention):
    """A therapy acting on the tumour cells of some organs and carriers over `[start, stop)`."""

    effect: AbstractEffect
    dosing: Dosing | None
    organs: tuple[str, ...] | None = eqx.field(static=True)
    carriers: tuple[str, ...] = eqx.field(static=True)
    start: Float[ArrayLike, ""] = parameter(
        units="day", domain=Domain.FINITE, description="start of the therapy"
    )
    stop: Float[ArrayLike, ""] = parameter(
        units="day", domain=Domain.FINITE, description="end of the therapy"
    )

    def _init(self, start, stop, effect, organs, carriers, dosing):
        owner = type(self).__name__
        if not isinstance(effect, AbstractEffect):
            raise TypeError(
                f"`{owner}(effect=...)` must be an effect such as `mfo.KillRate(0.05)` or "
                f"`mfo.GrowthInhibition(0.5)`, got {effect!r}."
            )
        if dosing is not None and not isinstance(dosing, Dosing):
            raise TypeError(f"`{owner}(dosing=...)` must be `mfo.Dosing(...)` or None.")
        self.start = start
        self.stop = stop
        self.effect = effect
        self.dosing = dosing
        self.organs = None if organs is None else _names(owner, "organs", organs)
        self.carriers = _names(owner, "carriers", carriers)
        if self.carriers and not isinstance(effect, KillRate):
            raise ValueError(
                f"`{owner}(carriers=...)`: only a `KillRate` acts on cells in transit; use "
                "`carriers=()` with a growth inhibition."
            )

    def check(self, model, t0):
        owner = type(self).__name__
        for organ in self.organs or ():
            _require(model, owner, "organs", organ, "organ")
        for carrier in self.carriers:
            _require(model, owner, "carriers", carrier, "carrier")
        start, stop = _concrete(self.start), _concrete(self.stop)
        if start is not None and stop is not None and not stop > start:
            raise ValueError(
                f"`{owner}(start={start:g}, stop={stop:g})`: stop must be after start."
            )
        if start is not None and start < t0:
            raise ValueError(
                f"`{owner}(start={start:g})` is before the start of the simulation (t0 = {t0:g} d)."
            )

    def organ_names(self, model: Model) -> tuple[str, ...]:
        """The organs whose tumour the therapy reaches."""
        return model.organ_names if self.organs is None else self.organs

    def exposure(self, t) -> Float[Array, ""]:
        """1 inside `[start, stop)` and 0 outside, or the dosing schedule's exposure."""
        if self.dosing is None:
            return jnp.where((t >= self.start) & (t < self.stop), 1.0, 0.0)
        return self.dosing.exposure(t, self.start, self.stop)

    def kill(self, t) -> Float[Array, ""]:
        """Kill rate in 1/day at time `t` (0 for a growth inhibition)."""
        if isinstance(self.effect, KillRate):
            return self.effect.rate * self.exposure(t)
        return jnp.zeros(())

    def inhibition(self, t) -> Float[Array, ""]:
        """Share of growth inhibited at time `t`, in [0, 1]."""
        if isinstance(self.effect, GrowthInhibition):
            return jnp.minimum(self.effect.fraction * self.exposure(t), 1.0)
        return jnp.zeros(())


class SystemicTherapy(_Therapy):
    """Systemic therapy from `start` to `stop` days: chemotherapy, targeted or endocrine therapy.

    Its `effect` ([`KillRate`][metaflow_ode.KillRate] or
    [`GrowthInhibition`][metaflow_ode.GrowthInhibition]) acts on the tumour cells of `organs`
    (default every organ, the primary tumour included), constant over `[start, stop)` or scaled
    by the exposure of a [`Dosing`][metaflow_ode.Dosing] schedule. Leave out organs the drug
    does not reach (the brain behind the blood-brain barrier). A `KillRate` can also act on the
    cells in transit in `carriers` (default none).

    In the colonies fidelity a therapy reaching metastases makes colony size depend on birth
    time and not on age alone: each birth node then carries its own size, integrated along
    its characteristic `dX/dt = (1 - f) g(X) - beta(X) - k X` (see
    [`Colonies`][metaflow_ode.Colonies]).

    **Arguments:**

    - `start`, `stop`: the therapy window in days.
    - `effect`: the effect at exposure 1.
    - `organs`: names of the organs reached, or `None` (default) for all.
    - `carriers`: names of carriers whose cells a `KillRate` kills (default none).
    - `dosing`: a [`Dosing`][metaflow_ode.Dosing] schedule, or `None` (constant effect).
    """

    def __init__(
        self,
        start: float,
        stop: float,
        effect: AbstractEffect,
        *,
        organs: Sequence[str] | None = None,
        carriers: Sequence[str] = (),
        dosing: Dosing | None = None,
    ):
        self._init(start, stop, effect, organs, carriers, dosing)


class IntrathecalTherapy(_Therapy):
    """Intrathecal therapy (methotrexate, cytarabine, thiotepa into the CSF) from `start` to
    `stop` days: acts on the free tumour cells in the CSF and on the leptomeningeal metastases,
    which systemic drugs reach poorly (Le Rhun et al., Ann Oncol 2017; 28:iv84).

    Defaults follow the names of [`anatomy.reference_model`][metaflow_ode.anatomy.
    reference_model]: `carriers=("csf",)`, `organs=("leptomeninges",)`.

    **Arguments:**

    - `start`, `stop`: the therapy window in days.
    - `effect`: the effect at exposure 1, e.g. `mfo.KillRate(0.2)`.
    - `carriers`: the CSF carriers whose cells are killed (needs a `KillRate`).
    - `organs`: the organs whose tumour is reached.
    - `dosing`: a [`Dosing`][metaflow_ode.Dosing] schedule (e.g. twice weekly), or `None`.
    """

    def __init__(
        self,
        start: float,
        stop: float,
        effect: AbstractEffect,
        *,
        carriers: Sequence[str] = ("csf",),
        organs: Sequence[str] = ("leptomeninges",),
        dosing: Dosing | None = None,
    ):
        self._init(start, stop, effect, organs, carriers, dosing)


def check_interventions(model: Model, interventions, t0: float) -> tuple[AbstractIntervention, ...]:
    """Validate `simulate(interventions=...)` against `model`; return them as a tuple."""
    if interventions is None:
        return ()
    if isinstance(interventions, AbstractIntervention):
        interventions = (interventions,)
    if not isinstance(interventions, Sequence):
        raise TypeError(
            "`simulate(interventions=...)` must be a list of interventions such as "
            "`[mfo.Resection('breast', at=365.0)]`."
        )
    for item in interventions:
        if not isinstance(item, AbstractIntervention):
            raise TypeError(
                "`simulate(interventions=...)`: each item must be an intervention "
                "(Resection, LocalAblation, IatrogenicSpill, Drainage, SystemicTherapy, "
                f"IntrathecalTherapy), got {item!r}."
            )
        item.check(model, t0)
    return tuple(interventions)
