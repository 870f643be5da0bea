"""The size-structured colonies fidelity: options."""

from __future__ import annotations

import math

import equinox as eqx
import numpy as np
from jaxtyping import ArrayLike, Float

from .._params import Domain, check_parameters, parameter

__all__ = ["Colonies", "DEFAULT_SIZE_EDGES", "sphere_cells"]

DEFAULT_SIZE_EDGES = tuple(float(x) for x in np.logspace(0.0, 12.0, 25))
"""Default size-bin edges (cells): half decades from 1 to 1e12 cells."""


def sphere_cells(diameter_mm, cell_density):
    """Cells in a sphere of `diameter_mm` (mm) at `cell_density` (cells/mL)."""
    return math.pi / 6.0 * (diameter_mm / 10.0) ** 3 * cell_density


class Colonies(eqx.Module):
    """Size-structured colonies in every organ: the Iwata-Kawasaki-Shigesada transport PDE.

    In each organ the colonies have a size distribution `rho(t, x)` with
    `d rho/dt + d(v(x) rho)/dx = 0`, `v = g - beta` (growth less the cells a colony sheds),
    and the boundary flux `v(x0) rho(t, x0) = s(t)`: colonies are founded at `birth_size`
    cells at the organ's seeding rate `s`, which collects the emission of the primary tumour
    and of every colony in every organ through the model's routes (Iwata, Kawasaki &
    Shigesada, J Theor Biol 2000; 203:177). The primary tumour stays one lumped tumour.

    **Scheme.** The PDE is solved along its characteristics. A colony of age `a` has the size
    `X(a)` of the growth ODE `dX/da = v(X)`, `X(0) = birth_size`, solved once per organ (an
    implicit solver on `log X`, so stiff fast-growing laws are fine). Birth times are cut into
    `windows` equal windows over `[t0, t1]`, each with `nodes` Gauss-Legendre birth nodes; the
    state holds, per node, the colonies born in its window weighted by its Lagrange basis
    function (`dW/dt = s(t) l_j(t)`), so any colony integral is a Gauss quadrature in birth
    time: count `sum W`, burden `sum W X(t - tau)`, emission `sum W beta(X(t - tau))`. Window
    edges and nodes are jump times of the step-size controller. Lesion counts above a size
    (visible lesions, size bins) use the cumulative births reconstructed from the same
    polynomials, at the birth time whose colonies have just reached that size.

    **Under therapy.** A [`SystemicTherapy`][metaflow_ode.SystemicTherapy] or
    [`IntrathecalTherapy`][metaflow_ode.IntrathecalTherapy] that reaches metastases makes the
    growth velocity depend on time, so a colony's size is no longer a function of its age. Each
    birth node then also carries the log size of its colonies, integrated from its birth time
    along the characteristic under the therapy; burden and emission use these sizes at the
    nodes. The window still open uses the size at its mean birth time interpolated (linearly in
    log size) between the born nodes and the birth size, and lesion counts above a size use the
    birth time at which the node sizes cross it, interpolated between nodes (the flow keeps
    colonies ordered by size). Tested against closed forms of V2 under a kill window: burden
    1e-4, lesion counts and largest lesion 1e-3 (tests/test_interventions.py).

    States per organ: `windows * nodes` (default 128 * 2 = 256), twice that under therapy of
    metastases.

    **Arguments:**

    - `windows`: number of birth-time windows over `[t0, t1]` (default 128).
    - `nodes`: Gauss-Legendre birth nodes per window, 1 to 4 (default 2).
    - `birth_size`: cells of a new colony (default 1 cell; > 0).
    - `visible_diameter`: diameter in mm from which a lesion counts as visible (default 5 mm;
      a sphere at the model's cell density, 6.5e7 cells at 1e9 cells/mL).
    - `dormancy`: latency in days before a seeded colony starts to grow (default `None`, none).
      Dormant colonies are counted but neither grow nor shed until then (a dormancy phase as
      in Bilous et al., Sci Rep 2019; 9:13018).
    - `size_edges`: increasing edges (cells) of the size bins of the output size distribution
      (default half decades from 1 to 1e12 cells).
    - `eliminate_carriers`: as for [`Lumped`][metaflow_ode.Lumped], but `True` by default:
      with `windows * nodes` states per organ, dynamic carriers would make the whole system
      stiff and an implicit solver's Jacobian of that size is slow. Set `False` to integrate
      carrier cells as states (an implicit solver is then used).
    - `accounting`: as for [`Lumped`][metaflow_ode.Lumped].
    """

    windows: int = eqx.field(static=True)
    nodes: int = eqx.field(static=True)
    size_edges: tuple[float, ...] = eqx.field(static=True)
    eliminate_carriers: bool = eqx.field(static=True)
    accounting: bool = eqx.field(static=True)
    birth_size: Float[ArrayLike, ""] = parameter(
        units="cells", domain=Domain.POSITIVE, description="cells of a new colony"
    )
    visible_diameter: Float[ArrayLike, ""] = parameter(
        units="mm", domain=Domain.POSITIVE, description="diameter of a visible lesion"
    )
    dormancy: Float[ArrayLike, ""] | None = parameter(
        units="day",
        domain=Domain.NONNEGATIVE,
        description="latency before a seeded colony grows",
        default=None,
    )

    def __init__(
        self,
        windows: int = 128,
        nodes: int = 2,
        *,
        birth_size: float = 1.0,
        visible_diameter: float = 5.0,
        dormancy: float | None = None,
        size_edges=DEFAULT_SIZE_EDGES,
        eliminate_carriers: bool = True,
        accounting: bool = False,
    ):
        for name, value in (("eliminate_carriers", eliminate_carriers), ("accounting", accounting)):
            if not isinstance(value, bool):
                raise TypeError(f"`Colonies({name}=...)` must be True or False.")
        for name, value, low, high in (("windows", windows, 1, 100_000), ("nodes", nodes, 1, 4)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or not low <= value <= high
            ):
                raise ValueError(
                    f"`Colonies({name}=...)` must be an integer in [{low}, {high}], got {value!r}."
                )
        edges = np.asarray(size_edges, dtype=float)
        if (
            edges.ndim != 1
            or edges.size < 2
            or not np.all(np.isfinite(edges))
            or np.any(edges <= 0)
            or np.any(np.diff(edges) <= 0)
        ):
            raise ValueError(
                "`Colonies(size_edges=...)` must be at least two positive, finite, strictly "
                "increasing sizes in cells."
            )
        self.windows = int(windows)
        self.nodes = int(nodes)
        self.size_edges = tuple(float(e) for e in edges)
        self.birth_size = birth_size
        self.visible_diameter = visible_diameter
        self.dormancy = dormancy
        self.eliminate_carriers = eliminate_carriers
        self.accounting = accounting

    def __check_init__(self):
        check_parameters(self)

    def visible_cells(self, cell_density) -> float:
        """Cells of a visible lesion: a sphere of `visible_diameter` at `cell_density`."""
        return sphere_cells(self.visible_diameter, cell_density)
