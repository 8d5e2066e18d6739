"""The recording graph, if any: the one piece of state the hook reads (no graphviz import here)."""
from __future__ import annotations

from contextvars import ContextVar
from typing import Any

#: The ``CompGraph`` inside whose ``with`` block the current thread or task is, or ``None``. At most one
#: per context (nesting is an error); a graph never records another thread's ops.
active: ContextVar[Any] = ContextVar("kittygrad_viz_active_graph", default=None)
