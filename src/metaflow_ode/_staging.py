"""Staging along the Bio Therapeutic Goals of Cancer Care model (Sparrer et al. 2025, Fig. 5).

Runs outside `jit`, on the `xarray.Dataset` of [`simulate`][metaflow_ode.simulate]: every save
time gets a stage, the stage's goal of care and its indicated therapy classes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import types
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from ._resolution.colonies import sphere_cells
from .anatomy._reference import MEYERS_SITES

__all__ = [
    "DEFAULT_STAGE_TABLE",
    "DEFAULT_UNTREATABLE",
    "GOALS_OF_CARE",
    "STAGES",
    "STAGING_SOURCES",
    "StageRule",
    "StagingRules",
    "stage",
]

SPARRER_2025 = (
    "Sparrer D et al. Primary and secondary metastatic dissemination: multiple routes to "
    "cancer-related death. Mol Cancer 2025; 24:203, Fig. 5 (Bio Therapeutic Goals of Cancer "
    "Care model)"
)
LIEVENS_2020 = (
    "Lievens Y et al. Defining oligometastatic disease from a radiation oncology perspective: "
    "an ESTRO-ASTRO consensus document. Radiother Oncol 2020; 148:157-166"
)
GUCKENBERGER_2020 = (
    "Guckenberger M et al. Characterisation and classification of oligometastatic disease: a "
    "European Society for Radiotherapy and Oncology and European Organisation for Research "
    "and Treatment of Cancer consensus recommendation. Lancet Oncol 2020; 21:e18-e28"
)

STAGING_SOURCES = f"{SPARRER_2025}. {LIEVENS_2020}. {GUCKENBERGER_2020}."
"""Citations behind the stages, their goals of care and the oligometastatic rule."""

STAGES = (
    "localised",
    "oligometastatic",
    "polymetastatic",
    "organ_function_threatened",
    "organ_failure",
    "end_of_life",
)
"""The stages of the Bio Therapeutic Goals of Cancer Care model (Sparrer et al., Mol Cancer
2025; 24:203, Fig. 5), from the earliest to the most advanced:

- `localised`: no visible metastasis (also no evidence of disease after treatment);
- `oligometastatic`: 1 to `max_lesions` visible metastatic lesions, all in treatable organs;
- `polymetastatic`: more lesions, or an untreatable site, with organ function preserved;
- `organ_function_threatened`: an organ has reached its warning level (secondary intra-organ
  dissemination threatens its function);
