"""The model graph: organs and carriers as nodes, transfers as arrows coloured by route."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

from .._model import Model
from .._route_kinds import ROUTE_KINDS
from ._common import axes

ROUTE_COLOURS = {
    "haematogenous": "#d62728",
    "lymphatic": "#2ca02c",
    "intra_cavity": "#1f77b4",
    "intraluminal": "#9467bd",
    "per_continuitatem": "#8c564b",
    "perineural": "#e377c2",
    "perivascular": "#ff7f0e",
    "iatrogenic": "#7f7f7f",
    "intra_organ": "#bcbd22",
    "choroid_plexus": "#17becf",
    "brain_to_csf": "#393b79",
}
"""Colour of each route kind family (`RouteKind.family`) in the model graph."""

_OTHER = "#000000"  # a route kind defined outside the library


def _structure(model) -> tuple[list[str], str, list[str], list[tuple[str, str, str]]]:
    """Organs, the primary, carriers and (source, target, family) of each transfer."""
    if isinstance(model, Model):
        return (
            list(model.organ_names),
            model.primary_organ.name,
            list(model.carrier_names),
            [(t.source, t.target, t.kind.family) for t in model.transfers],
        )
    if isinstance(model, xr.Dataset):
        try:
            desc = json.loads(model.attrs["model"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                "`plot.model_graph(model)`: the dataset has no model description (attribute "
                "`model`); pass the `mfo.Model` or a dataset from `mfo.simulate`."
            ) from None
        # The dataset's `route_family` coordinate (over `route`, the route kinds present)
        # knows the families of route kinds defined outside the library too.
        family = {k.name: k.family for k in ROUTE_KINDS}
        if "route_family" in model.coords and "route" in model.coords:
            family.update(
                zip(
                    (str(r) for r in model["route"].values),
                    (str(f) for f in model["route_family"].values),
                    strict=True,
                )
            )
        organs = [o["name"] for o in desc["organs"]]
        primary = next(o["name"] for o in desc["organs"] if o["primary"])
        carriers = [c["name"] for c in desc["carriers"]]
        edges = [
            (t["source"], t["target"], family.get(t["kind"], t["kind"])) for t in desc["transfers"]
        ]
        return organs, primary, carriers, edges
    raise TypeError(
        "`plot.model_graph(model)` takes an `mfo.Model` or a dataset from `mfo.simulate`, got "
        f"{type(model).__name__}."
    )


def _column(names: list[str], x: float) -> dict[str, tuple[float, float]]:
    """Positions of `names` spread evenly down a column at `x`, centred on 0."""
    ys = np.linspace(0.5 * (len(names) - 1), -0.5 * (len(names) - 1), len(names))
    return {name: (x, float(y)) for name, y in zip(names, ys, strict=True)}


def model_graph(model, *, ax=None, legend: bool = True):
    """Draw the model graph: organs and carriers as boxes, transfers as arrows.

    A deterministic layered layout: the primary organ on the left, the carriers (blood,
    lymph, cavities, CSF, ...) in the middle column, the other organs on the right, each column
    in the order of the model. Organs are red boxes (the primary in bold), carriers blue
    rounded boxes. Each transfer is an arrow from its source to its target, coloured by the
    family of its route kind (`RouteKind.family`, colours in `ROUTE_COLOURS`; black for a
    route kind defined outside the library) and bent so that transfers between the same two
    nodes stay apart; a transfer from an organ to itself is a loop. The legend names the
    route kinds present.

    **Arguments:**

    - `model`: a [`Model`][metaflow_ode.Model], or a dataset from
      [`simulate`][metaflow_ode.simulate]: its `model` attribute (a JSON description of the
      organs, carriers and transfers) gives the graph, and its `route_family` coordinate
      (over `route`) the family of each route kind, so a route kind of your own is coloured
      as with the `Model`.
    - `ax`: a matplotlib `Axes`; default a new figure.
    - `legend`: whether to draw the legend of route kinds (default `True`).

    **Returns:** the `Axes`. The arrows are its `FancyArrowPatch` patches, one per transfer in
    the order of the model; the node names its texts.

    **Raises:** `TypeError` if `model` is neither a `Model` nor an `xarray.Dataset`;
    `ValueError` for a dataset without a model description.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import FancyArrowPatch

    organs, primary, carriers, edges = _structure(model)
    others = [o for o in organs if o != primary]
    pos = {**_column([primary], 0.0), **_column(carriers, 1.0)}
    pos.update(_column(others, 2.0 if carriers else 1.0))
    rows = max(len(carriers), len(others), 1)
    ax = axes(ax, (8, 1.5 + 0.6 * rows))

    seen: dict[frozenset, int] = {}
    for source, target, family in edges:
        colour = ROUTE_COLOURS.get(family, _OTHER)
        (x0, y0), (x1, y1) = pos[source], pos[target]
        if source == target:
            start, end, style = (x0 - 0.08, y0 + 0.12), (x0 + 0.08, y0 + 0.12), "arc3,rad=-1.8"
        else:
            # Transfers between one pair of nodes (either way) bend by 0.2 more each.
            pair = frozenset((source, target))
            k = seen[pair] = seen.get(pair, -1) + 1
            bend = 0.15 + 0.2 * k if len(edges) > 1 else 0.0
            start, end, style = (x0, y0), (x1, y1), f"arc3,rad={bend}"
        arrow = FancyArrowPatch(
            start,
            end,
            connectionstyle=style,
            arrowstyle="-|>",
            mutation_scale=12,
            color=colour,
            linewidth=1.4,
            shrinkA=0 if source == target else 22,
            shrinkB=0 if source == target else 22,
            zorder=1,
            label=f"_{source}->{target}",
        )
        ax.add_patch(arrow)
    for name, (x, y) in pos.items():
        is_carrier = name in carriers
        ax.text(
            x,
            y,
            name,
            ha="center",
            va="center",
            fontsize="small",
            fontweight="bold" if name == primary else "normal",
            zorder=3,
            bbox=dict(
                boxstyle="round,pad=0.4" if is_carrier else "square,pad=0.4",
                facecolor="#deebf7" if is_carrier else "#fde0dd",
                edgecolor="#3182bd" if is_carrier else "#c51b8a",
            ),
        )
    width = max(x for x, _ in pos.values())
    ax.set_xlim(-0.6, width + 0.6)
    ax.set_ylim(-0.5 * rows - 0.3, 0.5 * rows + 0.3)
    ax.set_axis_off()
    name = model.name if isinstance(model, Model) else json.loads(model.attrs["model"])["name"]
    ax.set_title(name, fontsize="medium")
    if legend:
        families = list(dict.fromkeys(family for _, _, family in edges))
        handles = [
            Line2D([], [], color=ROUTE_COLOURS.get(f, _OTHER), lw=2, label=f.replace("_", " "))
            for f in families
        ]
        if handles:
            ax.legend(handles=handles, title="route", fontsize="small", loc="lower left")
    return ax
