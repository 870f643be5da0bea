"""Conduits with a transit length (perineural, perivascular, intraluminal) as delay chains."""

from __future__ import annotations

import math

from .._model import Carrier, Transfer
from .._route_kinds import RouteKind

__all__ = ["conduit"]


def conduit(
    name: str,
    source: str,
    target: str,
    *,
    kind: RouteKind,
    length: float,
    speed: float,
    stages: int = 8,
    half_life: float | None = None,
    fraction: float | None = None,
    rate: float | None = None,
    efficiency: float | None = None,
) -> tuple[list[Carrier], list[Transfer]]:
    """A conduit of finite length (a nerve sheath, a vessel wall, a lumen) as a delay chain.

    Cells enter from `source`, move along the conduit at `speed` and reach `target` after a
    mean `length / speed` days: the conduit is `stages` carriers in series, each left at rate
    `stages * speed / length`, so the transit time is Erlang distributed with that mean and a
    coefficient of variation `1 / sqrt(stages)` (more stages: a sharper front, the limit of
    pure advection). Cells die in transit with `half_life` (optional); nothing else is lost.
    Use dynamic carriers (`Lumped()`, the default): eliminating carriers removes the delay.

    **Arguments:**

    - `name`: prefix of the carriers (`"{name}_1"` ... `"{name}_{stages}"`).
    - `source`, `target`: organ or carrier names at the two ends.
    - `kind`: the route kind, e.g. `mfo.PerineuralOptic`.
    - `length`: conduit length in mm (> 0).
    - `speed`: transit speed in mm/day (> 0).
    - `stages`: number of carriers in series (>= 1).
    - `half_life`: half-life in days of a cell in the conduit, or `None` (no death).
    - `fraction` / `rate`: of the entry transfer: a share of the source organ's emission, or
      a rate (1/day) out of a source carrier.
    - `efficiency`: colonisation efficiency at the target organ.

    **Returns:** `(carriers, transfers)`, to add to the model's lists.
    """
    for argument, value in (("length", length), ("speed", speed)):
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not (math.isfinite(value) and value > 0)
        ):
            raise ValueError(f"`conduit({argument}=...)` must be a finite number > 0 (mm, mm/day).")
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ValueError(f"`conduit(stages=...)` must be a positive integer, got {stages!r}.")
    step = stages * speed / length  # 1/day out of each stage
    names = [f"{name}_{i}" for i in range(1, stages + 1)]
    carriers = [Carrier(n, kind, half_life=half_life) for n in names]
    transfers = [
        Transfer(source, names[0], kind=kind, fraction=fraction, rate=rate, name=f"{name}_entry")
    ]
    transfers += [
        Transfer(a, b, kind=kind, rate=step) for a, b in zip(names, names[1:], strict=False)
    ]
    transfers.append(
        Transfer(
            names[-1], target, kind=kind, rate=step, efficiency=efficiency, name=f"{name}_exit"
        )
    )
    return carriers, transfers
