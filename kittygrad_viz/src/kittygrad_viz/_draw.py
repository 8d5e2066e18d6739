"""``draw``: the backward graph of existing tensors, after the fact (as torchviz's ``make_dot``)."""
from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping

import numpy as np

from kittygrad_core import AccumulateGrad, Tensor
from kittygrad_core.extend import node_output

from ._graph import CompGraph


def draw(*tensors: Tensor | Iterable[Tensor], params: Mapping[str, Tensor] | None = None,
         show_saved: bool = False, **graph_kwargs: Any) -> CompGraph:
    """Draws the backward graph that ends in ``tensors`` (one or more outputs, or one list of them).

    Output tensors are boxes (brown if they have a history) with shape and dtype, each dashed into
    its backward node; backward nodes (blue) are labelled with their class, output shape and dtype,
    and point to the nodes their gradient flows to, down to ``AccumulateGrad`` and the leaf (green).
    ``params`` names leaves (``{"w": w}``); ``show_saved=True`` adds what each node saved for its
    backward (gone once backward has run). Other keyword arguments go to :class:`CompGraph`.
    """
    if len(tensors) == 1 and not isinstance(tensors[0], Tensor):
        tensors = tuple(tensors[0])
    if not tensors:
        raise TypeError("draw() needs at least one tensor.")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"draw() expects tensors, got {type(t).__name__}.")

    graph = CompGraph(**graph_kwargs)
    names = {id(t): name for name, t in (params or {}).items()}
    serial = itertools.count()
    drawn: dict[int, str] = {}
    stack: list = []

    def tensor_box(t: Tensor) -> str:
        name = f"tensor_{next(serial)}"
        color, fill = graph._colors(t.grad_fn, t.requires_grad)
        label = f"{names.get(id(t), 'Tensor')}\n{t.shape}\n{t.dtype}"
        graph.node(name, label=label, style="filled", color=color, fillcolor=fill)
        return name

    def backward_node(node: Any) -> str:
        name = drawn.get(id(node))
        if name is not None:
            return name
        name = drawn[id(node)] = f"backward_{next(serial)}"
        if isinstance(node, AccumulateGrad):
            graph.node(name, **graph._backward_style(node))
            leaf = node.variable
            if leaf is not None:
                graph.edge(name, tensor_box(leaf), color=graph.backward_color)
        else:
            output = node_output(node)
            info = f"\n{output[0]} {output[1]}" if output is not None else ""
            graph.node(name, **graph._backward_style(node, f"{type(node).__name__}{info}"))
            stack.append((node, name))
            if show_saved:
                _saved(graph, node, name, serial)
        return name

    for t in tensors:
        box = tensor_box(t)
        if t.grad_fn is not None:
            graph.edge(box, backward_node(t.grad_fn), color=graph.backward_color, style="dashed")
    while stack:  # an explicit stack: graphs deeper than the recursion limit draw too
        node, name = stack.pop()
        for nxt in node.next_functions:
            if nxt is not None:
                graph.edge(name, backward_node(nxt), color=graph.backward_color)
    return graph


def _saved(graph: CompGraph, node: Any, node_name: str, serial: Iterable[int]) -> None:
    """Draws the arrays (and tensors) a node keeps for its backward, dotted into the node."""
    names = [slot for cls in type(node).__mro__ for slot in _slots(cls)]
    names += list(getattr(node, "__dict__", {}))
    items = [(name, getattr(node, name, None)) for name in dict.fromkeys(names)
             if not name.startswith("_") and name != "next_functions"]
    ctx = getattr(node, "ctx", None)
    if ctx is not None:
        items += [(f"saved_tensors[{i}]", t) for i, t in enumerate(getattr(ctx, "saved_tensors", ()))]
    for attr, value in items:
        if isinstance(value, Tensor):
            value = value.numpy()
        if not isinstance(value, np.ndarray):
            continue
        name = f"saved_{next(serial)}"
        graph.node(name, label=f"{attr}\n{value.shape} {value.dtype}", style="filled,dashed",
                   color=graph.dried_leaf_color, fillcolor=graph.dried_leaf_fillcolor)
        graph.edge(name, node_name, color=graph.dried_leaf_color, style="dotted", arrowhead="none")


def _slots(cls: type) -> tuple[str, ...]:
    slots = cls.__dict__.get("__slots__", ())
    return (slots,) if isinstance(slots, str) else tuple(slots)
