"""The model graph: organs, carriers, transfers, and the `Model` that validates them.

Topology (names, route kinds, which compartment connects to which) is static; every number is a
float64 pytree leaf addressed by a dotted path such as `"liver.growth.rate"`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import equinox as eqx
import numpy as np
import pandas as pd
from jaxtyping import ArrayLike, Float

from ._emission import AbstractEmission
from ._failure import Failure
from ._fluid import Fluid
from ._growth import AbstractGrowth
from ._params import (
    Domain,
    check_parameters,
    check_value,
    is_concrete,
    parameter,
    parameter_fields,
    to_leaf,
)
from ._route_kinds import RouteKind

__all__ = ["Organ", "Carrier", "Transfer", "Model", "parameters"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"cell_density", "lethal_burden", "whole_body", "primary", "secondary"}


def _check_name(owner: str, name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"`{owner}(name=...)` must be a string, got {type(name).__name__}.")
    if not _NAME.match(name):
        raise ValueError(
            f"`{owner}(name={name!r})` is not a valid name: use letters, digits and underscores, "
            "starting with a letter (names become dataset coordinates and parameter paths)."
        )
    if name in _RESERVED:
        raise ValueError(f"`{owner}(name={name!r})` is reserved; choose another name.")


def _check_instance(owner: str, argument: str, value: Any, cls: type, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, cls):
        hints = {
            AbstractGrowth: "a growth law instance, e.g. `mfo.Gompertz(rate=..., capacity=...)`",
            AbstractEmission: "an emission law instance, e.g. `mfo.PowerLaw(m, alpha)`",
        }
        hint = hints.get(cls, f"a `{cls.__name__}` instance")
        got = "a class" if isinstance(value, type) else type(value).__name__
        raise TypeError(f"`{owner}({argument}=...)` must be {hint}, got {got}.")


class Organ(eqx.Module):
    """A tissue compartment in which tumour grows.

    An organ holds the metastatic burden seeded into it. The one organ marked `primary=True`
    also holds the primary tumour, a separate state that starts at `initial` cells.

    **Arguments:**

    - `name`: identifier (letters, digits, underscores), e.g. `"liver"`.
    - `growth`: growth law (e.g. [`Gompertz`][metaflow_ode.Gompertz]) of the primary tumour in
      the primary organ, of the metastatic burden elsewhere.
    - `emission`: emission law (e.g. [`PowerLaw`][metaflow_ode.PowerLaw]), cells shed per day,
      or `None` for an organ that sheds nothing. Shed cells leave the organ; they follow its
      outgoing transfers.
    - `initial`: initial cells: of the primary tumour (default 1 cell) in the primary organ, of
      the metastatic burden (default 0) elsewhere.
    - `primary`: whether this organ holds the primary tumour (exactly one organ does).
    - `volume`: reference organ volume in mL, or `None`; needed for `replaced_fraction`.
    - `failure`: [`Failure`][metaflow_ode.Failure] criteria, or `None`.
    - `metastasis_growth`, `metastasis_emission`: only for the primary organ: laws of the
      metastases seeded into it, when they differ from the primary tumour's (default: the same).
    """

    name: str = eqx.field(static=True)
    growth: AbstractGrowth
    emission: AbstractEmission | None
    initial: Float[ArrayLike, ""] = parameter(
        units="cells", domain=Domain.NONNEGATIVE, description="initial cells"
    )
    primary: bool = eqx.field(static=True)
    volume: Float[ArrayLike, ""] | None = parameter(
        units="mL", domain=Domain.POSITIVE, description="reference organ volume", default=None
    )
    failure: Failure | None = None
    metastasis_growth: AbstractGrowth | None = None
    metastasis_emission: AbstractEmission | None = None

    def __init__(
        self,
        name: str,
        growth: AbstractGrowth,
        emission: AbstractEmission | None = None,
        *,
        initial: float | None = None,
        primary: bool = False,
        volume: float | None = None,
        failure: Failure | None = None,
        metastasis_growth: AbstractGrowth | None = None,
        metastasis_emission: AbstractEmission | None = None,
    ):
        _check_name("Organ", name)
        owner = f"Organ {name!r}: Organ"
        _check_instance(owner, "growth", growth, AbstractGrowth, optional=False)
        _check_instance(owner, "emission", emission, AbstractEmission, optional=True)
        _check_instance(owner, "failure", failure, Failure, optional=True)
        _check_instance(
            owner, "metastasis_growth", metastasis_growth, AbstractGrowth, optional=True
        )
        _check_instance(
            owner, "metastasis_emission", metastasis_emission, AbstractEmission, optional=True
        )
        if not isinstance(primary, bool):
            raise TypeError(f"`{owner}(primary=...)` must be True or False.")
        if not primary and (metastasis_growth is not None or metastasis_emission is not None):
            raise ValueError(
                f"`{owner}(metastasis_growth=..., metastasis_emission=...)` apply only to the "
                "primary organ; in other organs `growth` and `emission` already describe the "
                "metastases."
            )
        self.name = name
        self.growth = growth
        self.emission = emission
        self.initial = (1.0 if primary else 0.0) if initial is None else initial
        self.primary = primary
        self.volume = volume
        self.failure = failure
        self.metastasis_growth = metastasis_growth
        self.metastasis_emission = metastasis_emission

    def __check_init__(self):
        check_parameters(self)
        if self.primary and is_concrete(self.initial) and float(self.initial) <= 0:
            raise ValueError(
                f"`Organ {self.name!r}: Organ(initial=...)` of the primary organ must be > 0 "
                "cells (a primary tumour of 0 cells never grows); the default is 1 cell."
            )

    @property
    def metastasis_growth_law(self) -> AbstractGrowth:
        """The growth law of the metastases in this organ."""
        return self.metastasis_growth if self.metastasis_growth is not None else self.growth

    @property
    def metastasis_emission_law(self) -> AbstractEmission | None:
        """The emission law of the metastases in this organ."""
        if self.metastasis_emission is not None:
            return self.metastasis_emission
        return self.emission


class Carrier(eqx.Module):
    """A route compartment through which tumour cells travel (blood, lymph, CSF, a cavity...).

    Cells in a carrier die at rate `clearance` and leave along the carrier's outgoing transfers
    at each transfer's `rate`. Give the clearance either as a rate or as the `half_life` of a
    cell in transit against death (`clearance = ln 2 / half_life`). Cells spend hours in the
    blood (about 2 h) and single cells rarely survive it (about 5e-4; Franssen et al., Bull Math
    Biol 2019).

    **Arguments:**

    - `name`: identifier, e.g. `"caval_blood"`.
    - `kind`: the route kind of the carrier, e.g. [`Haematogenous`][metaflow_ode.Haematogenous].
    - `clearance`: death rate of cells in transit, in 1/day (>= 0).
    - `half_life`: alternatively, the half-life in days (> 0) against that death.
    - `volume`: carrier fluid volume in mL (> 0), or `None`; used for concentrations.
    - `fluid`: a [`Fluid`][metaflow_ode.Fluid] volume state (cavities and CSF: production,
      drainage, obstruction), or `None`. Reported as `fluid_volume`; read by
      `Failure(fluid_volume=..., fluid_rate=..., reserve=...)`.
    """

    name: str = eqx.field(static=True)
    kind: RouteKind = eqx.field(static=True)
    clearance: Float[ArrayLike, ""] = parameter(
        units="1/day", domain=Domain.NONNEGATIVE, description="death rate of cells in transit"
    )
    volume: Float[ArrayLike, ""] | None = parameter(
        units="mL", domain=Domain.POSITIVE, description="carrier fluid volume", default=None
    )
    fluid: Fluid | None = None

    def __init__(
        self,
        name: str,
        kind: RouteKind,
        *,
        clearance: float | None = None,
        half_life: float | None = None,
        volume: float | None = None,
        fluid: Fluid | None = None,
    ):
        _check_name("Carrier", name)
        owner = f"Carrier {name!r}: Carrier"
        if not isinstance(kind, RouteKind):
            raise TypeError(
                f"`{owner}(kind=...)` must be a route kind such as `mfo.Haematogenous`, "
                f"got {kind!r}."
            )
        if clearance is not None and half_life is not None:
            raise ValueError(
                f"`{owner}(clearance=..., half_life=...)`: give one of the two, not both."
            )
        if half_life is not None:
            check_value(owner, "half_life", to_leaf(half_life), Domain.POSITIVE, optional=False)
            clearance = math.log(2.0) / half_life
        self.name = name
        self.kind = kind
        _check_instance(owner, "fluid", fluid, Fluid, optional=True)
        self.clearance = 0.0 if clearance is None else clearance
        self.volume = volume
        self.fluid = fluid

    def __check_init__(self):
        check_parameters(self)


class Transfer(eqx.Module):
    """A directed dissemination edge between two compartments.

    What the numbers mean depends on the ends:

    - out of an organ, the transfer takes a `fraction` of the organ's emission (default 1;
      fractions out of one organ sum to at most 1, the rest of the shed cells is lost);
    - out of a carrier, cells leave at `rate` per day (required);
    - into an organ, a share `efficiency` of the arriving cells founds colonies (default 1; the
      seed-and-soil factor), the rest dies.

    A transfer may join two organs directly, standing for a route whose carriers are not
    modelled (the published size-structured models are written this way).

    **Arguments:**

    - `source`, `target`: names of organs or carriers.
    - `kind`: the route kind, e.g. [`Lymphatic`][metaflow_ode.Lymphatic]. Fluxes into an organ
      are reported under the kind of the transfer that delivers them.
    - `fraction`: share of the source organ's emission, dimensionless in [0, 1].
    - `rate`: outflow rate from the source carrier, in 1/day (>= 0).
    - `efficiency`: share of arriving cells that found a colony, in [0, 1].
    - `name`: identifier of the transfer in parameter paths; default `"source->target"`.
    """

    source: str = eqx.field(static=True)
    target: str = eqx.field(static=True)
    kind: RouteKind = eqx.field(static=True)
    name: str = eqx.field(static=True)
    fraction: Float[ArrayLike, ""] | None = parameter(
        units="1", domain=Domain.UNIT_INTERVAL, description="share of source emission", default=None
    )
    rate: Float[ArrayLike, ""] | None = parameter(
        units="1/day",
        domain=Domain.NONNEGATIVE,
        description="outflow rate from carrier",
        default=None,
    )
    efficiency: Float[ArrayLike, ""] | None = parameter(
        units="1",
        domain=Domain.UNIT_INTERVAL,
        description="colonisation efficiency at the target organ",
        default=None,
    )

    def __init__(
        self,
        source: str,
        target: str,
        *,
        kind: RouteKind,
        fraction: float | None = None,
        rate: float | None = None,
        efficiency: float | None = None,
        name: str | None = None,
    ):
        for argument, value in (("source", source), ("target", target)):
            if not isinstance(value, str):
                raise TypeError(
                    f"`Transfer({argument}=...)` must be the name of an organ or carrier, "
                    f"got {type(value).__name__}."
                )
        if not isinstance(kind, RouteKind):
            raise TypeError(
                f"`Transfer({source!r}, {target!r}, kind=...)` must be a route kind such as "
                f"`mfo.Haematogenous`, got {kind!r}."
            )
        if name is None:
            name = f"{source}->{target}"
        elif not isinstance(name, str) or "." in name or not name:
            raise ValueError(f"`Transfer(name={name!r})` must be a non-empty string without '.'.")
        self.source = source
        self.target = target
        self.kind = kind
        self.name = name
        self.fraction = fraction
        self.rate = rate
        self.efficiency = efficiency

    def __check_init__(self):
        check_parameters(self)


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


@dataclasses.dataclass(frozen=True)
class _ParameterEntry:
    path: str
    where: Callable[[Any], Any]
    field: dataclasses.Field
    owner: str


class Model(eqx.Module):
    """A compartment model of metastatic spread: organs, carriers and transfers.

    Construction validates the whole graph and raises a `ValueError`/`TypeError` that names the
    offending argument and says how to fix it. The model is an immutable pytree: numbers are
    float64 leaves (see [`parameters`][metaflow_ode.parameters]), topology is static, and
    [`with_parameters`][metaflow_ode.Model.with_parameters] returns a new model.

    **Arguments:**

    - `organs`: sequence of [`Organ`][metaflow_ode.Organ]; exactly one has `primary=True`.
    - `carriers`: sequence of [`Carrier`][metaflow_ode.Carrier].
    - `transfers`: sequence of [`Transfer`][metaflow_ode.Transfer].
    - `cell_density`: tumour cells per mL, default 1e9 (1e6 per mm3; Del Monte, Cell Cycle
      2009; 8:505). Converts burden to volume.
    - `lethal_burden`: whole-body burden in cells at which the patient dies, default 1e12
      (about 1 kg; Coumans, Siesling & Terstappen, BMC Cancer 2013; 13:283), or `None`.
    - `name`: a label stored in output attributes.
    """

    organs: tuple[Organ, ...]
    carriers: tuple[Carrier, ...]
    transfers: tuple[Transfer, ...]
    cell_density: Float[ArrayLike, ""] = parameter(
        units="cells/mL", domain=Domain.POSITIVE, description="tumour cells per mL"
    )
    lethal_burden: Float[ArrayLike, ""] | None = parameter(
        units="cells", domain=Domain.POSITIVE, description="whole-body lethal burden", default=None
    )
    name: str = eqx.field(static=True, default="model")

    def __init__(
        self,
        organs: Sequence[Organ],
        carriers: Sequence[Carrier] = (),
        transfers: Sequence[Transfer] = (),
        *,
        cell_density: float = 1e9,
        lethal_burden: float | None = 1e12,
        name: str = "model",
    ):
        organs = _as_tuple("organs", organs, Organ)
        carriers = _as_tuple("carriers", carriers, Carrier)
        transfers = _as_tuple("transfers", transfers, Transfer)
        if not organs:
            raise ValueError("`Model(organs=...)` is empty: give at least the primary organ.")
        if not isinstance(name, str):
            raise TypeError("`Model(name=...)` must be a string.")
        self.organs = organs
        self.carriers = carriers
        self.transfers = tuple(_resolve_transfer(t, organs, carriers) for t in transfers)
        self.cell_density = cell_density
        self.lethal_burden = lethal_burden
        self.name = name

    def __check_init__(self):
        check_parameters(self)
        _check_graph(self)
        _check_numbers(self)

    # --- names -------------------------------------------------------------------------

    @property
    def organ_names(self) -> tuple[str, ...]:
        """Names of the organs, in model order."""
        return tuple(o.name for o in self.organs)

    @property
    def carrier_names(self) -> tuple[str, ...]:
        """Names of the carriers, in model order."""
        return tuple(c.name for c in self.carriers)

    @property
    def primary_index(self) -> int:
        """Index of the primary organ in `organs`."""
        return next(i for i, o in enumerate(self.organs) if o.primary)

    @property
    def primary_organ(self) -> Organ:
        """The organ holding the primary tumour."""
        return self.organs[self.primary_index]

    # --- parameters ----------------------------------------------------------------------

    def _parameter_entries(self) -> dict[str, _ParameterEntry]:
        entries: dict[str, _ParameterEntry] = {}

        def add(prefix: str, where: Callable[[Any], Any], module: Any) -> None:
            for field in parameter_fields(module):
                if getattr(module, field.name) is None:
                    continue
                path = f"{prefix}.{field.name}" if prefix else field.name
                entries[path] = _ParameterEntry(path, where, field, type(module).__name__)

        add("", lambda m: m, self)
        for i, organ in enumerate(self.organs):
            organ_where = lambda m, i=i: m.organs[i]  # noqa: E731
            add(organ.name, organ_where, organ)
            for attr in (
                "growth",
                "emission",
                "metastasis_growth",
                "metastasis_emission",
                "failure",
            ):
                sub = getattr(organ, attr)
                if sub is not None:
                    add(
                        f"{organ.name}.{attr}",
                        lambda m, i=i, attr=attr: getattr(m.organs[i], attr),
                        sub,
                    )
        for i, carrier in enumerate(self.carriers):
            add(carrier.name, lambda m, i=i: m.carriers[i], carrier)
            if carrier.fluid is not None:
                add(f"{carrier.name}.fluid", lambda m, i=i: m.carriers[i].fluid, carrier.fluid)
        for i, transfer in enumerate(self.transfers):
            add(transfer.name, lambda m, i=i: m.transfers[i], transfer)
        return entries

    def parameter_values(self) -> dict[str, Any]:
        """A mapping from every dotted parameter path to its value (float64 array or tracer)."""
        return {
            path: getattr(entry.where(self), entry.field.name)
            for path, entry in self._parameter_entries().items()
        }

    def with_parameters(self, values: Mapping[str, ArrayLike]) -> Model:
        """Return a new model with the parameters at the given dotted paths replaced.

        Works inside `jax.jit`, `jax.vmap` and `jax.grad` (values may be tracers). Concrete
        values are checked against each parameter's domain and the graph's constraints (such as
        fractions out of an organ summing to at most 1).

        **Arguments:**

        - `values`: mapping from a path such as `"liver.growth.rate"` (see
          [`parameters`][metaflow_ode.parameters]) to a scalar.

        **Returns:** a new [`Model`][metaflow_ode.Model].
        """
        if not isinstance(values, Mapping):
            raise TypeError(
                "`Model.with_parameters(values)` takes a mapping from parameter path to value, "
                'e.g. `{"liver.growth.rate": 0.01}`.'
            )
        entries = self._parameter_entries()
        model = self
        for path, value in values.items():
            if path not in entries:
                raise ValueError(
                    f"`with_parameters`: unknown parameter path {path!r}.{_suggest(path, entries)} "
                    "`mfo.parameters(model)` lists every path; optional parameters that were not "
                    "set at construction cannot be set here."
                )
            entry = entries[path]
            leaf = to_leaf(value)
            check_value(
                f"{entry.owner} at {path!r}: {entry.owner}",
                entry.field.name,
                leaf,
                entry.field.metadata["domain"],
                optional=False,
            )
            model = eqx.tree_at(
                lambda m, entry=entry: getattr(entry.where(m), entry.field.name), model, leaf
            )
        if all(is_concrete(v) for v in values.values()):
            _check_numbers(model)
        return model


def _as_tuple(argument: str, value: Any, cls: type) -> tuple:
    if isinstance(value, (cls, str)) or not isinstance(value, Iterable):
        raise TypeError(
            f"`Model({argument}=...)` must be a list of `{cls.__name__}`, got "
            f"{type(value).__name__}; wrap a single one in a list."
        )
    items = tuple(value)
    for item in items:
        if not isinstance(item, cls):
            raise TypeError(
                f"`Model({argument}=...)` must contain only `{cls.__name__}` objects, got "
                f"{type(item).__name__}."
            )
    return items


def _resolve_transfer(
    transfer: Transfer, organs: tuple[Organ, ...], carriers: tuple[Carrier, ...]
) -> Transfer:
    """Check a transfer's ends and fill its defaults according to them."""
    organ_names = {o.name for o in organs}
    carrier_names = {c.name for c in carriers}
    known = organ_names | carrier_names
    label = f"Transfer({transfer.source!r}, {transfer.target!r})"
    for end in ("source", "target"):
        name = getattr(transfer, end)
        if name not in known:
            raise ValueError(
                f"`{label}`: unknown {end} {name!r}; it must name an organ or a carrier of the "
                f"model.{_suggest(name, known)}"
            )
    fraction, rate, efficiency = transfer.fraction, transfer.rate, transfer.efficiency
    if transfer.source in organ_names:
        if rate is not None:
            raise ValueError(
                f"`{label}(rate=...)`: out of an organ a transfer takes a `fraction` of its "
                "emission, not a rate; use `fraction=`."
            )
        fraction = 1.0 if fraction is None else fraction
    else:
        if fraction is not None:
            raise ValueError(
                f"`{label}(fraction=...)`: out of a carrier a transfer has an outflow `rate` "
                "(1/day), not a fraction; use `rate=`."
            )
        if rate is None:
            raise ValueError(
                f"`{label}`: out of carrier {transfer.source!r} a transfer needs `rate=` "
                "(outflow per day, e.g. 1 / mean transit time)."
            )
        if transfer.source == transfer.target:
            raise ValueError(
                f"`{label}`: a carrier cannot transfer to itself; remove the transfer."
            )
    if transfer.target in organ_names:
        efficiency = 1.0 if efficiency is None else efficiency
    elif efficiency is not None:
        raise ValueError(
            f"`{label}(efficiency=...)`: colonisation efficiency applies only to transfers into "
            "an organ; set it on the transfer from the carrier into the organ."
        )
    return Transfer(
        transfer.source,
        transfer.target,
        kind=transfer.kind,
        fraction=fraction,
        rate=rate,
        efficiency=efficiency,
        name=transfer.name,
    )


