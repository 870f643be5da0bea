"""Numeric parameters as pytree leaves, with units and validated domains.

Every number a user can change is declared with [`parameter`][] on an equinox module. The
declaration carries its units, a one-line description and its admissible domain. Values are
stored as 0-d float64 arrays so that `equinox.filter_jit` treats them as traced leaves: changing
a number never recompiles. Concrete values are checked at construction (and again in
`Model.with_parameters`); traced values (inside `jit`/`vmap`/`grad`) cannot be checked there and
are left to the solver's own non-finite checks.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterator
from typing import Any

import equinox as eqx
import jax
import numpy as np


class Domain(enum.Enum):
    """Admissible values of a parameter."""

    FINITE = "a finite number"
    POSITIVE = "a finite number > 0"
    NONNEGATIVE = "a finite number >= 0"
    UNIT_INTERVAL = "a number in [0, 1]"
    OPEN_UNIT_INTERVAL = "a number in (0, 1)"
    HALF_OPEN_UNIT_INTERVAL = "a number in (0, 1]"

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self is Domain.FINITE:
            return True
        if self is Domain.POSITIVE:
            return value > 0
        if self is Domain.NONNEGATIVE:
            return value >= 0
        if self is Domain.UNIT_INTERVAL:
            return 0 <= value <= 1
        if self is Domain.OPEN_UNIT_INTERVAL:
            return 0 < value < 1
        return 0 < value <= 1

    def contains_all(self, values: np.ndarray) -> np.ndarray:
        """Elementwise [`contains`][]: a boolean array of the shape of `values`."""
        v = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(v)
        with np.errstate(invalid="ignore"):
            inside = {
                Domain.FINITE: np.ones_like(finite),
                Domain.POSITIVE: v > 0,
                Domain.NONNEGATIVE: v >= 0,
                Domain.UNIT_INTERVAL: (v >= 0) & (v <= 1),
                Domain.OPEN_UNIT_INTERVAL: (v > 0) & (v < 1),
                Domain.HALF_OPEN_UNIT_INTERVAL: (v > 0) & (v <= 1),
            }[self]
        return finite & inside


def to_leaf(value: Any) -> Any:
    """Store numbers as 0-d float64 arrays; leave anything else for `check_parameters`."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, jax.core.Tracer):
        return value.astype(np.float64) if hasattr(value, "astype") else value
    if isinstance(value, jax.Array):
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, (int, float, np.number, np.ndarray)):
        return np.asarray(value, dtype=np.float64)
    return value


def parameter(
    *, units: str, domain: Domain, description: str, default: Any = dataclasses.MISSING
) -> Any:
    """Declare a numeric parameter field of an equinox module.

    **Arguments:**

    - `units`: units of the value, e.g. `"1/day"`, `"cells"`.
    - `domain`: the admissible values; checked on concrete values.
    - `description`: one line, shown by `metaflow_ode.parameters`.
    - `default`: optional default value; `None` means "not given".
    """
    metadata = {"units": units, "domain": domain, "description": description}
    if default is dataclasses.MISSING:
        return eqx.field(converter=to_leaf, metadata=metadata)
    return eqx.field(default=default, converter=to_leaf, metadata=metadata)


def parameter_fields(obj: Any) -> Iterator[dataclasses.Field]:
    """The fields of `obj` declared with [`parameter`][]."""
    for field in dataclasses.fields(obj):
        if "domain" in field.metadata:
            yield field


def is_concrete(value: Any) -> bool:
    return not isinstance(value, jax.core.Tracer)


def check_value(owner: str, name: str, value: Any, domain: Domain, *, optional: bool) -> None:
    """Raise a `TypeError`/`ValueError` naming `owner(name=...)` if `value` is not admissible."""
    if value is None:
        if optional:
            return
        raise TypeError(f"`{owner}({name}=...)` is required: give {domain.value}.")
    if isinstance(value, (bool, str)) or not (
        isinstance(value, (np.ndarray, np.number, jax.Array)) or isinstance(value, jax.core.Tracer)
    ):
        raise TypeError(
            f"`{owner}({name}=...)` must be a number ({domain.value}), "
            f"got {type(value).__name__} {value!r}."
        )
    if not is_concrete(value):
        if np.ndim(value) != 0:
            raise ValueError(
                f"`{owner}({name}=...)` must be a scalar, got shape {np.shape(value)}; "
                "to run many values use `jax.vmap` or `simulate_cohort`."
            )
        return
    array = np.asarray(value)
    if array.ndim != 0:
        raise ValueError(
            f"`{owner}({name}=...)` must be a scalar, got shape {array.shape}; to run many "
            "values use `jax.vmap` or `simulate_cohort`."
        )
    number = float(array)
    if not domain.contains(number):
        raise ValueError(f"`{owner}({name}=...)` must be {domain.value}, got {number!r}.")


def check_parameters(obj: Any, *, optional: tuple[str, ...] = ()) -> None:
    """Check every parameter field of `obj` against its declared domain."""
    owner = type(obj).__name__
    for field in parameter_fields(obj):
        check_value(
            owner,
            field.name,
            getattr(obj, field.name),
            field.metadata["domain"],
            optional=field.name in optional or field.default is None,
        )
