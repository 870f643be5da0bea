"""Lazily read reference data shipped with the package (`anatomy/data/`)."""

from __future__ import annotations

import functools
import importlib.resources
import io
import tomllib

import pandas as pd

SEXES = ("female", "male")
DRAINAGE_CLASSES = ("caval", "portal", "pulmonary", "lymph", "peritoneal", "csf")


def _read_text(name: str) -> str:
    return importlib.resources.files(__package__).joinpath("data", name).read_text("utf-8")


@functools.cache
def _organ_table() -> pd.DataFrame:
    table = pd.read_csv(io.StringIO(_read_text("organs.csv")), index_col="organ")
    table["modelled"] = table["modelled"].astype(bool)
    return table


def organ_table(sex: str | None = None) -> pd.DataFrame:
    """The reference organs: volume, share of cardiac output, venous drainage, source.

    Rows are the tissues of an adult reference person of ICRP Publication 89 (2002), Tables
    2.8 (masses) and 2.40 (blood flow as % of cardiac output), with each row's source in the
    `source` column; tissues that ICRP 89 does not list (serous membranes, leptomeninges, the
    flow of breast and prostate) are documented assumptions, marked as such in `source`. Rows
    with `modelled == False` (adipose, heart, ...) are not organs of the reference model: the
    blood they receive returns to the caval blood, and cells arrested there count as cleared.

    **Arguments:**

    - `sex`: `"female"` or `"male"` for one reference person, or `None` for both columns.

    **Returns:** a `pandas.DataFrame` indexed by organ. With `sex` given, columns
    `volume_ml` (mL, mass / density), `cardiac_output_share` (dimensionless, sums to 1 over all
    rows), `drainage` (where cells shed by the organ go: `caval`, `portal`, `pulmonary` (to the
    arterial blood), `lymph`, `peritoneal`, `csf`), `modelled` and `source`; organs absent in
    that sex (prostate, ovary) are dropped. With `sex=None` the raw columns (masses in g,
    density in g/mL, flows in % of cardiac output for each sex).
    """
    table = _organ_table()
    if sex is None:
        return table.copy()
    if sex not in SEXES:
        raise ValueError(f"`organ_table(sex=...)` must be 'female', 'male' or None, got {sex!r}.")
    mass = table[f"mass_{sex}_g"]
    share = table[f"cardiac_output_{sex}_pct"] / 100.0
    present = share.notna()
    out = pd.DataFrame(
        {
            "volume_ml": (mass / table["density_g_per_ml"])[present],
            "cardiac_output_share": share[present],
            "drainage": table["drainage"][present],
            "modelled": table["modelled"][present],
            "source": table["source"][present],
        }
    )
    out.attrs["units"] = {"volume_ml": "mL", "cardiac_output_share": "1"}
    return out


@functools.cache
def _presets() -> dict:
    return tomllib.loads(_read_text("presets.toml"))


@functools.cache
def _soil_table() -> pd.DataFrame:
    return pd.read_csv(io.StringIO(_read_text("soil.csv")))