- `organ_failure`: an organ has failed;
- `end_of_life`: after death.
"""

GOALS_OF_CARE = (
    "cure",
    "long-term control",
    "disease control",
    "maintain organ function",
    "symptom control / end-of-life care",
)
"""The goals of care of the Bio Therapeutic Goals of Cancer Care model (Sparrer et al., Mol
Cancer 2025; 24:203, Fig. 5), from the most to the least ambitious."""


def _string_tuple(owner: str, argument: str, value, *, nonempty: bool) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(
            f"`{owner}({argument}=...)` must be a tuple of strings, e.g. "
            f'("peritoneum", "pleura"), got {type(value).__name__}.'
        )
    value = tuple(value)
    if not all(isinstance(v, str) and v for v in value):
        raise TypeError(f"`{owner}({argument}=...)` must hold only non-empty strings.")
    if nonempty and not value:
        raise ValueError(f"`{owner}({argument}=...)` is empty: give at least one entry.")
    return value


@dataclasses.dataclass(frozen=True)
class StageRule:
    """What one stage means for care: its goal of care and its indicated therapy classes.

    The defaults (`DEFAULT_STAGE_TABLE`) are the library's reading of Fig. 5 of Sparrer et al.
    (Mol Cancer 2025; 24:203), which aligns metastatic biology, clinical stage, goal of care and
    therapeutic indication. They are labels attached to the simulated stage, not treatment
    advice.

    **Arguments:**

    - `goal_of_care`: one of `GOALS_OF_CARE` (`"cure"`, `"long-term control"`, `"disease
      control"`, `"maintain organ function"`, `"symptom control / end-of-life care"`).
    - `therapies`: non-empty tuple of the indicated therapy classes, e.g. `("surgery",
      "radiotherapy")`.
    - `source`: the reference (or the stated assumption) behind this rule.
    """

    goal_of_care: str
    therapies: tuple[str, ...]
    source: str

    def __post_init__(self):
        if not isinstance(self.goal_of_care, str) or self.goal_of_care not in GOALS_OF_CARE:
            raise ValueError(
                f"`StageRule(goal_of_care=...)` must be one of {GOALS_OF_CARE}, got "
                f"{self.goal_of_care!r}."
            )
        therapies = _string_tuple("StageRule", "therapies", self.therapies, nonempty=True)
        object.__setattr__(self, "therapies", therapies)
        if not isinstance(self.source, str) or not self.source.strip():
            raise TypeError(
                "`StageRule(source=...)` must be a non-empty string: the reference or the "
                "assumption behind the rule."
            )


_FIG5 = f"{SPARRER_2025}; the library's reading of the figure"

DEFAULT_STAGE_TABLE: Mapping[str, StageRule] = types.MappingProxyType(
    {
        "localised": StageRule(
            "cure",
            ("surgery", "radiotherapy", "(neo)adjuvant systemic therapy"),
            _FIG5,
        ),
        "oligometastatic": StageRule(
            "long-term control",
            ("local ablative therapy (surgery, SBRT)", "systemic therapy"),
            f"{_FIG5} (long-term control, cure possible in some patients); definition of "
            f"oligometastatic disease: {LIEVENS_2020}; {GUCKENBERGER_2020}",
        ),
        "polymetastatic": StageRule("disease control", ("systemic therapy",), _FIG5),
        "organ_function_threatened": StageRule(
            "maintain organ function",
            (
                "systemic therapy",
                "organ-directed local therapy (palliative radiotherapy, stent, drainage)",
            ),
            _FIG5,
        ),
        "organ_failure": StageRule(
            "maintain organ function",
            (
                "organ support and palliative procedures (drainage, shunt, stent)",
                "best supportive care",
            ),
            _FIG5,
        ),
        "end_of_life": StageRule(
            "symptom control / end-of-life care",
            ("best supportive care", "palliative care"),
            _FIG5,
        ),
    }
)
"""Default [`StageRule`][metaflow_ode.StageRule] of every stage in `STAGES` (read-only): the
library's reading of Fig. 5 of Sparrer et al. (Mol Cancer 2025; 24:203).

| stage | goal of care | indicated therapy classes |
|---|---|---|
| localised | cure | surgery; radiotherapy; (neo)adjuvant systemic therapy |
| oligometastatic | long-term control (cure possible) | local ablative therapy (surgery, SBRT); systemic therapy |
| polymetastatic | disease control | systemic therapy |
| organ_function_threatened | maintain organ function | systemic therapy; organ-directed local therapy (palliative radiotherapy, stent, drainage) |
| organ_failure | maintain organ function | organ support and palliative procedures (drainage, shunt, stent); best supportive care |
| end_of_life | symptom control / end-of-life care | best supportive care; palliative care |
"""  # noqa: E501

DEFAULT_UNTREATABLE = ("peritoneum", "pleura", "pericardium", "leptomeninges", *MEYERS_SITES)
"""Organs whose visible metastases make the disease polymetastatic whatever their number:
diffuse serosal disease (the peritoneum and its pooling sites of Meyers, `MEYERS_SITES`; the
pleura; the pericardium) and leptomeningeal disease.

