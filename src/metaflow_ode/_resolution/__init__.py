"""Model fidelities (how finely tumour burden inside an organ is resolved)."""

from .colonies import Colonies as Colonies
from .lumped import Lumped as Lumped