def _check_graph(model: Model) -> None:
    """Static checks: names, one primary, failure criteria, reachability of carrier exits."""
    seen: dict[str, str] = {}
    for kind, items in (("organ", model.organs), ("carrier", model.carriers)):
        for item in items:
            if item.name in seen:
                raise ValueError(
                    f"`Model`: the name {item.name!r} is used by more than one "
                    f"{seen[item.name]}/{kind}; names of organs and carriers must be unique."
                )
            seen[item.name] = kind
    transfer_names = [t.name for t in model.transfers]
    for name in set(transfer_names):
        if transfer_names.count(name) > 1:
            raise ValueError(
                f"`Model(transfers=...)`: two transfers are named {name!r} (the same source and "
                "target); give each a distinct `name=`."
            )
        if name in seen:
            raise ValueError(f"`Transfer(name={name!r})` clashes with an organ or carrier name.")
    primaries = [o.name for o in model.organs if o.primary]
    if len(primaries) != 1:
        raise ValueError(
            f"`Model(organs=...)` needs exactly one organ with `primary=True`, found "
            f"{len(primaries)}{' (' + ', '.join(primaries) + ')' if primaries else ''}."
        )
    for organ in model.organs:
        if organ.failure is not None and organ.failure.replaced_fraction is not None:
            if organ.volume is None:
                raise ValueError(
                    f"`Organ {organ.name!r}`: `Failure(replaced_fraction=...)` needs the organ's "
                    "`volume=` (mL); give it, or use `Failure(burden=...)`."
                )
    organ_names = set(model.organ_names)
    for carrier in model.carriers:
        fluid = carrier.fluid
        if fluid is None:
            continue
        where = f"`Carrier {carrier.name!r}: Fluid"
        for name in fluid.lining:
            if name not in organ_names:
                raise ValueError(
                    f"{where}(lining=...)`: {name!r} is not an organ of the model."
                    f"{_suggest(name, organ_names)}"
                )
        for name in fluid.obstructed_by:
            if name not in seen:
                raise ValueError(
                    f"{where}(obstructed_by=...)`: {name!r} is not an organ or carrier of the "
                    f"model.{_suggest(name, seen)}"
                )
    for organ in model.organs:
        failure_fluid(model, organ)


