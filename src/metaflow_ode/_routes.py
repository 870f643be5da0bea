"""Route algebra: the model graph as rate matrices, and carrier elimination.

A model's transfers become a few dense matrices (built inside `jit` from the parameter leaves):
fractions of organ emission sent to organs or carriers, carrier-to-carrier and carrier-to-organ
rates, and colonisation efficiencies. Arrivals into organs are split by the route kind of the
delivering transfer.

Eliminating the carriers quasi-steadily (their transit takes hours, tumour growth weeks) solves
`L c = F e` for the carrier cells `c` per unit emission `e`, with
`L = diag(clearance + outflow) - C` (the absorbing-chain fundamental matrix of the carrier
network), giving the exact dissemination matrix `P = D + R L^-1 F`: the share of cells shed by
each source organ that arrives in each target organ.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import xarray as xr
from jaxtyping import Array, Float

from ._model import Model
from ._route_kinds import ROUTE_KINDS, RouteKind

__all__ = ["Topology", "Rates", "topology", "rates", "dissemination_matrix"]


@dataclasses.dataclass(frozen=True)
class Topology:
    """Static index structure of a model's graph."""

    organs: tuple[str, ...]
    carriers: tuple[str, ...]
    kinds: tuple[RouteKind, ...]
    primary: int
    # (transfer index, source index, target index, kind index)
    organ_to_organ: tuple[tuple[int, int, int, int], ...]
    organ_to_carrier: tuple[tuple[int, int, int, int], ...]
    carrier_to_carrier: tuple[tuple[int, int, int, int], ...]
    carrier_to_organ: tuple[tuple[int, int, int, int], ...]


def topology(model: Model) -> Topology:
    """The static index structure of `model` (route kinds in the order of `ROUTE_KINDS`)."""
    organs = model.organ_names
    carriers = model.carrier_names
    present = {t.kind for t in model.transfers}
    kinds = tuple(k for k in ROUTE_KINDS if k in present) + tuple(
        sorted((k for k in present if k not in ROUTE_KINDS), key=lambda k: k.name)
    )
    o_index = {n: i for i, n in enumerate(organs)}
    c_index = {n: i for i, n in enumerate(carriers)}
    k_index = {k: i for i, k in enumerate(kinds)}
    edges: dict[tuple[bool, bool], list] = {
        (a, b): [] for a in (True, False) for b in (True, False)
    }
    for i, t in enumerate(model.transfers):
        s_organ, d_organ = t.source in o_index, t.target in o_index
        s = o_index[t.source] if s_organ else c_index[t.source]
        d = o_index[t.target] if d_organ else c_index[t.target]
        edges[(s_organ, d_organ)].append((i, s, d, k_index[t.kind]))
    return Topology(
        organs=organs,
        carriers=carriers,
        kinds=kinds,
        primary=model.primary_index,
        organ_to_organ=tuple(edges[(True, True)]),
        organ_to_carrier=tuple(edges[(True, False)]),
        carrier_to_carrier=tuple(edges[(False, False)]),
        carrier_to_organ=tuple(edges[(False, True)]),
    )


class Rates(eqx.Module):
    """The transfer graph as dense matrices (shapes: K kinds, O organs, C carriers)."""

    organ_to_organ: Float[Array, "K O O"]  # [kind, target, source] share of emission arriving
    organ_to_organ_colonising: Float[Array, "K O O"]  # ... times colonisation efficiency
    organ_to_carrier: Float[Array, "C O"]  # [target, source] share of emission
    carrier_to_carrier: Float[Array, "C C"]  # [target, source] rate, 1/day
    carrier_to_organ: Float[Array, "K O C"]  # [kind, target, source] rate, 1/day
    carrier_to_organ_colonising: Float[Array, "K O C"]  # ... times colonisation efficiency
    clearance: Float[Array, " C"]  # death in transit, 1/day
    carrier_exit: Float[Array, " C"]  # clearance + every outflow rate, 1/day
    lost_fraction: Float[Array, " O"]  # share of emission not sent anywhere


