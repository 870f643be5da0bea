"""Published models, one module each, cited and tested against their published numbers.

- `Iwata2000`: hepatocellular carcinoma, Gompertz growth and power-law emission, every colony
  emitting into the same organ (Iwata, Kawasaki & Shigesada, J Theor Biol 2000; 203:177).
- `Benzekry2021`: high-risk neuroblastoma, exponential growth, emission in proportion to size
  (Benzekry et al., JCO Clin Cancer Inform 2021; 5:81).

```python
model = mfo.parameter_sets.load("Iwata2000")
```
"""

from __future__ import annotations

import importlib

from .._model import Model

__all__ = ["NAMES", "load", "describe"]

NAMES = ("Iwata2000", "Benzekry2021")
"""Names accepted by [`load`][metaflow_ode.parameter_sets.load]."""


def _module(name: str):
    if name not in NAMES:
        raise ValueError(
            f"`parameter_sets.load({name!r})`: unknown parameter set; valid names are "
            f"{', '.join(NAMES)}."
        )
    return importlib.import_module(f"{__name__}.{name}")


def load(name: str) -> Model:
    """The [`Model`][metaflow_ode.Model] of the published parameter set `name` (see `NAMES`)."""
    return _module(name).model()


def describe(name: str) -> str:
    """Citation and description of the parameter set `name`, with units."""
    return _module(name).__doc__