def failure_fluid(model: Model, organ: Organ) -> int | None:
    """Index of the carrier whose fluid the failure criteria of `organ` read, or `None`."""
    failure = organ.failure
    if failure is None:
        return None
    names = model.carrier_names
    where = f"`Organ {organ.name!r}: Failure"
    needs = failure.fluid_volume is not None or failure.fluid_rate is not None
    if failure.fluid is not None:
        if failure.fluid not in names:
            raise ValueError(
                f"{where}(fluid={failure.fluid!r})` is not a carrier of the model."
                f"{_suggest(failure.fluid, names)}"
            )
        index = names.index(failure.fluid)
        if model.carriers[index].fluid is None:
            raise ValueError(
                f"{where}(fluid={failure.fluid!r})`: that carrier has no fluid volume; give it "
                "`Carrier(..., fluid=mfo.Fluid(volume=..., production=...))`."
            )
        return index
    lined = [
        i
        for i, c in enumerate(model.carriers)
        if c.fluid is not None and organ.name in c.fluid.lining
    ]
    if len(lined) == 1:
        return lined[0]
    if needs:
        found = "none" if not lined else ", ".join(repr(names[i]) for i in lined)
        raise ValueError(
            f"{where}(fluid_volume=..., fluid_rate=...)` needs one cavity fluid: the carriers "
            f"whose `Fluid(lining=...)` names {organ.name!r} are {found}; name one with "
            "`Failure(fluid=...)`."
        )
    return None


