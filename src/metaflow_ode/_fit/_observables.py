"""Observables `ENTITY.QUANTITY`: what a measurement measures, as a function of a Solution.

The names follow the output dataset: `liver.burden` is `ds.burden.sel(organ="liver")`,
`blood.ctc_per_7_5ml` is `ds.ctc_per_7_5ml.sel(carrier="blood")`. Two entities are not organs
or carriers: `primary` (the primary tumour alone, e.g. `primary.volume` from imaging) and
`whole_body` (`whole_body.burden`, total tumour cells, for serum markers; `whole_body.death_time`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable

import jax.numpy as jnp

from .._dataset import CELLSEARCH_ML
from .._model import Model
from .._vector_field import criteria
from ._noise import AbstractNoise, Bernoulli, EventTime, LogNormal, Poisson

__all__ = ["QUANTITIES", "Observable", "parse_observable", "sphere_diameter"]


def sphere_diameter(volume, cbrt=jnp.cbrt):
    """Diameter (mm) of a sphere of `volume` (mL = cm3): $10 (6 V / \\pi)^{1/3}$.

    `cbrt` is the cube root to use: `jnp.cbrt` (default) for JAX arrays, `np.cbrt` for NumPy
    arrays and `xarray` objects (which keep their coordinates).
    """
    return 10.0 * cbrt(6.0 * volume / math.pi)


@dataclasses.dataclass(frozen=True)
class _Quantity:
    entities: tuple[str, ...]  # "organ", "primary", "carrier", "whole_body"
    units: str
    description: str
    noise: Callable[[], AbstractNoise]
    event: bool = False
    colonies: bool = False  # needs resolution=mfo.Colonies(...)


QUANTITIES: dict[str, _Quantity] = {
    "burden": _Quantity(("organ", "primary", "whole_body"), "cells", "tumour cells", LogNormal),
    "volume": _Quantity(
        ("organ", "primary"), "mL", "tumour volume (burden / cell_density)", LogNormal
    ),  # fmt: skip
    "diameter": _Quantity(
        ("organ", "primary"), "mm", "diameter of a sphere of the tumour volume", LogNormal
    ),
    "replaced_fraction": _Quantity(
        ("organ",), "1", "fraction of the organ replaced by tumour", LogNormal
    ),
    "colonies": _Quantity(("organ",), "colonies", "expected colonies founded", Poisson),
    "p_metastasis": _Quantity(
        ("organ",), "1", "probability of at least one colony (autopsy involvement)", Bernoulli
    ),
    "visible_lesions": _Quantity(
        ("organ",), "lesions", "expected visible lesions", Poisson, colonies=True
    ),
    "largest_lesion": _Quantity(
        ("organ",), "cells", "size of the largest lesion", LogNormal, colonies=True
    ),
    "carrier_cells": _Quantity(("carrier",), "cells", "tumour cells in transit", LogNormal),
    "ctc_per_7_5ml": _Quantity(
        ("carrier",), "cells/(7.5 mL)", "circulating tumour cells per 7.5 mL of blood", Poisson
    ),
    "failure_time": _Quantity(("organ",), "day", "time of organ failure", EventTime, True),
    "warning_time": _Quantity(
        ("organ",), "day", "time organ function is threatened", EventTime, True
    ),
    "death_time": _Quantity(("whole_body",), "day", "time of death", EventTime, True),
}


@dataclasses.dataclass(frozen=True)
class Observable:
    """One parsed observable: `entity.quantity` with the index it reads (static)."""

    name: str
    entity: str  # "organ", "primary", "carrier", "whole_body"
    index: int  # organ or carrier index; -1 for primary / whole_body
    quantity: str
    criteria: tuple[int, ...] = ()  # for event times: indices into Solution.crossing_times

    @property
    def event(self) -> bool:
        return QUANTITIES[self.quantity].event

    @property
    def units(self) -> str:
        return QUANTITIES[self.quantity].units

    def default_noise(self) -> AbstractNoise:
        return QUANTITIES[self.quantity].noise()

    def predict(self, model: Model, solution, horizon):
        """The model's value at every save time (shape T), or the event time (shape ())."""
        q = self.quantity
        if self.event:
            if not self.criteria:
                return jnp.asarray(horizon, jnp.float64)
            t = jnp.min(solution.crossing_times[jnp.asarray(self.criteria)])
            return jnp.where(jnp.isfinite(t), t, horizon)
        if self.entity == "primary":
            burden = solution.primary
        elif self.entity == "whole_body":
            burden = solution.burden.sum(axis=-1)
        elif self.entity == "organ":
            burden = solution.burden[:, self.index]
        if q == "burden":
            return burden
        if q in ("volume", "diameter"):
            volume = burden / model.cell_density
            if q == "volume":
                return volume
            return sphere_diameter(volume)
        if q == "replaced_fraction":
            return burden / (model.cell_density * model.organs[self.index].volume)
        if q in ("colonies", "p_metastasis"):
            count = solution.colonies[:, :, self.index].sum(axis=-1)
            return count if q == "colonies" else -jnp.expm1(-count)
        if q == "visible_lesions":
            return solution.visible_lesions[:, self.index]
        if q == "largest_lesion":
            return solution.largest_lesion[:, self.index]
        cells = solution.carrier[:, :, self.index].sum(axis=-1)
        if q == "carrier_cells":
            return cells
        return cells * (CELLSEARCH_ML / model.carriers[self.index].volume)


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def parse_observable(name: str, model: Model, *, colonies: bool) -> Observable:
    """Parse `ENTITY.QUANTITY` against `model`; raise a `ValueError` naming the fix."""
    if not isinstance(name, str) or name.count(".") < 1:
        raise ValueError(
            f"observable {name!r}: observables are named `ENTITY.QUANTITY`, e.g. "
            "'liver.burden', 'primary.volume', 'brain.visible_lesions', "
            "'blood.ctc_per_7_5ml', 'whole_body.death_time'."
        )
    entity, quantity = name.rsplit(".", 1)
    if quantity not in QUANTITIES:
        raise ValueError(
            f"observable {name!r}: unknown quantity {quantity!r}."
            f"{_suggest(quantity, list(QUANTITIES))} Quantities: {', '.join(QUANTITIES)}."
        )
    spec = QUANTITIES[quantity]
    organs, carriers = list(model.organ_names), list(model.carrier_names)
    if entity in ("primary", "whole_body") and entity in organs + carriers:
        raise ValueError(
            f"observable {name!r}: {entity!r} is both an organ or carrier of the model and the "
            "reserved entity name; rename that organ or carrier."
        )
    if entity == "primary":
        kind, index = "primary", -1
    elif entity == "whole_body":
        kind, index = "whole_body", -1
    elif entity in organs:
        kind, index = "organ", organs.index(entity)
    elif entity in carriers:
        kind, index = "carrier", carriers.index(entity)
    else:
        raise ValueError(
            f"observable {name!r}: {entity!r} is not an organ or carrier of the model."
            f"{_suggest(entity, organs + carriers + ['primary', 'whole_body'])} Organs: "
            f"{organs}; carriers: {carriers}; also 'primary' and 'whole_body'."
        )
    if kind not in spec.entities:
        raise ValueError(
            f"observable {name!r}: {quantity!r} is defined for {', '.join(spec.entities)}, not "
            f"for {kind} {entity!r}."
        )
    if spec.colonies and not colonies:
        raise ValueError(
            f"observable {name!r} needs lesions: fit with `resolution=mfo.Colonies(...)`."
        )
    if quantity == "replaced_fraction" and model.organs[index].volume is None:
        raise ValueError(
            f"observable {name!r}: organ {entity!r} has no `volume=`, so no replaced fraction."
        )
    if quantity == "ctc_per_7_5ml":
        carrier = model.carriers[index]
        if carrier.kind.family != "haematogenous" or carrier.volume is None:
            raise ValueError(
                f"observable {name!r}: circulating tumour cells per 7.5 mL need a blood carrier "
                "(haematogenous kind) with a `volume=` in mL."
            )
    found: tuple[int, ...] = ()
    if spec.event:
        crit = criteria(model)
        if quantity == "death_time":
            found = tuple(
                k
                for k, (i, lv) in enumerate(zip(crit.organ, crit.level, strict=True))
                if lv == "lethal" or (lv == "failure" and model.organs[i].failure.lethal)
            )
            what = "no organ failure is lethal and the model has no `lethal_burden`"
        else:
            level = quantity.removesuffix("_time")
            found = tuple(
                k
                for k, (i, lv) in enumerate(zip(crit.organ, crit.level, strict=True))
                if i == index and lv == level
            )
            what = f"organ {entity!r} has no {level} criterion (`Organ(failure=mfo.Failure(...))`)"
        if not found:
            raise ValueError(f"observable {name!r}: {what}, so the event never happens.")
    return Observable(name, kind, index, quantity, found)
