"""Model files: a [`Model`][metaflow_ode.Model] and its interventions as TOML.

The format is documented in `docs/model-files.md`. Writing is exact: every number is a float64
written by `tomli_w` with `repr`, which reads back to the same bits, so
`model_from_toml(model_to_toml(model)).model` equals `model` leaf for leaf. Reading validates
the file before the model constructors see it, and every error is a
[`ModelFileError`][metaflow_ode.ModelFileError] naming the file, the field and the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import pathlib
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import tomli_w

from . import _route_kinds
from ._atomic import write_atomic
from ._emission import AbstractEmission, PowerLaw
from ._failure import MECHANISMS, Failure
from ._fluid import Fluid
from ._growth import (
    AbstractGrowth,
    Exponential,
    GeneralisedLogistic,
    Gompertz,
    Logistic,
    PowerGrowth,
    VonBertalanffy,
)
from ._interventions import (
    AbstractEffect,
    AbstractIntervention,
    Dosing,
    Drainage,
    GrowthInhibition,
    IatrogenicSpill,
    IntrathecalTherapy,
    KillRate,
    LocalAblation,
    Resection,
    SystemicTherapy,
)
from ._model import Carrier, Model, Organ, Transfer
from ._params import parameter_fields
from ._resolution.conduits import conduit
from ._route_kinds import ROUTE_KINDS, RouteKind

__all__ = [
    "FORMAT",
    "VERSION",
    "ModelFile",
    "ModelFileError",
    "model_from_toml",
    "model_to_toml",
    "read_model",
    "write_model",
]

FORMAT = "metaflow_ode model"
"""The value of the `format` key that marks a metaflow_ode model file."""

VERSION = 1
"""The version of the model-file format written (and the newest one read)."""

GROWTH_LAWS: dict[str, type[AbstractGrowth]] = {
    cls.__name__: cls
    for cls in (Exponential, Logistic, Gompertz, GeneralisedLogistic, VonBertalanffy, PowerGrowth)
}
EMISSION_LAWS: dict[str, type[AbstractEmission]] = {"PowerLaw": PowerLaw}
EFFECTS: dict[str, type[AbstractEffect]] = {
    "KillRate": KillRate,
    "GrowthInhibition": GrowthInhibition,
}
INTERVENTIONS: dict[str, type[AbstractIntervention]] = {
    cls.__name__: cls
    for cls in (
        Resection,
        LocalAblation,
        IatrogenicSpill,
        Drainage,
        SystemicTherapy,
        IntrathecalTherapy,
    )
}

# Route kinds by their output name ("haematogenous") and by their Python name
# ("Haematogenous"); files are written with the output name.
_KIND_NAMES: dict[str, RouteKind] = {kind.name: kind for kind in ROUTE_KINDS}
_KIND_ALIASES: dict[str, RouteKind] = {
    name: kind
    for name, kind in vars(_route_kinds).items()
    if isinstance(kind, RouteKind) and kind in ROUTE_KINDS
}

_TOP_KEYS = (
    "format",
    "version",
    "name",
    "cell_density",
    "lethal_burden",
    "organs",
    "carriers",
    "transfers",
    "conduits",
    "interventions",
)
_ORGAN_KEYS = (
    "name",
    "primary",
    "initial",
    "volume",
    "growth",
    "emission",
    "failure",
    "metastasis_growth",
    "metastasis_emission",
)
_FAILURE_NUMBERS = (
    "burden",
    "replaced_fraction",
    "largest_lesion",
    "fluid_volume",
    "fluid_rate",
    "reserve",
)
_FAILURE_KEYS = (*_FAILURE_NUMBERS, "fluid", "warning", "labels", "lethal")
_CARRIER_KEYS = ("name", "kind", "clearance", "half_life", "volume", "fluid")
_FLUID_KEYS = ("volume", "production", "secretion", "obstruction", "lining", "obstructed_by")
_TRANSFER_KEYS = ("source", "target", "kind", "fraction", "rate", "efficiency", "name")
_CONDUIT_KEYS = (
    "name",
    "source",
    "target",
    "kind",
    "length",
    "speed",
    "stages",
    "half_life",
    "fraction",
    "rate",
    "efficiency",
)
_KIND_KEYS = ("name", "long_name", "family", "cns")
_INTERVENTION_KEYS: dict[str, tuple[str, ...]] = {
    "Resection": ("type", "organ", "at", "residual"),
    "LocalAblation": ("type", "organ", "at", "fraction", "visible_only"),
    "IatrogenicSpill": ("type", "source", "target", "at", "fraction"),
    "Drainage": ("type", "cavity", "at", "trigger", "to", "times"),
    "SystemicTherapy": ("type", "start", "stop", "effect", "organs", "carriers", "dosing"),
    "IntrathecalTherapy": ("type", "start", "stop", "effect", "organs", "carriers", "dosing"),
}
_INTERVENTION_REQUIRED: dict[str, tuple[str, ...]] = {
    "Resection": ("organ", "at"),
    "LocalAblation": ("organ", "at"),
    "IatrogenicSpill": ("source", "target", "at", "fraction"),
    "Drainage": ("cavity",),
    "SystemicTherapy": ("start", "stop", "effect"),
    "IntrathecalTherapy": ("start", "stop", "effect"),
}


class ModelFileError(ValueError):
    """A model file that cannot be read: bad TOML, an unknown or missing key, a wrong type, a
    bad reference or a value the model constructors reject.

    The message is one line, `"{source}: {field}: {problem}; {fix}"`, e.g.
    `breast.toml: organs[2].growth.law: unknown growth law "gompertzz"; use one of
    Exponential, Logistic, Gompertz, ... (did you mean "Gompertz"?)`. Field paths count array
    entries from 0.

    **Attributes:**

    - `source`: the file (or the `source=` label of a string).
    - `field`: the path of the offending field, e.g. `"transfers[2].kind"`; for TOML syntax
      errors `"line L, column C"`.
    - `problem`: what is wrong, with the fix.
    """

    def __init__(self, source: str, field: str, problem: str):
        self.source = source
        self.field = field
        self.problem = " ".join(problem.split())
        super().__init__(f"{source}: {field}: {self.problem}")

    def __reduce__(self):
        # The default pickles `self.args` (the message), which `__init__` does not take.
        return (type(self), (self.source, self.field, self.problem))


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """The contents of a model file, as returned by
    [`read_model`][metaflow_ode.read_model] and [`model_from_toml`][metaflow_ode.model_from_toml].

    **Attributes:**

    - `model`: the [`Model`][metaflow_ode.Model].
    - `interventions`: tuple of interventions (`Resection`, `SystemicTherapy`, ...) to pass to
      `simulate(model, ..., interventions=...)`; empty when the file has none.
    - `path`: the file read, as a `pathlib.Path`, or `None` for a string.
    """

    model: Model
    interventions: tuple[AbstractIntervention, ...] = ()
    path: pathlib.Path | None = None


# --- writing ---------------------------------------------------------------------------------


def _number(owner: str, name: str, value: Any) -> float:
    if isinstance(value, jax.core.Tracer):
        raise ValueError(
            f"`model_to_toml`: {owner}.{name} is a traced value; write the model outside "
            "`jax.jit`/`jax.vmap`/`jax.grad`."
        )
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 0:
        raise ValueError(
            f"`model_to_toml`: {owner}.{name} has shape {array.shape}; a model file holds one "
            "value per parameter (write one model per patient)."
        )
    return float(array)


def _class_name(obj: Any, registry: Mapping[str, type], what: str) -> str:
    name = type(obj).__name__
    if registry.get(name) is not type(obj):
        raise TypeError(
            f"`model_to_toml`: {what} {type(obj).__module__}.{type(obj).__qualname__} cannot be "
            f"written to a model file; the format knows {', '.join(registry)}."
        )
    return name


def _numbers(obj: Any, owner: str) -> dict[str, Any]:
    """The parameter fields of `obj` that are set, as floats, in declaration order."""
    out: dict[str, Any] = {}
    for field in parameter_fields(obj):
        value = getattr(obj, field.name)
        if value is not None:
            out[field.name] = _number(owner, field.name, value)
    return out


def _law_table(law: Any, registry: Mapping[str, type], what: str, key: str, owner: str) -> dict:
    name = _class_name(law, registry, what)
    return {key: name, **_numbers(law, f"{owner}.{name}")}


def _kind_value(kind: RouteKind) -> Any:
    if _KIND_NAMES.get(kind.name) == kind:
        return kind.name
    return {
        "name": kind.name,
        "long_name": kind.long_name,
        "family": kind.family,
        "cns": kind.cns,
    }


def _failure_table(failure: Failure, owner: str) -> dict:
    if type(failure) is not Failure:
        raise TypeError(f"`model_to_toml`: {owner}.failure is a {type(failure).__qualname__}.")
    table: dict[str, Any] = {}
    for name in _FAILURE_NUMBERS:
        value = getattr(failure, name)
        if value is not None:
            table[name] = _number(f"{owner}.failure", name, value)
    if failure.fluid is not None:
        table["fluid"] = failure.fluid
    table["warning"] = (
        False
        if failure.warning is None
        else _number(f"{owner}.failure", "warning", failure.warning)
    )
    if failure.labels:
        table["labels"] = dict(failure.labels)
    table["lethal"] = failure.lethal
    return table


def _organ_table(organ: Organ) -> dict:
    if type(organ) is not Organ:
        raise TypeError(f"`model_to_toml`: {type(organ).__qualname__} is not an `Organ`.")
    owner = f"organ {organ.name!r}"
    table: dict[str, Any] = {"name": organ.name, "primary": organ.primary}
    table["initial"] = _number(owner, "initial", organ.initial)
    if organ.volume is not None:
        table["volume"] = _number(owner, "volume", organ.volume)
    table["growth"] = _law_table(organ.growth, GROWTH_LAWS, "growth law", "law", owner)
    if organ.emission is not None:
        table["emission"] = _law_table(organ.emission, EMISSION_LAWS, "emission law", "law", owner)
    if organ.failure is not None:
        table["failure"] = _failure_table(organ.failure, owner)
    if organ.metastasis_growth is not None:
        table["metastasis_growth"] = _law_table(
            organ.metastasis_growth, GROWTH_LAWS, "growth law", "law", owner
        )
    if organ.metastasis_emission is not None:
        table["metastasis_emission"] = _law_table(
            organ.metastasis_emission, EMISSION_LAWS, "emission law", "law", owner
        )
    return table


def _carrier_table(carrier: Carrier) -> dict:
    if type(carrier) is not Carrier:
        raise TypeError(f"`model_to_toml`: {type(carrier).__qualname__} is not a `Carrier`.")
    owner = f"carrier {carrier.name!r}"
    table: dict[str, Any] = {"name": carrier.name, "kind": _kind_value(carrier.kind)}
    table["clearance"] = _number(owner, "clearance", carrier.clearance)
    if carrier.volume is not None:
        table["volume"] = _number(owner, "volume", carrier.volume)
    fluid = carrier.fluid
    if fluid is not None:
        if type(fluid) is not Fluid:
            raise TypeError(f"`model_to_toml`: {owner}.fluid is a {type(fluid).__qualname__}.")
        table["fluid"] = _numbers(fluid, f"{owner}.fluid")
        if fluid.lining:
            table["fluid"]["lining"] = list(fluid.lining)
        if fluid.obstructed_by:
            table["fluid"]["obstructed_by"] = list(fluid.obstructed_by)
    return table


def _transfer_table(transfer: Transfer) -> dict:
    if type(transfer) is not Transfer:
        raise TypeError(f"`model_to_toml`: {type(transfer).__qualname__} is not a `Transfer`.")
    table: dict[str, Any] = {
        "source": transfer.source,
        "target": transfer.target,
        "kind": _kind_value(transfer.kind),
    }
    table.update(_numbers(transfer, f"transfer {transfer.name!r}"))
    if transfer.name != f"{transfer.source}->{transfer.target}":
        table["name"] = transfer.name
    return table


def _intervention_table(item: Any, index: int) -> dict:
    name = _class_name(item, INTERVENTIONS, "intervention")
    owner = f"interventions[{index}]"
    table: dict[str, Any] = {"type": name}
    if isinstance(item, (SystemicTherapy, IntrathecalTherapy)):
        table["start"] = _number(owner, "start", item.start)
        table["stop"] = _number(owner, "stop", item.stop)
        table["effect"] = _law_table(item.effect, EFFECTS, "therapy effect", "type", owner)
        table["organs"] = "all" if item.organs is None else list(item.organs)
        table["carriers"] = list(item.carriers)
        if item.dosing is not None:
            if type(item.dosing) is not Dosing:
                raise TypeError(
                    f"`model_to_toml`: {owner}.dosing is a {type(item.dosing).__qualname__}."
                )
            table["dosing"] = _numbers(item.dosing, f"{owner}.dosing")
        return table
    for key in _INTERVENTION_KEYS[name][1:]:
        value = getattr(item, key)
        if value is None:
            continue
        if isinstance(value, (str, bool, int)):
            table[key] = value
        else:
            table[key] = _number(owner, key, value)
    return table


def _as_interventions(interventions: Any) -> tuple:
    if interventions is None:
        return ()
    if isinstance(interventions, AbstractIntervention):
        return (interventions,)
    if isinstance(interventions, (str, Mapping)) or not isinstance(interventions, Sequence):
        raise TypeError(
            "`model_to_toml(interventions=...)` must be a list of interventions such as "
            f"`[mfo.Resection('breast', at=365.0)]`, got {type(interventions).__name__}."
        )
    return tuple(interventions)


def _literal(value: Any) -> str:
    """`value` as a TOML literal on one line (tables inline)."""
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = ", ".join(f"{_key(k)} = {_literal(v)}" for k, v in value.items())
        return "{ " + items + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = ") :].rstrip("\n")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _literal(key)


# Characters a TOML comment cannot hold: control characters other than tab, and a carriage
# return that does not end a line.
_COMMENT_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")


def _comment(text: str) -> list[str]:
    if not isinstance(text, str):
        raise TypeError(f"`model_to_toml(comment=...)` must be text, got {type(text).__name__}.")
    bad = _COMMENT_FORBIDDEN.search(text)
    if bad:
        raise ValueError(
            f"`model_to_toml(comment=...)` holds the control character {bad.group()[0]!r} at "
            f"position {bad.start()}, which a TOML comment cannot hold; remove it."
        )
    return [f"# {line}".rstrip() for line in text.split("\n")]


def model_to_toml(
    model: Model,
    *,
    interventions: Sequence[AbstractIntervention] = (),
    comment: str | None = None,
) -> str:
    """Write `model` (and optionally interventions) as the text of a model file.

    Every number is written with `repr` of its float64 value, so reading the text back with
    [`model_from_toml`][metaflow_ode.model_from_toml] gives a model equal to `model` in every
    bit. Every value that is set is written, defaults included, so the file does not depend on
    the defaults of a later version; optional values that are `None` (their default) are left
    out, or written as `false` where the default is not `None`.

    **Arguments:**

    - `model`: the [`Model`][metaflow_ode.Model].
    - `interventions`: interventions to store with it (`Resection`, `SystemicTherapy`, ...).
    - `comment`: text written as `#` comment lines at the top of the file, or `None`.

    **Returns:** the TOML text.

    **Raises:** `TypeError` for an object the format cannot represent (a user-defined subclass
    of a growth law, an intervention of an unknown class), naming it; `ValueError` for a
    parameter that is not one concrete number (traced, or per patient), for an intervention
    that does not fit `model` (an unknown organ or carrier) and for a `comment` holding
    control characters.
    """
    if not isinstance(model, Model):
        raise TypeError(f"`model_to_toml(model)` takes a `Model`, got {type(model).__name__}.")
    interventions = _as_interventions(interventions)
    for item in interventions:
        if isinstance(item, AbstractIntervention):
            # what `model_from_toml` checks, so that the text always reads back; -inf: the
            # start time of a simulation is not known here
            item.check(model, -math.inf)
    lines: list[str] = []
    if comment:
        lines += [*_comment(comment), ""]
    top = {
        "format": FORMAT,
        "version": VERSION,
        "name": model.name,
        "cell_density": _number("model", "cell_density", model.cell_density),
        "lethal_burden": (
            False
            if model.lethal_burden is None
            else _number("model", "lethal_burden", model.lethal_burden)
        ),
    }
    lines += [f"{k} = {_literal(v)}" for k, v in top.items()]
    sections = (
        ("organs", [_organ_table(o) for o in model.organs]),
        ("carriers", [_carrier_table(c) for c in model.carriers]),
        ("transfers", [_transfer_table(t) for t in model.transfers]),
        ("interventions", [_intervention_table(x, i) for i, x in enumerate(interventions)]),
    )
    for section, tables in sections:
        for table in tables:
            lines += ["", f"[[{section}]]"]
            lines += [f"{_key(k)} = {_literal(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def write_model(
    path: str | os.PathLike,
    model: Model,
    *,
    interventions: Sequence[AbstractIntervention] = (),
    comment: str | None = None,
) -> pathlib.Path:
    """Write `model` (and optionally interventions) to the model file `path`.

    The text is checked to read back to an equal model before anything is written, then
    written to a temporary file in the same folder and moved over `path` with `os.replace`:
    an existing file is replaced whole or not at all, and no temporary file is left behind.

    **Arguments:**

    - `path`: the file to write, conventionally `*.toml`; its folder must exist.
    - `model`: the [`Model`][metaflow_ode.Model].
    - `interventions`: interventions to store with it.
    - `comment`: text written as `#` comment lines at the top of the file, or `None`.

    **Returns:** the path written, as a `pathlib.Path`.

    **Raises:** as [`model_to_toml`][metaflow_ode.model_to_toml]; `OSError` if the file
    cannot be written.
    """
    path = pathlib.Path(path)
    interventions = _as_interventions(interventions)
    text = model_to_toml(model, interventions=interventions, comment=comment)
    back = model_from_toml(text, source=str(path))
    if not (_same(back.model, model) and _same(back.interventions, interventions)):
        raise ValueError(  # pragma: no cover - would be a bug of the writer
            f"`write_model({str(path)!r})`: the model does not read back exactly; not written."
        )
    return write_atomic(path, lambda tmp: tmp.write_bytes(text.encode("utf-8")))


def _same(a: Any, b: Any) -> bool:
    if jax.tree_util.tree_structure(a) != jax.tree_util.tree_structure(b):
        return False
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return all(
        np.asarray(x).dtype == np.asarray(y).dtype
        and np.asarray(x).tobytes() == np.asarray(y).tobytes()
        for x, y in zip(leaves_a, leaves_b, strict=True)
    )


# --- reading ---------------------------------------------------------------------------------


def _quote(text: Any) -> str:
    return '"' + str(text) + '"'


def _did_you_mean(name: str, options: Sequence[str]) -> str:
    lowered: dict[str, str] = {}
    for option in options:  # the first spelling of a name wins
        lowered.setdefault(option.lower(), option)
    close = difflib.get_close_matches(str(name).lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {_quote(lowered[close[0]])}?)" if close else ""


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {_quote(value)}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__  # pragma: no cover - tomllib gives nothing else but dates


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Reader:
    """Typed access to the parsed TOML, raising `ModelFileError` with the field path."""

    def __init__(self, source: str):
        self.source = source

    def error(self, field: str, problem: str) -> ModelFileError:
        return ModelFileError(self.source, field, problem)

    def keys(
        self,
        table: Mapping[str, Any],
        path: str,
        allowed: Sequence[str],
        required: Sequence[str] = (),
        units: Mapping[str, str] | None = None,
    ) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(
                    _join(path, key),
                    f"unknown key {_quote(key)}; use one of {', '.join(allowed)}"
                    f"{_did_you_mean(key, allowed)}",
                )
        for key in required:
            if key not in table:
                hint = f" ({units[key]})" if units and key in units else ""
                raise self.error(_join(path, key), f"missing required key; add `{key} = ...`{hint}")

    def table(self, value: Any, path: str, example: str) -> dict:
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {_describe(value)}; write {example}")
        return value

    def tables(self, value: Any, path: str, example: str) -> list[dict]:
        if not isinstance(value, list):
            raise self.error(
                path,
                f"expected an array of tables, got {_describe(value)}; write each entry as "
                f"[[{path}]] followed by its keys",
            )
        return [self.table(v, _join(path, i), example) for i, v in enumerate(value)]

    def number(self, value: Any, path: str, units: str = "", *, allow_false: bool = False) -> Any:
        if allow_false and value is False:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            what = f" in {units}" if units else ""
            off = ", or false for none" if allow_false else ""
            raise self.error(
                path,
                f"expected a number{what}, got {_describe(value)}; write a number such as "
                f"1.5 or 2e9 without quotes{off}",
            )
        try:
            return float(value)
        except OverflowError:
            raise self.error(
                path,
                f"the integer {value} is too large for a float64 (at most about 1.8e308); "
                "write a smaller number",
            ) from None

    def string(self, value: Any, path: str, what: str) -> str:
        if not isinstance(value, str):
            raise self.error(
                path, f"expected a string ({what}), got {_describe(value)}; write it in quotes"
            )
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {_describe(value)}")
        return value

    def integer(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(
                path,
                f"expected an integer, got {_describe(value)}; write e.g. 3 (no decimal point)",
            )
        return value

    def names(self, value: Any, path: str, what: str) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(
                path,
                f"expected {what} names (one name or an array of them), got "
                f'{_describe(value)}; write e.g. "peritoneum" or ["peritoneum", "pleura"]',
            )
        return tuple(value)

    def kind(self, value: Any, path: str) -> RouteKind:
        options = list(_KIND_NAMES)
        if isinstance(value, str):
            if value in _KIND_NAMES:
                return _KIND_NAMES[value]
            if value in _KIND_ALIASES:
                return _KIND_ALIASES[value]
            raise self.error(
                path,
                f"unknown route kind {_quote(value)}; use one of {', '.join(options)}"
                f"{_did_you_mean(value, options + list(_KIND_ALIASES))}, or a table "
                "{ name = ..., long_name = ..., family = ... } for a new kind",
            )
        table = self.table(value, path, 'a route kind name such as "haematogenous"')
        self.keys(table, path, _KIND_KEYS, ("name", "long_name", "family"))
        return RouteKind(
            self.string(table["name"], _join(path, "name"), "route name"),
            self.string(table["long_name"], _join(path, "long_name"), "description"),
            self.string(table["family"], _join(path, "family"), "route family"),
            self.boolean(table.get("cns", False), _join(path, "cns")),
        )

    def construct(self, path: str, keys: Sequence[str], build: Callable[[], Any]) -> Any:
        """Call a constructor, re-raising its errors with the field path prefixed."""
        try:
            return build()
        except (ValueError, TypeError) as error:
            if isinstance(error, ModelFileError):
                raise
            message = str(error)
            argument = re.search(r"\((\w+)=", message)
            if argument and argument.group(1) in keys:
                path = _join(path, argument.group(1))
            raise self.error(path, message) from error

    def law(self, value: Any, path: str, registry: Mapping[str, type], key: str, what: str) -> Any:
        example = f'{{ {key} = "{next(iter(registry))}", ... }}'
        table = self.table(value, path, example)
        if key not in table:
            raise self.error(
                _join(path, key),
                f"missing required key; add `{key} = ...`, one of {', '.join(registry)}",
            )
        name = self.string(table[key], _join(path, key), what)
        if name not in registry:
            raise self.error(
                _join(path, key),
                f"unknown {what} {_quote(name)}; use one of {', '.join(registry)}"
                f"{_did_you_mean(name, list(registry))}",
            )
        cls = registry[name]
        fields = list(parameter_fields(cls))
        names = [f.name for f in fields]
        units = {f.name: f.metadata["units"] for f in fields}
        required = [f.name for f in fields if f.default is dataclasses.MISSING]
        self.keys(table, path, [key, *names], required, units)
        kwargs = {f: self.number(table[f], _join(path, f), units[f]) for f in names if f in table}
        return self.construct(path, names, lambda: cls(**kwargs))


def _numbers_of(
    reader: _Reader, table: Mapping[str, Any], path: str, cls: type, keys: Sequence[str]
) -> dict[str, float]:
    units = {f.name: f.metadata["units"] for f in parameter_fields(cls)}
    units["half_life"] = "day"
    return {
        k: reader.number(table[k], _join(path, k), units.get(k, "")) for k in keys if k in table
    }


def _read_failure(reader: _Reader, value: Any, path: str) -> Failure:
    table = reader.table(value, path, "{ burden = 1e11 }")
    reader.keys(table, path, _FAILURE_KEYS)
    kwargs: dict[str, Any] = _numbers_of(reader, table, path, Failure, _FAILURE_NUMBERS)
    if "fluid" in table:
        kwargs["fluid"] = reader.string(table["fluid"], _join(path, "fluid"), "a carrier name")
    if "warning" in table:
        kwargs["warning"] = reader.number(
            table["warning"], _join(path, "warning"), "fraction", allow_false=True
        )
    if "labels" in table:
        labels_path = _join(path, "labels")
        labels = reader.table(table["labels"], labels_path, '{ burden = "liver failure" }')
        reader.keys(labels, labels_path, MECHANISMS)
        kwargs["labels"] = {
            k: reader.string(v, _join(labels_path, k), "a clinical name") for k, v in labels.items()
        }
    if "lethal" in table:
        kwargs["lethal"] = reader.boolean(table["lethal"], _join(path, "lethal"))
    return reader.construct(path, _FAILURE_KEYS, lambda: Failure(**kwargs))


def _read_organ(reader: _Reader, table: dict, path: str) -> Organ:
    reader.keys(table, path, _ORGAN_KEYS, ("name", "growth"))
    name = reader.string(table["name"], _join(path, "name"), "the organ's name")
    kwargs: dict[str, Any] = {}
    if "primary" in table:
        kwargs["primary"] = reader.boolean(table["primary"], _join(path, "primary"))
    for key, units in (("initial", "cells"), ("volume", "mL")):
        if key in table:
            kwargs[key] = reader.number(table[key], _join(path, key), units)
    growth = reader.law(table["growth"], _join(path, "growth"), GROWTH_LAWS, "law", "growth law")
    emission = None
    if "emission" in table:
        emission = reader.law(
            table["emission"], _join(path, "emission"), EMISSION_LAWS, "law", "emission law"
        )
    for key, registry, what in (
        ("metastasis_growth", GROWTH_LAWS, "growth law"),
        ("metastasis_emission", EMISSION_LAWS, "emission law"),
    ):
        if key in table:
            kwargs[key] = reader.law(table[key], _join(path, key), registry, "law", what)
    if "failure" in table:
        kwargs["failure"] = _read_failure(reader, table["failure"], _join(path, "failure"))
    return reader.construct(path, _ORGAN_KEYS, lambda: Organ(name, growth, emission, **kwargs))


def _read_carrier(reader: _Reader, table: dict, path: str) -> Carrier:
    reader.keys(table, path, _CARRIER_KEYS, ("name", "kind"))
    name = reader.string(table["name"], _join(path, "name"), "the carrier's name")
    kind = reader.kind(table["kind"], _join(path, "kind"))
    kwargs: dict[str, Any] = _numbers_of(
        reader, table, path, Carrier, ("clearance", "half_life", "volume")
    )
    if "fluid" in table:
        fluid_path = _join(path, "fluid")
        fluid = reader.table(table["fluid"], fluid_path, "{ volume = ..., production = ... }")
        units = {f.name: f.metadata["units"] for f in parameter_fields(Fluid)}
        reader.keys(fluid, fluid_path, _FLUID_KEYS, ("volume", "production"), units)
        numbers = _numbers_of(
            reader, fluid, fluid_path, Fluid, ("volume", "production", "secretion", "obstruction")
        )
        for key in ("lining", "obstructed_by"):
            if key in fluid:
                numbers[key] = reader.names(fluid[key], _join(fluid_path, key), "organ")
        kwargs["fluid"] = reader.construct(fluid_path, _FLUID_KEYS, lambda: Fluid(**numbers))
    return reader.construct(path, _CARRIER_KEYS, lambda: Carrier(name, kind, **kwargs))


def _read_transfer(reader: _Reader, table: dict, path: str) -> Transfer:
    reader.keys(table, path, _TRANSFER_KEYS, ("source", "target", "kind"))
    source = reader.string(table["source"], _join(path, "source"), "an organ or carrier name")
    target = reader.string(table["target"], _join(path, "target"), "an organ or carrier name")
    kind = reader.kind(table["kind"], _join(path, "kind"))
    kwargs: dict[str, Any] = _numbers_of(
        reader, table, path, Transfer, ("fraction", "rate", "efficiency")
    )
    if "name" in table:
        kwargs["name"] = reader.string(table["name"], _join(path, "name"), "the transfer's name")
    return reader.construct(
        path, _TRANSFER_KEYS, lambda: Transfer(source, target, kind=kind, **kwargs)
    )


def _read_conduit(reader: _Reader, table: dict, path: str) -> tuple[list, list]:
    required = ("name", "source", "target", "kind", "length", "speed")
    units = {"length": "mm", "speed": "mm/day"}
    reader.keys(table, path, _CONDUIT_KEYS, required, units)
    strings = {
        k: reader.string(table[k], _join(path, k), "a name") for k in ("name", "source", "target")
    }
    kwargs: dict[str, Any] = {
        k: reader.number(table[k], _join(path, k), units.get(k, ""))
        for k in ("length", "speed", "half_life", "fraction", "rate", "efficiency")
        if k in table
    }
    if "stages" in table:
        kwargs["stages"] = reader.integer(table["stages"], _join(path, "stages"))
    kind = reader.kind(table["kind"], _join(path, "kind"))
    return reader.construct(path, _CONDUIT_KEYS, lambda: conduit(**strings, kind=kind, **kwargs))


def _check_references(
    reader: _Reader,
    organs: list[tuple[str, Organ]],
    carriers: list[tuple[str, Carrier]],
    transfers: list[tuple[str, Transfer]],
) -> None:
    """Check names and references so errors point at the field rather than at `Model`."""
    seen: dict[str, str] = {}
    for path, item in [*organs, *carriers]:
        if item.name in seen:
            raise reader.error(
                _join(path, "name"),
                f"the name {_quote(item.name)} is already used by {seen[item.name]}; names of "
                "organs and carriers must be unique",
            )
        seen[item.name] = path
    named: dict[str, str] = {}
    for path, t in transfers:
        if t.name in seen or t.name in named:
            other = seen.get(t.name) or named[t.name]
            raise reader.error(
                _join(path, "name"),
                f"the transfer name {_quote(t.name)} (by default source->target) is already "
                f"used by {other}; give this transfer a distinct `name = ...`",
            )
        named[t.name] = path
    organ_names = [o.name for _, o in organs]
    carrier_names = [c.name for _, c in carriers]
    nodes = organ_names + carrier_names

    def require(name: str, field: str, options: list[str], what: str) -> None:
        if name not in options:
            raise reader.error(
                field,
                f"{_quote(name)} is not {what} of the model; use one of "
                f"{', '.join(options) or '(none)'}{_did_you_mean(name, options)}",
            )

    for path, t in transfers:
        for end in ("source", "target"):
            require(getattr(t, end), _join(path, end), nodes, "an organ or carrier")
    for path, c in carriers:
        if c.fluid is not None:
            for i, name in enumerate(c.fluid.lining):
                require(name, f"{path}.fluid.lining[{i}]", organ_names, "an organ")
            for i, name in enumerate(c.fluid.obstructed_by):
                require(name, f"{path}.fluid.obstructed_by[{i}]", nodes, "an organ or carrier")
    for path, o in organs:
        if o.failure is not None and o.failure.fluid is not None:
            require(o.failure.fluid, f"{path}.failure.fluid", carrier_names, "a carrier")


_MESSAGE_OWNERS = (
    (re.compile(r"Organ '(\w+)'"), "organs"),
    (re.compile(r"Carrier '(\w+)'"), "carriers"),
    (re.compile(r"Transfer\('([^']*)', '([^']*)'"), "transfers"),
    (re.compile(r"out of organ '(\w+)'"), "organs"),
)


def _model_error_field(message: str, model_keys: dict[str, Any]) -> str:
    """The field a `Model(...)` error is about, from the names its message quotes."""
    for pattern, section in _MESSAGE_OWNERS:
        match = pattern.search(message)
        if not match:
            continue
        for path, item in model_keys[section]:
            if section == "transfers":
                if len(match.groups()) == 2:
                    hit = (item.source, item.target) == match.groups()
                else:
                    hit = item.name == match.group(1)
            else:
                hit = item.name == match.group(1)
            if hit:
                if section == "organs" and "out of organ" in pattern.pattern:
                    return "transfers"
                for sub in ("Failure", "Fluid"):
                    if f"{sub}(" in message:
                        path = _join(path, sub.lower())
                        break
                argument = re.search(r"\((\w+)=", message)
                if argument and argument.group(1) not in ("name",):
                    return _join(path, argument.group(1))
                return path
    argument = re.search(r"`Model\((\w+)=", message)
    return argument.group(1) if argument else "(model)"


def _read_intervention(reader: _Reader, table: dict, path: str) -> AbstractIntervention:
    if "type" not in table:
        raise reader.error(
            _join(path, "type"),
            f"missing required key; add `type = ...`, one of {', '.join(INTERVENTIONS)}",
        )
    name = reader.string(table["type"], _join(path, "type"), "an intervention")
    if name not in INTERVENTIONS:
        raise reader.error(
            _join(path, "type"),
            f"unknown intervention {_quote(name)}; use one of {', '.join(INTERVENTIONS)}"
            f"{_did_you_mean(name, list(INTERVENTIONS))}",
        )
    cls = INTERVENTIONS[name]
    keys = _INTERVENTION_KEYS[name]
    units = {f.name: f.metadata["units"] for f in parameter_fields(cls)}
    reader.keys(table, path, keys, _INTERVENTION_REQUIRED[name], units)
    kwargs: dict[str, Any] = {}
    for key in keys[1:]:
        if key not in table:
            continue
        value, field = table[key], _join(path, key)
        if key in ("organ", "cavity", "source", "target"):
            kwargs[key] = reader.string(value, field, "a name")
        elif key == "visible_only":
            kwargs[key] = reader.boolean(value, field)
        elif key == "times":
            kwargs[key] = reader.integer(value, field)
        elif key == "effect":
            kwargs[key] = reader.law(value, field, EFFECTS, "type", "effect")
        elif key == "dosing":
            dosing = reader.table(value, field, "{ interval = 7.0, half_life = 1.0 }")
            dosing_units = {f.name: f.metadata["units"] for f in parameter_fields(Dosing)}
            reader.keys(
                dosing, field, ("interval", "half_life"), ("interval", "half_life"), dosing_units
            )
            numbers = _numbers_of(reader, dosing, field, Dosing, ("interval", "half_life"))
            kwargs[key] = reader.construct(
                field, ("interval", "half_life"), lambda numbers=numbers: Dosing(**numbers)
            )
        elif key == "organs":
            # "all", one organ's name, or an array of names (like `carriers`)
            kwargs[key] = None if value == "all" else reader.names(value, field, "organ")
        elif key == "carriers":
            kwargs[key] = reader.names(value, field, "carrier")
        else:
            kwargs[key] = reader.number(value, field, units.get(key, ""))
    if name in ("Resection", "LocalAblation"):
        args = (kwargs.pop("organ"), kwargs.pop("at"))
    elif name == "IatrogenicSpill":
        args = tuple(kwargs.pop(k) for k in ("source", "target", "at", "fraction"))
    elif name == "Drainage":
        args = (kwargs.pop("cavity"),)
    else:
        args = (kwargs.pop("start"), kwargs.pop("stop"), kwargs.pop("effect"))
    return reader.construct(path, keys, lambda: cls(*args, **kwargs))


def model_from_toml(text: str, *, source: str = "<string>") -> ModelFile:
    """Read a model (and its interventions) from the text of a model file.

    The text is checked against the schema of `docs/model-files.md` (format and version,
    known keys, types, required keys, law and route-kind names, references between organs,
    carriers and transfers) before the model is built; interventions are checked against the
    model (names of organs and carriers).

    **Arguments:**

    - `text`: the TOML text.
    - `source`: the name used for the text in error messages, e.g. a file name.

    **Returns:** a [`ModelFile`][metaflow_ode.ModelFile] (with `path=None`).

    **Raises:** [`ModelFileError`][metaflow_ode.ModelFileError], whose one-line message names
    `source`, the field and the fix; `TypeError` if `text` is not a `str` (e.g. bytes).
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        raise TypeError(
            "`model_from_toml(text)` takes the text as a `str`, got bytes; decode them first "
            "(`data.decode('utf-8')`) or read the file with `mfo.read_model(path)`."
        )
    if not isinstance(text, str):
        raise TypeError(
            f"`model_from_toml(text)` takes the text as a `str`, got {type(text).__name__}."
        )
    reader = _Reader(source)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        field = f"line {where.group(1)}, column {where.group(2)}" if where else "(TOML)"
        problem = re.sub(r"\s*\(at .*?\)", "", message) or "invalid TOML"
        raise reader.error(field, f"invalid TOML: {problem}; fix the syntax there") from None
    return _read_document(reader, document)


