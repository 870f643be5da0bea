"""Every public name of `metaflow_ode` has an entry in the API reference (docs/api/*.md).

Pure Python: the Markdown files are parsed for mkdocstrings blocks (`::: identifier` plus its
indented YAML options); mkdocs itself is not needed.
"""

from __future__ import annotations

import importlib
import re
import types
from pathlib import Path

import metaflow_ode

API = Path(__file__).resolve().parents[1] / "docs" / "api"
SUBMODULES = ("anatomy", "noise", "parameter_sets", "plot")
# Imported on first use from `metaflow_ode._fit._bayes` (optional `bayes` extra): the API page
# documents them from their defining module.
LAZY = ("BayesianModel", "numpyro_model", "prediction_bands", "sample_posterior")

_BLOCK = re.compile(r"^:::\s+(\S+)[ \t]*\n((?:[ \t]+\S.*\n?)*)", re.MULTILINE)


def _blocks() -> list[tuple[str, str]]:
    """(identifier, options text) of every `::: identifier` block in the API pages."""
    blocks = []
    for path in sorted(API.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        blocks += [(m.group(1), m.group(2)) for m in _BLOCK.finditer(text + "\n")]
    return blocks


def _module_names(module: types.ModuleType) -> list[str]:
    """Public names of a submodule: its `__all__`, else public attributes that are not modules
    and are defined inside `metaflow_ode` (names imported from elsewhere are not its API)."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for name in dir(module):
        if name.startswith("_"):
            continue
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            continue
        origin = getattr(value, "__module__", None)
        if origin is not None and not origin.startswith("metaflow_ode"):
            continue
        names.append(name)
    return names


def _public_names() -> list[str]:
    """Qualified public names: `metaflow_ode.NAME` and `metaflow_ode.SUBMODULE.NAME`."""
    names = []
    for name in dir(metaflow_ode):
        if name.startswith("_"):
            continue
        if name not in LAZY:
            value = getattr(metaflow_ode, name)
            if isinstance(value, types.ModuleType):
                if name in SUBMODULES:
                    names.append(f"metaflow_ode.{name}")
                continue
        names.append(f"metaflow_ode.{name}")
    names += [f"metaflow_ode.{name}" for name in LAZY if f"metaflow_ode.{name}" not in names]
    for sub in SUBMODULES:
        module = importlib.import_module(f"metaflow_ode.{sub}")
        names += [f"metaflow_ode.{sub}.{name}" for name in _module_names(module)]
    return names


def _listed_members(options: str) -> list[str] | None:
    """Members a block restricts itself to (`members: [a, b]` or a YAML list), None if all;
    an empty list for `members: false`."""
    match = re.search(r"^\s*members:\s*(.*)$", options, re.MULTILINE)
    if match is None:
        return None
    value = match.group(1).strip()
    if value in ("false", "False", "no"):
        return []
    if value in ("true", "True", "yes", ""):
        if value == "":
            rest = options[match.end() :]
            return re.findall(r"^\s*-\s*(\w+)\s*$", rest, re.MULTILINE)
        return None
    return [v.strip().strip("'\"") for v in value.strip("[]").split(",") if v.strip()]


def _documented(qualified: str, blocks: list[tuple[str, str]]) -> bool:
    parent, _, name = qualified.rpartition(".")
    for identifier, options in blocks:
        if identifier == qualified:
            return True
        # A lazily imported name, documented from its defining (private) module.
        if qualified.count(".") == 1 and name in LAZY and identifier.endswith(f"._bayes.{name}"):
            return True
        # A name rendered as a member of its module's block.
        if identifier == parent and parent != "metaflow_ode":
            members = _listed_members(options)
            if members is None or name in members:
                return True
    return False


def test_api_pages_exist():
    assert API.is_dir()
    assert _blocks(), "no `::: identifier` blocks in docs/api"


def test_every_public_name_is_in_the_api_reference():
    blocks = _blocks()
    missing = [name for name in _public_names() if not _documented(name, blocks)]
    assert not missing, (
        "public names missing from the API reference (add `::: NAME` to a page in docs/api/): "
        + ", ".join(missing)
    )


def test_api_blocks_name_existing_objects():
    """A block naming something that no longer exists would only fail the docs build."""
    for identifier, _ in _blocks():
        parts = identifier.split(".")
        assert parts[0] == "metaflow_ode", identifier
        obj = importlib.import_module("metaflow_ode")
        for i, part in enumerate(parts[1:], start=1):
            try:
                obj = getattr(obj, part)
            except AttributeError:
                obj = importlib.import_module(".".join(parts[: i + 1]))
