"""Rewrite the example model files of this folder from the models built in Python.

Run with `python examples/models/regenerate.py` after a change to the whole-body preset or
to a parameter set; `tests/test_model_file.py` fails while a shipped file differs from the
model it was written from. The format is documented in `docs/model-files.md`.
"""

from __future__ import annotations

import pathlib

import metaflow_ode as mfo

HERE = pathlib.Path(__file__).resolve().parent

EXAMPLES = {
    "breast_wholebody.toml": (
        'mfo.anatomy.reference_model(primary="breast")',
        lambda: mfo.anatomy.reference_model(primary="breast"),
    ),
    "iwata2000.toml": (
        'mfo.parameter_sets.load("Iwata2000")',
        lambda: mfo.parameter_sets.load("Iwata2000"),
    ),
}


def comment(expression: str) -> str:
    """The comment header of an example file built by `expression`."""
    return (
        f"Generated from `{expression}`\n"
        "by examples/models/regenerate.py: rerun that script rather than editing this file.\n"
        "Schema: docs/model-files.md. Simulate it with\n"
        "    loaded = mfo.read_model(path)\n"
        "    mfo.simulate(loaded.model, 3650.0, interventions=loaded.interventions)"
    )


def main() -> list[pathlib.Path]:
    written = []
    for name, (expression, build) in EXAMPLES.items():
        written.append(mfo.write_model(HERE / name, build(), comment=comment(expression)))
        print(f"wrote {written[-1]}")
    return written


if __name__ == "__main__":
    main()