An assumption of this library. The consensus definitions require every metastatic site to be
safely treatable by local therapy with curative intent (ESTRO-ASTRO, Lievens et al., Radiother
Oncol 2020; 148:157; ESTRO-EORTC, Guckenberger et al., Lancet Oncol 2020; 21:e18), and we take
disease spread over a serosa or the leptomeninges as not safely treatable by local ablation.
The papers do not give this list; selected patients with limited peritoneal disease are treated
surgically, so change it where that applies (`StagingRules(untreatable=...)`).
"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class StagingRules:
    """The user-changeable rules that assign a stage (`STAGES`) to a simulated trajectory.

    A trajectory is oligometastatic while it has 1 to `max_lesions` visible metastatic lesions,
    all in treatable organs (ESTRO-ASTRO consensus, Lievens et al., Radiother Oncol 2020;
    148:157: "1-5 metastatic lesions ... all metastatic sites must be safely treatable";
    ESTRO-EORTC classification, Guckenberger et al., Lancet Oncol 2020; 21:e18), and, if
    `max_organs` is set, in at most `max_organs` organs. More lesions, a lesion in an
    untreatable organ or too many organs make it polymetastatic. The stages from organ
    warning, organ failure and death, and the goal of care and therapies of every stage, follow
    Sparrer et al. (Mol Cancer 2025; 24:203, Fig. 5). See [`stage`][metaflow_ode.stage].

    Change a rule with `dataclasses.replace(rules, max_lesions=3)` or a new `StagingRules`.

    **Arguments:**

    - `max_lesions`: most visible metastatic lesions of oligometastatic disease, an integer
      >= 1 (default 5, the ESTRO-ASTRO consensus).
    - `max_organs`: most involved organs of oligometastatic disease, an integer >= 1, or `None`
      for no limit (default; the consensus found no data to set one).
    - `untreatable`: tuple of organ names in which any visible lesion makes the disease
      polymetastatic (default `DEFAULT_UNTREATABLE`: diffuse serosal and leptomeningeal
      disease, an assumption). Names not in the model are ignored.
    - `visible_diameter`: diameter in mm from which a lesion counts as visible (default 5 mm,
      an assumption for the detection limit of imaging, as in
      [`Colonies`][metaflow_ode.Colonies]). With the colonies fidelity it must equal the
      `visible_diameter` the simulation counted `visible_lesions` at.
    - `stages`: mapping of every name in `STAGES` to its [`StageRule`][metaflow_ode.StageRule]
      (default `DEFAULT_STAGE_TABLE`); stored read-only.
    """

    max_lesions: int = 5
    max_organs: int | None = None
    untreatable: tuple[str, ...] = DEFAULT_UNTREATABLE
    visible_diameter: float = 5.0
    stages: Mapping[str, StageRule] = dataclasses.field(
        default_factory=lambda: DEFAULT_STAGE_TABLE, hash=False
    )

    def __post_init__(self):
        for name, value, optional in (
            ("max_lesions", self.max_lesions, False),
            ("max_organs", self.max_organs, True),
        ):
            if optional and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                none = " or None" if optional else ""
                raise ValueError(
                    f"`StagingRules({name}=...)` must be an integer >= 1{none}, got {value!r}."
                )
            object.__setattr__(self, name, int(value))
        untreatable = _string_tuple("StagingRules", "untreatable", self.untreatable, nonempty=False)
        object.__setattr__(self, "untreatable", untreatable)
        d = self.visible_diameter
        if isinstance(d, bool) or not isinstance(d, numbers.Real):
            raise TypeError(
                f"`StagingRules(visible_diameter=...)` must be a number in mm, got "
                f"{type(d).__name__}."
            )
        if not math.isfinite(d) or d <= 0:
            raise ValueError(
                f"`StagingRules(visible_diameter=...)` must be a finite diameter > 0 mm, got {d!r}."
            )
        object.__setattr__(self, "visible_diameter", float(d))
        if not isinstance(self.stages, Mapping):
            raise TypeError(
                "`StagingRules(stages=...)` must map each stage name to a `StageRule`, e.g. "
                '{**DEFAULT_STAGE_TABLE, "polymetastatic": StageRule(...)}.'
            )
        missing = [s for s in STAGES if s not in self.stages]
        unknown = sorted(str(s) for s in self.stages if s not in STAGES)
        if missing or unknown:
            raise ValueError(
                f"`StagingRules(stages=...)` must have exactly the stages {STAGES}; missing "
                f"{missing}, unknown {unknown}."
            )
        wrong = [s for s in STAGES if not isinstance(self.stages[s], StageRule)]
        if wrong:
            raise TypeError(
                f"`StagingRules(stages=...)`: the entries for {wrong} must be `StageRule(...)`."
            )
        object.__setattr__(
            self, "stages", types.MappingProxyType({s: self.stages[s] for s in STAGES})
        )

    def to_json(self) -> str:
        """The rules as a JSON string (stored as the dataset attribute `staging_rules`)."""
        return json.dumps(
            {
                "max_lesions": self.max_lesions,
                "max_organs": self.max_organs,
                "untreatable": list(self.untreatable),
                "visible_diameter_mm": self.visible_diameter,
                "stages": {
                    s: {
                        "goal_of_care": r.goal_of_care,
                        "therapies": list(r.therapies),
                        "source": r.source,
                    }
                    for s, r in self.stages.items()
                },
            }
        )


