"""Model fidelities (how finely tumour burden inside an organ is resolved)."""

from .lumped import Lumped as Lumped