def rates(model: Model, topo: Topology | None = None) -> Rates:
    """Assemble the rate matrices of `model` (traceable: works under `jit`, `vmap`, `grad`)."""
    topo = topology(model) if topo is None else topo
    n_o, n_c, n_k = len(topo.organs), len(topo.carriers), len(topo.kinds)
    transfers = model.transfers
    f64 = jnp.float64

    def scatter(shape, entries, value, index):
        out = jnp.zeros(shape, f64)
        for entry in entries:
            out = out.at[index(entry)].add(value(transfers[entry[0]]))
        return out

    fraction = lambda t: t.fraction  # noqa: E731
    rate = lambda t: t.rate  # noqa: E731
    kts = lambda e: (e[3], e[2], e[1])  # noqa: E731
    ts_ = lambda e: (e[2], e[1])  # noqa: E731

    oo = scatter((n_k, n_o, n_o), topo.organ_to_organ, fraction, kts)
    oo_col = scatter((n_k, n_o, n_o), topo.organ_to_organ, lambda t: t.fraction * t.efficiency, kts)
    oc = scatter((n_c, n_o), topo.organ_to_carrier, fraction, ts_)
    cc = scatter((n_c, n_c), topo.carrier_to_carrier, rate, ts_)
    co = scatter((n_k, n_o, n_c), topo.carrier_to_organ, rate, kts)
    co_col = scatter((n_k, n_o, n_c), topo.carrier_to_organ, lambda t: t.rate * t.efficiency, kts)
    clearance = (
        jnp.stack([jnp.asarray(c.clearance, f64) for c in model.carriers])
        if n_c
        else jnp.zeros((0,), f64)
    )
    exit_rate = clearance + cc.sum(axis=0) + co.sum(axis=(0, 1))
    sent = oo.sum(axis=(0, 1)) + oc.sum(axis=0)
    return Rates(
        organ_to_organ=oo,
        organ_to_organ_colonising=oo_col,
        organ_to_carrier=oc,
        carrier_to_carrier=cc,
        carrier_to_organ=co,
        carrier_to_organ_colonising=co_col,
        clearance=clearance,
        carrier_exit=exit_rate,
        lost_fraction=1.0 - sent,
    )


def carrier_operator(r: Rates) -> Float[Array, "C O"]:
    """Quasi-steady carrier cells per unit emission rate: `L^-1 F`, in days."""
    n_c = r.carrier_exit.shape[0]
    if n_c == 0:
        return r.organ_to_carrier
    transit = jnp.diag(r.carrier_exit) - r.carrier_to_carrier
    return jnp.linalg.solve(transit, r.organ_to_carrier)


def dissemination_arrays(r: Rates, *, colonising: bool = False) -> Float[Array, "K O O"]:
    """`P[kind, target, source]`: share of the source's emission arriving in the target."""
    direct = r.organ_to_organ_colonising if colonising else r.organ_to_organ
    via = r.carrier_to_organ_colonising if colonising else r.carrier_to_organ
    return direct + jnp.einsum("ktc,cs->kts", via, carrier_operator(r))


def dissemination_matrix(model: Model, *, colonising: bool = False) -> xr.DataArray:
    """The exact dissemination matrix of `model` with its carriers eliminated.

    Entry `[route, source, target]` is the share of the cells shed by organ `source` that
    arrive in organ `target` delivered by a transfer of route kind `route`, after every carrier
    in between (the absorbing-chain solve described in the module docs). Summed over `route`
    and `target`, each source's row is at most 1: the rest dies in transit or is not sent
    anywhere. With `colonising=True` the shares are multiplied by the colonisation efficiency
    of the delivering transfer (colonies founded per cell shed).

    **Arguments:**

    - `model`: a [`Model`][metaflow_ode.Model].
    - `colonising`: whether to include colonisation efficiency.

    **Returns:** an `xarray.DataArray` with dims `(route, source, target)`, dimensionless.
    """
    topo = topology(model)
    p = np.asarray(dissemination_arrays(rates(model, topo), colonising=colonising))
    return xr.DataArray(
        np.transpose(p, (0, 2, 1)),
        dims=("route", "source", "target"),
        coords={
            "route": [k.name for k in topo.kinds],
            "source": list(topo.organs),
            "target": list(topo.organs),
        },
        attrs={
            "units": "1",
            "long_name": (
                "share of shed cells founding colonies in the target"
                if colonising
                else "share of shed cells arriving in the target"
            ),
        },
    )
