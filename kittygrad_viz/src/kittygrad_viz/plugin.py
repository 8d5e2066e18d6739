"""Entry point module of kittygrad-viz (group ``kittygrad``, name ``viz``).

``CompGraph.__enter__`` calls ``kittygrad_core.start_tracing()``, which routes every op call to the
``kittygrad_trace_op`` hook below until ``__exit__`` stops it. Importing this module must stay cheap:
kittygrad-core imports it at start-up, so graphviz is only imported with ``CompGraph`` itself.
"""
from __future__ import annotations

from typing import Any

from kittygrad_core import hookimpl

from . import _state


@hookimpl
def kittygrad_trace_op(op: type, inputs: tuple, output: Any) -> None:
    """Adds the op call to the ``CompGraph`` being recorded."""
    graph = _state.active.get()
    if graph is not None:
        graph._record(op, inputs, output)
