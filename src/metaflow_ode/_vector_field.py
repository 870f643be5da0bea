"""The lumped model as one vector field `(t, y, args) -> dy/dt` for diffrax.

State (a dict pytree; origin axis 0 = primary, 1 = secondary):

- `primary`: cells of the primary tumour;
- `metastatic[O]`: metastatic cells per organ;
- `carrier[2, C]`: cells in transit per carrier and origin (dynamic carriers only);
- `colonies[2, O]`: cumulative colonies founded;
- `fluid[F]`: fluid volume (mL) of each carrier with a [`Fluid`][metaflow_ode.Fluid];
- with `Lumped(accounting=True)`, cumulative counters integrated alongside: `shed[2, O]`
  (cells shed), `arrived[2, O]` (cells arriving, colonising or not), `cleared[2, C]` (cells
  dying in transit), `lost[2, O]` (shed cells sent nowhere).

Equations, with `E[o, i]` the emission of organ `i` of origin `o` and `c[o, k]` carrier cells:

    d primary / dt   = g_p(primary) - beta_p(primary)
    d metastatic_i   = g_i(M_i) - beta_i(M_i) + sum_o colonising[o, i]
    d c[o] / dt      = F E[o] + C c[o] - exit * c[o]
    arriving[k, o]   = D_k E[o] + R_k c[o]          (k: route kind of the delivering transfer)
    colonising[k, o] = D_k,eff E[o] + R_k,eff c[o]

A colony is founded by one cell, so colonies are founded at the colonising rate (per day).
With eliminated carriers `c[o] = L^-1 F E[o]` (see `_routes`). A fluid volume follows

    dV_f / dt = p_f + s_f S_f - (p_f / V0_f) V_f / (1 + B_f / h_f)

with `S_f` the burden of its lining organs and `B_f` the obstructing cells (`_fluid.Fluid`).
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PyTree

from ._model import Model, failure_fluid
from ._routes import Rates, Topology, carrier_operator, rates, topology

ORIGINS = ("primary", "secondary")


class _LawGroup(eqx.Module):
    """Laws of one type for several organs, stacked so they apply in one vectorised call."""

    index: tuple[int, ...] = eqx.field(static=True)
    law: PyTree

    def __call__(self, x: Array) -> Array:
        return jax.vmap(lambda law, xi: law(xi))(self.law, x[jnp.asarray(self.index)])


def _group_laws(laws) -> tuple[_LawGroup, ...]:
    groups: dict = {}
    for i, law in enumerate(laws):
        if law is None:
            continue
        key = (type(law), jax.tree.structure(law))
        groups.setdefault(key, []).append((i, law))
    out = []
    for members in groups.values():
        index = tuple(i for i, _ in members)
        stacked = jax.tree.map(
            lambda *leaves: jnp.stack([jnp.asarray(v, jnp.float64) for v in leaves]),
            *[law for _, law in members],
        )
        out.append(_LawGroup(index, stacked))
    return tuple(out)


def _apply(groups: tuple[_LawGroup, ...], x: Array) -> Array:
    out = jnp.zeros_like(x)
    for group in groups:
        out = out.at[jnp.asarray(group.index)].set(group(x))
    return out


@dataclasses.dataclass(frozen=True)
class Criteria:
    """Static description of the threshold criteria: per organ, mechanism and level."""

    organ: tuple[int, ...]  # organ index, or -1 for the whole body
    level: tuple[str, ...]  # "failure", "warning" or "lethal"
    mechanism: tuple[str, ...]  # one of _failure.MECHANISMS, or "lethal_burden"
    fluid: tuple[int, ...]  # position in the fluid states of the fluid read, or -1

    def __len__(self) -> int:
        return len(self.organ)


def fluid_carriers(model: Model) -> tuple[int, ...]:
    """Indices of the carriers with a fluid-volume state, in model order."""
    return tuple(i for i, c in enumerate(model.carriers) if c.fluid is not None)


def criteria(model: Model) -> Criteria:
    organ, level, mechanism, fluid = [], [], [], []
    with_fluid = fluid_carriers(model)
    for i, o in enumerate(model.organs):
        failure = o.failure
        if failure is None:
            continue
        carrier = failure_fluid(model, o)
        position = -1 if carrier is None else with_fluid.index(carrier)
        for kind in failure.mechanisms:
            levels = ("failure",) if failure.warning is None else ("failure", "warning")
            for lv in levels:
                organ.append(i)
                level.append(lv)
                mechanism.append(kind)
                fluid.append(position)
    if model.lethal_burden is not None:
        organ.append(-1)
        level.append("lethal")
        mechanism.append("lethal_burden")
        fluid.append(-1)
    return Criteria(tuple(organ), tuple(level), tuple(mechanism), tuple(fluid))


class FluidStates(eqx.Module):
    """Parameters of the fluid-volume states, stacked over the F carriers that have one."""

    carriers: tuple[int, ...] = eqx.field(static=True)
    volume: Float[Array, " F"]
    production: Float[Array, " F"]
    secretion: Float[Array, " F"]
    obstruction: Float[Array, " F"]  # inf where drainage is never obstructed
    lining: Float[Array, "F O"]
    obstructing_organs: Float[Array, "F O"]
    obstructing_carriers: Float[Array, "F C"]

    def __init__(self, model: Model):
        self.carriers = fluid_carriers(model)
        fluids = [model.carriers[i].fluid for i in self.carriers]
        organs, carriers = model.organ_names, model.carrier_names

        def stack(values):
            return (
                jnp.stack([jnp.asarray(v, jnp.float64) for v in values])
                if values
                else (jnp.zeros((0,)))
            )

        def membership(names, groups):
            out = np.zeros((len(groups), len(names)))
            for f, group in enumerate(groups):
                for name in group:
                    if name in names:
                        out[f, names.index(name)] = 1.0
            return jnp.asarray(out)

        self.volume = stack([f.volume for f in fluids])
        self.production = stack([f.production for f in fluids])
        self.secretion = stack([f.secretion for f in fluids])
        self.obstruction = stack(
            [jnp.inf if f.obstruction is None else f.obstruction for f in fluids]
        )
        self.lining = membership(organs, [f.lining for f in fluids])
        self.obstructing_organs = membership(organs, [f.obstructed_by for f in fluids])
        self.obstructing_carriers = membership(carriers, [f.obstructed_by for f in fluids])

    def rate(self, volume, burden, carrier) -> Float[Array, " F"]:
        """dV/dt in mL/day, given volumes, organ burdens and carrier cells `[2, C]`."""
        serosa = self.lining @ burden
        blocking = self.obstructing_organs @ burden + self.obstructing_carriers @ carrier.sum(0)
        drainage = self.production / self.volume * volume / (1.0 + blocking / self.obstruction)
        return self.production + self.secretion * serosa - drainage


class LumpedSystem(eqx.Module):
    """Everything the lumped vector field needs, assembled from a model inside `jit`."""

    topo: Topology = eqx.field(static=True)
    dynamic_carriers: bool = eqx.field(static=True)
    accounting: bool = eqx.field(static=True)
    criteria: Criteria = eqx.field(static=True)
    primary_growth: PyTree
    primary_emission: PyTree
    growth: tuple[_LawGroup, ...]
    emission: tuple[_LawGroup, ...]
    rates: Rates
    carrier_operator: Float[Array, "C O"]
    colonise_direct: Float[Array, "O O"]
    colonise_via: Float[Array, "O C"]
    colonise_eliminated: Float[Array, "O O"]
    thresholds: Float[Array, " N"]
    fluids: FluidStates
    cell_density: Float[Array, ""]
    therapies: tuple
    therapy_organs: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    therapy_carriers: tuple[tuple[int, ...], ...] = eqx.field(static=True)

    def __init__(
        self,
        model: Model,
        *,
        dynamic_carriers: bool,
        accounting: bool = False,
        therapies: tuple = (),
    ):
        self.topo = topology(model)
        self.dynamic_carriers = dynamic_carriers
        self.accounting = accounting
        self.criteria = criteria(model)
        primary = model.primary_organ
        self.primary_growth = primary.growth
        self.primary_emission = primary.emission
        self.growth = _group_laws([o.metastasis_growth_law for o in model.organs])
        self.emission = _group_laws([o.metastasis_emission_law for o in model.organs])
        self.rates = rates(model, self.topo)
        self.carrier_operator = carrier_operator(self.rates)
        # The right-hand side needs colonisation summed over route kinds only (the per-kind
        # split is an output): [target, source] and [target, carrier] operators, and with
        # quasi-steady carriers one organ-to-organ operator, `direct + via L^-1 F`.
        self.colonise_direct = self.rates.organ_to_organ_colonising.sum(axis=0)
        self.colonise_via = self.rates.carrier_to_organ_colonising.sum(axis=0)
        self.colonise_eliminated = self.colonise_direct + self.colonise_via @ self.carrier_operator
        self.fluids = FluidStates(model)
        self.thresholds = _thresholds(model, self.criteria, self.fluids)
        self.cell_density = jnp.asarray(model.cell_density, jnp.float64)
        self.therapies = tuple(therapies)
        self.therapy_organs = tuple(
            tuple(model.organ_names.index(n) for n in th.organ_names(model)) for th in therapies
        )
        self.therapy_carriers = tuple(
            tuple(model.carrier_names.index(n) for n in th.carriers) for th in therapies
        )

    @property
    def n_organs(self) -> int:
        return len(self.topo.organs)

    @property
    def n_carriers(self) -> int:
        return len(self.topo.carriers)

    # --- pieces of the right-hand side ------------------------------------------------------

    def primary_onehot(self) -> Array:
        return jnp.zeros(self.n_organs).at[self.topo.primary].set(1.0)

    # --- the metastases: one lumped burden per organ (overridden by the colonies fidelity) ---

    def metastatic_burden(self, t, y) -> Float[Array, " O"]:
        """Metastatic cells per organ."""
        del t
        return y["metastatic"]

    def metastatic_emission(self, t, y) -> Float[Array, " O"]:
        """Cells shed per day by the metastases of each organ."""
        del t
        return _apply(self.emission, y["metastatic"])

    def metastatic_derivatives(self, t, y, emissions, colonising) -> dict:
        """Time derivatives of the metastatic states, given emissions and colonising rates."""
        growth = _apply(self.growth, y["metastatic"])
        if self.therapies:
            kill, keep, _ = self.therapy_effects(t)
            growth = keep * growth - kill * y["metastatic"]
        return {"metastatic": growth - emissions[1] + colonising.sum(axis=0)}

    def metastatic_initial_state(self, model: Model) -> dict:
        metastatic = jnp.stack(
            [jnp.asarray(0.0 if o.primary else o.initial, jnp.float64) for o in model.organs]
        )
        return {"metastatic": metastatic}

    # --- shared by both fidelities -----------------------------------------------------------

    def emissions(self, t, y) -> Float[Array, "2 O"]:
        """Cells shed per day, by origin and organ."""
        if self.primary_emission is None:
            from_primary = jnp.zeros(self.n_organs)
        else:
            from_primary = self.primary_onehot() * self.primary_emission(y["primary"])
        return jnp.stack([from_primary, self.metastatic_emission(t, y)])

    def carrier_cells(self, t, y, emissions) -> Float[Array, "2 C"]:
        """Cells in transit per origin and carrier: states, or quasi-steady if eliminated."""
        if self.dynamic_carriers:
            return y["carrier"]
        return emissions @ self.transit_operator(t).T

    def transit_operator(self, t) -> Float[Array, "C O"]:
        """Quasi-steady carrier cells per unit emission (`L^-1 F`, days) at time `t`: therapy
        killing cells in transit adds to the carriers' clearance."""
        if not self.has_carrier_kill:
            return self.carrier_operator
        return jnp.linalg.solve(self.transit_matrix(t), self.rates.organ_to_carrier)

    def transit_matrix(self, t) -> Float[Array, "C C"]:
        """`L = diag(exit + kill in transit) - C` at time `t` (1/day)."""
        exit_rate = self.rates.carrier_exit
        if self.has_carrier_kill:
            exit_rate = exit_rate + self.therapy_effects(t)[2]
        return jnp.diag(exit_rate) - self.rates.carrier_to_carrier

    # --- therapies and interventions -----------------------------------------------------------

    @property
    def has_carrier_kill(self) -> bool:
        return any(self.therapy_carriers)

    def therapy_effects(self, t):
        """Kill rate per organ (1/day), growth multiplier per organ, kill rate per carrier."""
        kill = jnp.zeros(self.n_organs)
        keep = jnp.ones(self.n_organs)
        carrier_kill = jnp.zeros(self.n_carriers)
        for therapy, organs, carriers in zip(
            self.therapies, self.therapy_organs, self.therapy_carriers, strict=True
        ):
            index = jnp.asarray(organs, dtype=int)
            rate = therapy.kill(t)
            kill = kill.at[index].add(rate)
            keep = keep.at[index].multiply(1.0 - therapy.inhibition(t))
            if carriers:
                carrier_kill = carrier_kill.at[jnp.asarray(carriers, dtype=int)].add(rate)
        return kill, keep, carrier_kill

    def organ_index(self, name: str) -> int:
        return self.topo.organs.index(name)

    def fluid_position(self, carrier: str) -> int:
        """Position of `carrier` among the fluid states."""
        return self.fluids.carriers.index(self.topo.carriers.index(carrier))

    def scale_tumour(self, t, y, organ: int, factor, primary: bool) -> dict:
        """Multiply the metastases of `organ` (and its primary tumour, if `primary`) by
        `factor`."""
        del t
        y = dict(y)
        y["metastatic"] = y["metastatic"].at[organ].multiply(factor)
        if primary and organ == self.topo.primary:
            y["primary"] = y["primary"] * factor
        return y

    def tumour_cells(self, t, y, organ: int) -> Float[Array, " 2"]:
        """Cells of the primary tumour and of the metastases in `organ`."""
        primary = y["primary"] if organ == self.topo.primary else jnp.zeros(())
        return jnp.stack([primary, self.metastatic_burden(t, y)[organ]])

    def deposit(self, t, y, cells) -> dict:
        """Put `cells[origin, organ]` into organs at `t`, each cell founding a colony."""
        del t
        y = dict(y)
        y["colonies"] = y["colonies"] + cells
        y["metastatic"] = y["metastatic"] + cells.sum(axis=0)
        return y

    def inject(self, t, y, carrier: int, cells) -> dict:
        """Put `cells[origin]` into `carrier` at `t`: states if dynamic, else delivered at once
        through the carrier's absorbing chain."""
        if self.dynamic_carriers:
            y = dict(y)
            y["carrier"] = y["carrier"].at[:, carrier].add(cells)
            return y
        unit = jnp.zeros(self.n_carriers).at[carrier].set(1.0)
        resident = jnp.linalg.solve(self.transit_matrix(t), unit)
        share = jnp.einsum("ktc,c->t", self.rates.carrier_to_organ_colonising, resident)
        return self.deposit(t, y, cells[:, None] * share[None, :])

    def drain(self, y, cavity: str, volume) -> dict:
        """Set the fluid of `cavity` to `volume` mL; its cells in transit leave in proportion."""
        f = self.fluid_position(cavity)
        y = dict(y)
        before = y["fluid"][f]
        y["fluid"] = y["fluid"].at[f].set(volume)
        if self.dynamic_carriers:
            c = self.topo.carriers.index(cavity)
            y["carrier"] = y["carrier"].at[:, c].multiply(volume / before)
        return y

    def arrivals(self, emissions, carrier, *, colonising: bool) -> Float[Array, "K 2 O"]:
        """Cells per day arriving in (or colonising) each organ, by route kind and origin."""
        r = self.rates
        direct = r.organ_to_organ_colonising if colonising else r.organ_to_organ
        via = r.carrier_to_organ_colonising if colonising else r.carrier_to_organ
        return jnp.einsum("kts,os->kot", direct, emissions) + jnp.einsum(
            "ktc,oc->kot", via, carrier
        )

    def organ_burden(self, t, y) -> Float[Array, " O"]:
        return self.metastatic_burden(t, y) + y["primary"] * self.primary_onehot()

    def largest_lesion(self, t, y) -> Float[Array, " O"]:
        """Cells of the largest lesion per organ (the colonies fidelity resolves lesions)."""
        raise NotImplementedError("largest_lesion needs the colonies fidelity")

    def fluid_rate(self, t, y) -> Float[Array, " F"]:
        """Rate of change of each fluid volume, mL/day."""
        E = self.emissions(t, y)
        c = self.carrier_cells(t, y, E)
        return self.fluids.rate(y["fluid"], self.organ_burden(t, y), c)

    def criterion_values(self, t, y) -> Float[Array, " N"]:
        """One value per criterion that crosses 0 upwards at its threshold.

        `log(value / threshold)` for burdens, lesions, volumes and the reserve (they span
        orders of magnitude); `rate / threshold - 1` for rates of rise (which may be < 0).
        """
        crit = self.criteria
        if not len(crit):
            return jnp.zeros((0,))
        mechanism = np.asarray(crit.mechanism)
        organ = jnp.asarray(np.maximum(crit.organ, 0))
        fluid = np.asarray(crit.fluid)
        burden = self.organ_burden(t, y)
        organ_burden = burden[organ]
        value = jnp.where(mechanism == "lethal_burden", jnp.sum(burden), organ_burden)
        if "largest_lesion" in crit.mechanism:
            value = jnp.where(
                mechanism == "largest_lesion", self.largest_lesion(t, y)[organ], value
            )
        if self.fluids.carriers:
            f = jnp.asarray(np.maximum(fluid, 0))
            volume = y["fluid"][f]
            excess = jnp.where(fluid >= 0, volume - self.fluids.volume[f], 0.0)
            value = jnp.where(mechanism == "fluid_volume", volume, value)
            value = jnp.where(
                mechanism == "reserve", organ_burden / self.cell_density + excess, value
            )
        else:
            value = jnp.where(mechanism == "reserve", organ_burden / self.cell_density, value)
        out = jnp.log(jnp.maximum(value, 1e-300)) - jnp.log(self.thresholds)
        if "fluid_rate" in crit.mechanism:
            rate = self.fluid_rate(t, y)[jnp.asarray(np.maximum(fluid, 0))]
            out = jnp.where(mechanism == "fluid_rate", rate / self.thresholds - 1.0, out)
        return out

    def colonising(self, t, emissions, carrier) -> Float[Array, "2 O"]:
        """Colonies founded per day in each organ, by origin (summed over route kinds)."""
        if not self.dynamic_carriers and not self.has_carrier_kill:
            return emissions @ self.colonise_eliminated.T
        return emissions @ self.colonise_direct.T + carrier @ self.colonise_via.T

    def __call__(self, t, y, args):
        del args
        E = self.emissions(t, y)
        c = self.carrier_cells(t, y, E)
        colonising = self.colonising(t, E, c)
        primary_growth = self.primary_growth(y["primary"])
        if self.therapies:
            kill, keep, carrier_kill = self.therapy_effects(t)
            p = self.topo.primary
            primary_growth = keep[p] * primary_growth - kill[p] * y["primary"]
        dy = {
            "primary": (
                primary_growth - (0.0 if self.primary_emission is None else E[0, self.topo.primary])
            ),
            "colonies": colonising,
            **self.metastatic_derivatives(t, y, E, colonising),
        }
        if self.fluids.carriers:
            dy["fluid"] = self.fluids.rate(y["fluid"], self.organ_burden(t, y), c)
        if self.accounting:
            dy["shed"] = E
            dy["arrived"] = self.arrivals(E, c, colonising=False).sum(axis=0)
            clearance = self.rates.clearance
            if self.has_carrier_kill:
                clearance = clearance + carrier_kill
            dy["cleared"] = c * clearance
            dy["lost"] = E * self.rates.lost_fraction
        if self.dynamic_carriers:
            r = self.rates
            exit_rate = r.carrier_exit + carrier_kill if self.has_carrier_kill else r.carrier_exit
            dy["carrier"] = E @ r.organ_to_carrier.T + c @ r.carrier_to_carrier.T - c * exit_rate
        return dy

    def initial_state(self, model: Model):
        n_o, n_c = self.n_organs, self.n_carriers
        zeros_o = jnp.zeros((2, n_o))
        y0 = {
            "primary": jnp.asarray(model.primary_organ.initial, jnp.float64),
            "colonies": zeros_o,
            **self.metastatic_initial_state(model),
        }
        if self.accounting:
            y0.update(shed=zeros_o, arrived=zeros_o, cleared=jnp.zeros((2, n_c)), lost=zeros_o)
        if self.dynamic_carriers:
            y0["carrier"] = jnp.zeros((2, n_c))
        if self.fluids.carriers:
            y0["fluid"] = self.fluids.volume
        return y0


def _thresholds(model: Model, crit: Criteria, fluids: FluidStates) -> Array:
    values = []
    for organ_index, level, mechanism, f in zip(
        crit.organ, crit.level, crit.mechanism, crit.fluid, strict=True
    ):
        if level == "lethal":
            values.append(jnp.asarray(model.lethal_burden, jnp.float64))
            continue
        organ = model.organs[organ_index]
        failure = organ.failure
        if mechanism == "burden":
            candidates = []
            if failure.burden is not None:
                candidates.append(jnp.asarray(failure.burden, jnp.float64))
            if failure.replaced_fraction is not None:
                candidates.append(failure.replaced_fraction * model.cell_density * organ.volume)
            value = candidates[0] if len(candidates) == 1 else jnp.minimum(*candidates)
        else:
            value = jnp.asarray(getattr(failure, mechanism), jnp.float64)
        if level == "warning":
            if mechanism == "fluid_volume":
                # threatened halfway from the baseline volume to the failure volume
                baseline = fluids.volume[f]
                value = baseline + failure.warning * (value - baseline)
            else:
                value = failure.warning * value
        values.append(value)
    return jnp.stack(values) if values else jnp.zeros((0,))