def _first_patient(mask: np.ndarray) -> str:
    """` (patient i)` naming the first True entry of a per-patient mask; '' for scalars."""
    if np.ndim(mask) == 0:
        return ""
    return f" (patient {int(np.flatnonzero(mask)[0])})"


def _check_numbers(model: Model) -> None:
    """Value-dependent graph checks, run on concrete values only.

    Values may also be 1-D arrays over patients (a cohort, see `simulate_cohort`): every check
    then holds for each patient, and an error names the first patient that breaks it.
    """
    num = lambda x: np.asarray(x, dtype=np.float64)  # noqa: E731
    organ_names = set(model.organ_names)
    totals: dict[str, Any] = {}
    for t in model.transfers:
        if t.source in organ_names and is_concrete(t.fraction):
            totals[t.source] = totals.get(t.source, 0.0) + num(t.fraction)
    for organ, total in totals.items():
        bad = total > 1 + 1e-12
        if np.any(bad):
            worst = float(np.max(total))
            raise ValueError(
                f"`Transfer` fractions out of organ {organ!r} sum to {worst:g} > 1"
                f"{_first_patient(bad)}; they are shares of the organ's emission: scale them "
                "so they sum to at most 1."
            )
    for organ in model.organs:
        failure = organ.failure
        if failure is None or failure.fluid_volume is None:
            continue
        fluid = model.carriers[failure_fluid(model, organ)].fluid
        if is_concrete(failure.fluid_volume) and is_concrete(fluid.volume):
            bad = num(failure.fluid_volume) <= num(fluid.volume)
            if np.any(bad):
                raise ValueError(
                    f"`Organ {organ.name!r}: Failure(fluid_volume=...)` = "
                    f"{np.min(num(failure.fluid_volume)):g} mL must exceed the baseline volume "
                    f"{np.max(num(fluid.volume)):g} mL of its fluid{_first_patient(bad)}, or "
                    "the organ fails at once."
                )

    # Every carrier must reach an exit (death in transit or delivery to an organ), otherwise
    # cells accumulate forever and the quasi-steady elimination is singular. Per patient: the
    # flags are boolean arrays when the numbers are.
    def positive(x):  # a traced number counts as positive (checked when concrete)
        return True if not is_concrete(x) else num(x) > 0

    exits: dict[str, Any] = {c.name: positive(c.clearance) for c in model.carriers}
    outgoing: dict[str, list[Transfer]] = {c.name: [] for c in model.carriers}
    for t in model.transfers:
        if t.source in outgoing:
            outgoing[t.source].append(t)
            if t.target in organ_names:
                exits[t.source] = exits[t.source] | positive(t.rate)
    changed = True
    while changed:
        changed = False
        for name, edges in outgoing.items():
            for e in edges:
                if e.target in exits:
                    new = exits[name] | (exits[e.target] & positive(e.rate))
                    if np.any(new != exits[name]):
                        exits[name] = new
                        changed = True
    trapped = [c.name for c in model.carriers if not np.all(exits[c.name])]
    if trapped:
        bad = ~exits[trapped[0]]
        raise ValueError(
            f"`Model`: carrier(s) {', '.join(map(repr, trapped))} have no way out"
            f"{_first_patient(bad)}: cells that enter never die or reach an organ. Give each a "
            "`clearance=`/`half_life=` or a transfer with `rate > 0` that leads to an organ."
        )


def parameters(model: Model) -> pd.DataFrame:
    """List every parameter of `model` with its value, units and description.

    **Arguments:**

    - `model`: a [`Model`][metaflow_ode.Model].

    **Returns:** a `pandas.DataFrame` indexed by dotted path (`"liver.growth.rate"`) with
    columns `value` (float), `units`, `description` and `component` (the class it belongs to).
    """
    if not isinstance(model, Model):
        raise TypeError(f"`parameters(model)` takes a `Model`, got {type(model).__name__}.")
    rows = []
    for path, entry in model._parameter_entries().items():
        value = getattr(entry.where(model), entry.field.name)
        rows.append(
            {
                "path": path,
                "value": (
                    float(np.asarray(value))
                    if is_concrete(value) and np.ndim(value) == 0
                    else np.nan
                ),
                "units": entry.field.metadata["units"],
                "description": entry.field.metadata["description"],
                "component": entry.owner,
            }
        )
    return pd.DataFrame(rows).set_index("path")
