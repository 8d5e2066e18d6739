"""kittygrad-viz: pictures of kittygrad computational graphs, drawn with graphviz.

``CompGraph`` records the operations run inside ``with CompGraph() as dot:`` through kittygrad-core's
``kittygrad_trace_op`` hook; ``draw(tensor)`` draws the backward graph of existing tensors. Both are
``graphviz.Digraph`` objects: ``.source``, ``.render()``, ``.view()`` and Jupyter display work as usual.

kittygrad-core imports our ``plugin`` module at start-up; graphviz is imported only when one of the
names below is first used, so ``import kittygrad_core`` stays free of it.
"""
from typing import Any

__all__ = ["CompGraph", "GraphvizNotFoundError", "draw"]


def __getattr__(name: str) -> Any:
    if name == "draw":
        from ._draw import draw
        return draw
    if name in ("CompGraph", "GraphvizNotFoundError"):
        from . import _graph
        return getattr(_graph, name)
    raise AttributeError(f"module 'kittygrad_viz' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
