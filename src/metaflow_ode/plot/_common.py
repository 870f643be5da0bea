"""Shared helpers of the plots: the pyplot import, new axes, argument checks."""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

DAYS_PER_YEAR = 365.25
"""Days per (Julian) year: the unit of time axes in years, here and in the command line."""


def pyplot():
    """`matplotlib.pyplot`, or an `ImportError` naming the `plot` extra."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "metaflow_ode.plot needs matplotlib: `pip install metaflow_ode[plot]`."
        ) from error
    return plt


def axes(ax, figsize: tuple[float, float]):
    """`ax`, or the `Axes` of a new figure of `figsize` inches."""
    if ax is None:
        _, ax = pyplot().subplots(figsize=figsize, layout="constrained")
        return ax
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"`ax` must be a matplotlib `Axes` or None, got {type(ax).__name__}.")
    return ax


def time_scale(years: bool) -> tuple[float, str]:
    """Days per unit of the time axis, and its label."""
    return (DAYS_PER_YEAR, "time (years)") if years else (1.0, "time (days)")


def check_dataset(ds, function: str, variables: Sequence[str], *, cohort: bool = False) -> None:
    """`ds` is an `xarray.Dataset` holding `variables`; one simulation unless `cohort`."""
    if not isinstance(ds, xr.Dataset):
        what = "a cohort" if cohort else "a simulation"
        raise TypeError(
            f"`plot.{function}` takes the `xarray.Dataset` of {what}, got {type(ds).__name__}."
        )
    if cohort and "patient" not in ds.dims:
        raise ValueError(
            f"`plot.{function}` needs the dataset of a cohort (a `patient` dimension), from "
            "`mfo.simulate_cohort`; wrap one simulation as `dataset.expand_dims('patient')`."
        )
    if not cohort and "patient" in ds.dims:
        raise ValueError(
            f"`plot.{function}` draws one simulation, and this dataset is a cohort of "
            f"{ds.sizes['patient']} patients: select one, e.g. `cohort.isel(patient=0)`."
        )
    missing = [name for name in variables if name not in ds.variables]
    if missing:
        raise ValueError(
            f"`plot.{function}`: the dataset has no variable(s) {missing}; pass a dataset from "
            "`mfo.simulate` (or `mfo.simulate_cohort`) that keeps them."
        )


def check_organs(ds: xr.Dataset, organs, function: str, argument: str = "organs") -> list[str]:
    """`organs` (a name or a sequence of names) as a list, each an organ of `ds`."""
    known = [str(o) for o in ds["organ"].values]
    names = [organs] if isinstance(organs, str) else organs
    if not isinstance(names, Sequence) or not all(isinstance(o, str) for o in names):
        raise TypeError(
            f"`plot.{function}({argument}=...)` must be an organ name or a list of them, got "
            f"{type(organs).__name__}."
        )
    unknown = [o for o in names if o not in known]
    if unknown:
        raise ValueError(
            f"`plot.{function}({argument}=...)`: {unknown} not in the dataset; its organs are "
            f"{known}."
        )
    return list(names)