# Variables and coordinates written by `stage`: removed first, so a dataset can be restaged.
_OUTPUTS = (
    "visible_metastases",
    "stage",
    "stage_index",
    "goal_of_care",
    "indicated_therapies",
    "stage_entry_time",
    "stage_duration",
    "stage_goal",
    "stage_name",
)


def _require(dataset: xr.Dataset, name: str, dims: tuple[str, ...]) -> np.ndarray:
    if name not in dataset.variables:
        raise TypeError(
            f"`stage(dataset)`: the dataset has no variable `{name}`; stage the dataset that "
            "`mfo.simulate` returns."
        )
    var = dataset[name]
    if set(var.dims) != set(dims):
        raise ValueError(
            f"`stage(dataset)`: `{name}` has dimensions {var.dims}, expected {dims}. `stage` "
            "classifies one simulation at a time; select one first, e.g. "
            "`dataset.isel(patient=0)`."
        )
    values = np.asarray(var.transpose(*dims).values, dtype=float)
    return values


def _attr_json(dataset: xr.Dataset, key: str) -> dict:
    text = dataset.attrs.get(key, "{}")
    try:
        out = json.loads(text)
    except (TypeError, ValueError):
        raise ValueError(
            f"`stage(dataset)`: the dataset attribute `{key}` is not the JSON that "
            "`mfo.simulate` writes."
        ) from None
    return out if isinstance(out, dict) else {}


def _visible(dataset: xr.Dataset, rules: StagingRules) -> tuple[np.ndarray, str]:
    """Visible metastatic lesions per time and organ, and the `long_name` saying how."""
    if "visible_lesions" in dataset.variables:
        expected = _require(dataset, "visible_lesions", ("time", "organ"))
        counted_at = _attr_json(dataset, "options").get("visible_diameter")
        if counted_at is not None and not math.isclose(
            float(counted_at), rules.visible_diameter, rel_tol=1e-12
        ):
            raise ValueError(
                f"`stage(dataset, rules)`: `rules.visible_diameter` is {rules.visible_diameter} "
                f"mm, but the colonies fidelity counted `visible_lesions` at {counted_at} mm. "
                f"Use `StagingRules(visible_diameter={counted_at})`, or simulate again with "
                f"`mfo.Colonies(visible_diameter={rules.visible_diameter})`."
            )
        name = "visible_lesions"
        # Whole lesions: the expected count rounded half up (0.5 expected lesions count as 1).
        counts = np.floor(expected + 0.5)
        long_name = (
            "visible metastatic lesions used for staging: the expected count of lesions at or "
            f"above {rules.visible_diameter:g} mm (`visible_lesions`, colonies fidelity) rounded "
            "to the nearest whole lesion"
        )
    else:
        burden = _require(dataset, "metastatic_burden", ("time", "organ"))
        density = float(_attr_json(dataset, "parameters").get("cell_density", 1e9))
        threshold = sphere_cells(rules.visible_diameter, density)
        name = "metastatic_burden"
        counts = (burden >= threshold).astype(float)
        counts[np.isnan(burden)] = np.nan
        long_name = (
            "visible metastatic lesions used for staging (lumped fidelity): 1 in each organ "
            f"whose metastatic burden is at least one visible lesion ({threshold:.4g} cells, "
            f"a {rules.visible_diameter:g} mm sphere at {density:.4g} cells/mL), else 0; a "
            "lower bound on the number of lesions"
        )
    if np.isnan(counts).any():
        times = np.asarray(dataset["time"].values, dtype=float)
        bad = int(np.flatnonzero(np.isnan(counts).any(axis=1))[0])
        status = dataset["solver_status"].values if "solver_status" in dataset else "unknown"
        fix = f" Stage the part before it: `dataset.isel(time=slice(None, {bad}))`." if bad else ""
        raise ValueError(
            f"`stage(dataset)`: `{name}` is NaN from time {times[bad]:g} day (solver status: "
            f"{str(status)!r}).{fix}"
        )
    # whole lesions as float64: expected counts can exceed the int64 range late in a run
    return counts, long_name


def _earliest(times: np.ndarray) -> float:
    finite = times[np.isfinite(times)]
    return float(finite.min()) if finite.size else math.inf


