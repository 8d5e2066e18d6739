"""The recording graph, if any: the one piece of state the hook reads (no graphviz import here)."""
from __future__ import annotations

from typing import Any

#: The ``CompGraph`` inside whose ``with`` block we are, or ``None``. At most one: nesting is an error.
active: Any = None