def _read_document(reader: _Reader, document: dict) -> ModelFile:
    if document.get("format") != FORMAT:
        got = f"got {_describe(document['format'])}" if "format" in document else "it is missing"
        raise reader.error(
            "format",
            f"not a metaflow_ode model file ({got}); the file must start with "
            f'`format = "{FORMAT}"` and `version = {VERSION}`',
        )
    if "version" not in document:
        raise reader.error("version", f"missing required key; add `version = {VERSION}`")
    version = document["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise reader.error(
            "version", f"expected a positive integer, got {_describe(version)}; write {VERSION}"
        )
    if version > VERSION:
        raise reader.error(
            "version",
            f"the file has format version {version}, newer than the version {VERSION} this "
            "metaflow_ode reads; upgrade metaflow_ode",
        )
    reader.keys(document, "", _TOP_KEYS)
    if "organs" not in document:
        raise reader.error(
            "organs",
            "missing required key; add at least the primary organ as an [[organs]] table "
            '(name = ..., primary = true, growth = { law = "Gompertz", ... })',
        )
    organs = [
        (path, _read_organ(reader, table, path))
        for path, table in _entries(reader, document, "organs", '{ name = "liver", ... }')
    ]
    carriers = [
        (path, _read_carrier(reader, table, path))
        for path, table in _entries(reader, document, "carriers", '{ name = "blood", ... }')
    ]
    transfers = [
        (path, _read_transfer(reader, table, path))
        for path, table in _entries(reader, document, "transfers", "{ source = ..., ... }")
    ]
    for path, table in _entries(reader, document, "conduits", "{ name = ..., ... }"):
        more_carriers, more_transfers = _read_conduit(reader, table, path)
        carriers += [(path, c) for c in more_carriers]
        transfers += [(path, t) for t in more_transfers]
    _check_references(reader, organs, carriers, transfers)
    kwargs: dict[str, Any] = {}
    if "name" in document:
        kwargs["name"] = reader.string(document["name"], "name", "the model's name")
    if "cell_density" in document:
        kwargs["cell_density"] = reader.number(document["cell_density"], "cell_density", "cells/mL")
    if "lethal_burden" in document:
        kwargs["lethal_burden"] = reader.number(
            document["lethal_burden"], "lethal_burden", "cells", allow_false=True
        )
    sections = {"organs": organs, "carriers": carriers, "transfers": transfers}
    try:
        model = Model(
            [o for _, o in organs], [c for _, c in carriers], [t for _, t in transfers], **kwargs
        )
    except (ValueError, TypeError) as error:
        raise reader.error(_model_error_field(str(error), sections), str(error)) from error
    interventions = []
    for path, table in _entries(reader, document, "interventions", '{ type = "Resection", ... }'):
        item = _read_intervention(reader, table, path)
        # -inf: the simulation's start time is not known here; names are checked now, times
        # against t0 by `simulate`
        reader.construct(
            path,
            _INTERVENTION_KEYS[type(item).__name__],
            lambda item=item: item.check(model, -math.inf),
        )
        interventions.append(item)
    return ModelFile(model, tuple(interventions))


def _entries(reader: _Reader, document: dict, key: str, example: str):
    if key not in document:
        return []
    tables = reader.tables(document[key], key, example)
    return [(_join(key, i), table) for i, table in enumerate(tables)]


def read_model(path: str | os.PathLike) -> ModelFile:
    """Read a model file (TOML) written by [`write_model`][metaflow_ode.write_model] or by hand.

    See `docs/model-files.md` for the schema. The file is UTF-8 text, with or without a
    byte-order mark.

    **Arguments:**

    - `path`: the file.

    **Returns:** a [`ModelFile`][metaflow_ode.ModelFile] with the
    [`Model`][metaflow_ode.Model], the interventions (empty if the file has none) and the path.

    **Raises:** [`ModelFileError`][metaflow_ode.ModelFileError] for a file that is not a valid
    model file, naming the file, the field and the fix; `OSError` if it cannot be read.
    """
    path = pathlib.Path(path)
    data = path.read_bytes()
    try:
        # "utf-8-sig": the byte-order mark some Windows editors write is dropped
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ModelFileError(
            str(path), f"line {line}", "not UTF-8 text; save the file as UTF-8"
        ) from None
    loaded = model_from_toml(text, source=str(path))
    return dataclasses.replace(loaded, path=path)