def stage(dataset: xr.Dataset, rules: StagingRules | None = None) -> xr.Dataset:
    """Classify a simulation along the Bio Therapeutic Goals of Cancer Care model.

    At every save time the trajectory gets one of `STAGES` (Sparrer et al., Mol Cancer 2025;
    24:203, Fig. 5); the most advanced stage that applies wins:

    1. `end_of_life` from `death_time` on;
    2. `organ_failure` from the first organ `failure_time` on;
    3. `organ_function_threatened` from the first organ `warning_time` on;
    4. `polymetastatic` while the visible metastatic lesions number more than
       `rules.max_lesions`, or any involved organ (one with a visible lesion) is in
       `rules.untreatable`, or more than `rules.max_organs` organs are involved;
    5. `oligometastatic` while there are 1 to `rules.max_lesions` visible metastatic lesions
       (ESTRO-ASTRO consensus, Lievens et al., Radiother Oncol 2020; 148:157; ESTRO-EORTC,
       Guckenberger et al., Lancet Oncol 2020; 21:e18);
    6. `localised` otherwise: no visible metastasis, also no evidence of disease after
       treatment. The primary tumour is never counted; metastases seeded back into the primary
       organ are.

    The stages 1-3 come from first-crossing times, so once an organ is threatened the
    trajectory stays threatened or worse, even if burden later falls. The stages 4-6 are read
    at each save time from the visible lesions and can go back down (e.g. after an ablation).
    In a simulated dataset `death_time` is the first lethal organ failure (or the lethal
    whole-body burden): `organ_failure` lasts from a failure declared
    `Failure(lethal=False)` (e.g. a drained effusion) until death, and is entered and left at
    the same instant when the first failure is lethal.

    Visible lesions: with the colonies fidelity, the expected count of lesions at or above the
    visible size (`visible_lesions`) rounded to the nearest whole lesion; with the lumped
    fidelity, which has no lesions, 1 lesion in each organ whose `metastatic_burden` reaches
    the cells of one visible lesion (a sphere of `rules.visible_diameter` at the model's cell
    density): a lower bound on the lesion count, so lumped runs can be staged
    oligometastatic where several lesions would make them polymetastatic.

    Stages one simulation (dimensions `time` and `organ`); select a patient of a cohort first.

    **Arguments:**

    - `dataset`: the `xarray.Dataset` of [`simulate`][metaflow_ode.simulate] (needs `time`,
      `organ`, `metastatic_burden` or `visible_lesions`, `warning_time`, `failure_time` and
      `death_time`).
    - `rules`: the [`StagingRules`][metaflow_ode.StagingRules]; default `StagingRules()`.

    **Returns:** a copy of `dataset` with, each with `units` and `long_name`:

    - `visible_metastases` (time, organ; lesions): the visible lesions used for staging;
    - `stage` (time; str), `stage_index` (time; index into `STAGES`), `goal_of_care` (time;
      str), `indicated_therapies` (time; the stage's therapy classes joined by "; ");
    - `stage_entry_time` (stage_name; day): first time in each stage, NaN if never; the exact
      warning, failure and death times for the stages they start when they fall inside the
      saved span, else the first save time in the stage;
    - `stage_duration` (stage_name; day): time in each stage on the save grid, the stage at
      save `i` holding on `[t_i, t_{i+1})` (the last save holds nothing);
    - coordinates `stage_name` (the `STAGES`) and `stage_goal` (stage_name; its goal of care);
    - attributes `staging_rules` (the rules as JSON) and `staging_sources` (citations).

    **Raises:** `TypeError` if `dataset` is not an `xarray.Dataset` or lacks a needed variable,
    or `rules` is not a `StagingRules`; `ValueError` for a dataset with extra dimensions, NaN
    lesion data, unsorted times, or a `rules.visible_diameter` other than the one the colonies
    fidelity counted lesions at.
    """
    if not isinstance(dataset, xr.Dataset):
        raise TypeError(
            "`stage(dataset)` needs the `xarray.Dataset` that `mfo.simulate` returns, got "
            f"{type(dataset).__name__}."
        )
    if rules is None:
        rules = StagingRules()
    elif not isinstance(rules, StagingRules):
        raise TypeError(
            f"`stage(dataset, rules=...)` must be `StagingRules(...)` or None, got "
            f"{type(rules).__name__}."
        )
    for coord in ("time", "organ"):
        if coord not in dataset.coords:
            raise TypeError(
                f"`stage(dataset)`: the dataset has no `{coord}` coordinate; stage the dataset "
                "that `mfo.simulate` returns."
            )
    times = np.asarray(dataset["time"].values, dtype=float)
    if times.size == 0 or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError(
            "`stage(dataset)`: `time` must hold at least one finite save time, strictly increasing."
        )
    warning = _require(dataset, "warning_time", ("organ",))
    failure = _require(dataset, "failure_time", ("organ",))
    death = float(_require(dataset, "death_time", ()))
    visible, visible_long_name = _visible(dataset, rules)
    organs = [str(o) for o in dataset["organ"].values]

    # Lesion-based stages (indices 0-2), at each save time.
    total = visible.sum(axis=1)
    involved = visible >= 1
    untreatable = np.array([o in rules.untreatable for o in organs], dtype=bool)
    poly = (total > rules.max_lesions) | (involved & untreatable).any(axis=1)
    if rules.max_organs is not None:
        poly |= involved.sum(axis=1) > rules.max_organs
    index = np.where(poly, 2, np.where(total >= 1, 1, 0))

    # Event-based stages (indices 3-5), from first-crossing times; the most advanced wins.
    events = {
        3: _earliest(warning),
        4: _earliest(failure),
        5: death if math.isfinite(death) else math.inf,
    }
    for k in (3, 4, 5):
        index = np.where(times >= events[k], k, index)
    index = index.astype(np.int64)

    entry = np.full(len(STAGES), np.nan)
    duration = np.zeros(len(STAGES))
    held = np.diff(times)
    for k in range(len(STAGES)):
        on_grid = np.flatnonzero(index == k)
        if on_grid.size:
            entry[k] = times[on_grid[0]]
        duration[k] = held[index[:-1] == k].sum()
    for k, t in events.items():
        superseded = any(events[j] < t for j in events if j > k)
        if times[0] <= t <= times[-1] and not superseded:
            entry[k] = t

    names = np.array([STAGES[k] for k in index], dtype=object)
    goals = np.array([rules.stages[s].goal_of_care for s in names], dtype=object)
    therapies = np.array(["; ".join(rules.stages[s].therapies) for s in names], dtype=object)
    source = "Sparrer et al., Mol Cancer 2025; 24:203, Fig. 5"

    out = dataset.drop_vars([v for v in _OUTPUTS if v in dataset.variables])
    out = out.assign_coords(
        stage_name=xr.Variable(
            ("stage_name",),
            np.array(STAGES, dtype=object),
            attrs={
                "long_name": f"stage of the Bio Therapeutic Goals of Cancer Care model ({source})"
            },
        ),
        stage_goal=xr.Variable(
            ("stage_name",),
            np.array([rules.stages[s].goal_of_care for s in STAGES], dtype=object),
            attrs={"units": "1", "long_name": "goal of care of the stage"},
        ),
    )
    out = out.assign(
        visible_metastases=xr.Variable(
            ("time", "organ"),
            visible,
            attrs={"units": "lesions", "long_name": visible_long_name},
        ),
        stage=xr.Variable(
            ("time",),
            names,
            attrs={
                "units": "1",
                "long_name": "stage of the Bio Therapeutic Goals of Cancer Care model "
                f"({source}): one of " + ", ".join(STAGES),
            },
        ),
        stage_index=xr.Variable(
            ("time",),
            index,
            attrs={
                "units": "1",
                "long_name": "index of `stage` in STAGES: "
                + ", ".join(f"{k} {s}" for k, s in enumerate(STAGES)),
            },
        ),
        goal_of_care=xr.Variable(
            ("time",),
            goals,
            attrs={"units": "1", "long_name": f"goal of care of the stage ({source})"},
        ),
        indicated_therapies=xr.Variable(
            ("time",),
            therapies,
            attrs={
                "units": "1",
                "long_name": f"therapy classes indicated in the stage, '; '-joined ({source})",
            },
        ),
        stage_entry_time=xr.Variable(
            ("stage_name",),
            entry,
            attrs={
                "units": "day",
                "long_name": "first time in the stage (NaN: never): the exact warning, failure "
                "and death times where they fall inside the saved span, else the first save "
                "time in the stage",
            },
        ),
        stage_duration=xr.Variable(
            ("stage_name",),
            duration,
            attrs={
                "units": "day",
                "long_name": "time in the stage on the save grid: the stage at save i holds on "
                "[t_i, t_(i+1)); the last save holds nothing",
            },
        ),
    )
    out.attrs = {
        **dataset.attrs,
        "staging_rules": rules.to_json(),
        "staging_sources": STAGING_SOURCES,
    }
    return out
