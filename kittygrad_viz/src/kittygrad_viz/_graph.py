"""``CompGraph``: the picture of the operations run inside a ``with`` block, forward and backward.

Boxes are tensors, rounded nodes are operations (forward) and gradient flow (backward). Colours, as in
the original kittygrad: yellow for tensors with no relation to autodiff, green for the leaves whose
gradients we want, brown for the forward part a backward graph is built for, blue for backward nodes.
"""
from __future__ import annotations

import itertools
import warnings
from typing import Any

import graphviz
import numpy as np

import kittygrad_core
from kittygrad_core import AccumulateGrad, Tensor

from . import _state, plugin

NESTING_ERROR = "CompGraph context manager does not support nesting."
NOT_FROM_LEAVES_ERROR = ("Visualization of the computational graph "
                         "must be built starting from the leaves.")

GRAPH_ATTR = {"margin": "0.075,0.075", "ranksep": "0.45", "outputorder": "edgesfirst"}
NODE_ATTR = {"shape": "box", "height": "0.2", "penwidth": "1.2", "fontsize": "12", "fontname": "Times"}
EDGE_ATTR = {"arrowsize": "0.45", "penwidth": "1.4"}


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """Rendering needs Graphviz's ``dot`` executable, and it is not on ``PATH``."""

    def __init__(self, cause: BaseException) -> None:
        RuntimeError.__init__(
            self,
            "Rendering a kittygrad graph needs the Graphviz system package (its `dot` executable), "
            f"which was not found ({cause}). Install it with `apt-get install graphviz` (Debian/Ubuntu), "
            "`brew install graphviz` (macOS) or `conda install -c conda-forge graphviz`; see "
            "https://graphviz.org/download/. Building the graph and reading its `.source` work without it.")


class CompGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` that draws every op run inside ``with CompGraph() as dot:``.

    Each op call adds its forward node (round, coloured like its output), its input and output tensors
    (boxes) and, when autograd recorded it, its backward node with edges to the next backward nodes
    (blue; leaves end in ``AccumulateGrad``). An in-place op draws the modified tensor as a new box
    (``version n``); the output of a view op is labelled ``view``; numbers and arrays passed as operands
    are yellow boxes showing their value or shape.

    An op whose input has a history recorded before the ``with`` block raises the original kittygrad's
    error ("must be built starting from the leaves"); with ``require_leaves=False`` that input's backward
    node is drawn dashed and labelled ``history not recorded`` instead. Other keyword arguments (``graph_attr``, ``node_attr``, ``edge_attr``, ``format``,
    ``strict``, ...) go to ``graphviz.Digraph``; ``strict`` defaults to True.
    """

    def __init__(self, *,
                 leaf_color: str = "#7ba763",
                 leaf_fillcolor: str = "#d1e4cf",
                 branch_color: str = "#63473d",
                 branch_fillcolor: str = "#c5b9b7",
                 dried_leaf_color: str = "#cdad56",
                 dried_leaf_fillcolor: str = "#ffefc7",
                 backward_color: str = "#22709a",
                 backward_fillcolor: str = "#a9d8ee",
                 require_leaves: bool = True,
                 **digraph_kwargs: Any) -> None:
        self.leaf_color, self.leaf_fillcolor = leaf_color, leaf_fillcolor
        self.branch_color, self.branch_fillcolor = branch_color, branch_fillcolor
        self.dried_leaf_color, self.dried_leaf_fillcolor = dried_leaf_color, dried_leaf_fillcolor
        self.backward_color, self.backward_fillcolor = backward_color, backward_fillcolor
        self.require_leaves = require_leaves

        digraph_kwargs.setdefault("strict", True)
        for key, defaults in (("graph_attr", GRAPH_ATTR), ("node_attr", NODE_ATTR), ("edge_attr", EDGE_ATTR)):
            digraph_kwargs[key] = {**defaults, **(digraph_kwargs.get(key) or {})}
        super().__init__(**digraph_kwargs)

        self._level = 0
        self._serial = itertools.count()
        # id(tensor) -> (tensor, version, grad_fn, requires_grad, node name, colour, fill): the box
        # standing for the tensor's current state. The strong references keep ids from being reused.
        self._boxes: dict[int, tuple] = {}
        self._backward: dict[int, tuple[Any, str]] = {}  # id(node) -> (node, node name)
        self._linked: set[str] = set()  # boxes already dashed to their backward node
        self._last_inputs: tuple | None = None

    # ------------------------------------------------------------------ recording

    def __enter__(self) -> CompGraph:
        if _state.active.get() is not None:
            raise RuntimeError(NESTING_ERROR)
        _ensure_plugin()
        kittygrad_core.start_tracing()
        _state.active.set(self)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if _state.active.get() is self:
                _state.active.set(None)
                kittygrad_core.stop_tracing()  # raises what the recording raised (not from leaves, ...)
        finally:
            self._boxes.clear()
            self._backward.clear()
            self._linked.clear()
            self._last_inputs = None

    def _record(self, op: type, inputs: tuple, output: Tensor) -> None:
        """Draws one op call; called by the ``kittygrad_trace_op`` hook after the op ran."""
        if inputs is self._last_inputs:  # the same call reported twice (another hook tracer is on)
            return
        self._last_inputs = inputs
        inplace = bool(inputs) and output is inputs[0]
        new_fn = output.grad_fn
        if inplace:  # the hook sees the target after the op: reconstruct what it was before
            recorded = (kittygrad_core.is_grad_enabled() and bool(op.differentiable)
                        and any(isinstance(x, Tensor) and x.requires_grad for x in inputs))
            if recorded:
                before = (output.version - 1, new_fn.next_functions[0], new_fn.next_functions[0] is not None)
            else:
                new_fn = None
                before = (output.version - 1, output.grad_fn, output.requires_grad)
        states = [None if not isinstance(x, Tensor) else before if inplace and x is output
                  else (x.version, x.grad_fn, x.requires_grad) for x in inputs]
        if self.require_leaves and any(s is not None and s[1] is not None and id(s[1]) not in self._backward
                                       for s in states):
            raise RuntimeError(NOT_FROM_LEAVES_ERROR)

        level = self._level
        self._level += 1
        operation = graphviz.Digraph(f"operation_{level}", graph_attr={"rank": "same"})
        operands = graphviz.Digraph(f"operands_{level}", graph_attr={"rank": "same"})
        op_name = f"forward_{level}"

        boxes = []
        for x, state in zip(inputs, states):
            if state is None:
                name, color = self._constant(x, operands)
            else:
                name, color = self._box(x, *state, where=operands)
                if state[1] is not None and name not in self._linked:  # its history predates recording
                    self._link(name, self._backward_ref(state[1], self))
            boxes.append(name)
            self.edge(name, op_name, color=color)

        out_name, color, fill = self._box(output, output.version, output.grad_fn, output.requires_grad,
                                          where=self, view=op.view and not inplace, fill=True)
        operation.node(op_name, label=op.name + ("_" if inplace else ""), style="rounded,filled",
                       color=color, fillcolor=fill)
        self.edge(op_name, out_name, color=color)

        if new_fn is not None:
            fn_name = f"backward_{next(self._serial)}"
            self._backward[id(new_fn)] = (new_fn, fn_name)
            operation.node(fn_name, **self._backward_style(new_fn))
            self._link(out_name, fn_name)
            self.edge(op_name, fn_name, style="invis", weight="2")
            for i, nxt in enumerate(new_fn.next_functions):
                if nxt is None:
                    continue
                nxt_name = self._backward_ref(nxt, operands)
                if isinstance(nxt, AccumulateGrad):
                    leaf = boxes[i] if i < len(boxes) and isinstance(inputs[i], Tensor) else None
                    if leaf is None and nxt.variable is not None:
                        var = nxt.variable
                        leaf = self._box(var, var.version, None, True, where=operands)[0]
                    if leaf is not None:
                        self.edge(leaf, nxt_name, color=self.backward_color, dir="back", weight="1.2")
                self.edge(fn_name, nxt_name, color=self.backward_color, constraint="false")

        self.subgraph(operation)
        self.subgraph(operands)

    # ------------------------------------------------------------------ nodes

    def _colors(self, grad_fn: Any, requires_grad: bool) -> tuple[str, str]:
        if grad_fn is not None:
            return self.branch_color, self.branch_fillcolor
        if requires_grad:
            return self.leaf_color, self.leaf_fillcolor
        return self.dried_leaf_color, self.dried_leaf_fillcolor

    def _box(self, tensor: Tensor, version: int, grad_fn: Any, requires_grad: bool, *,
             where: graphviz.Digraph, view: bool = False, fill: bool = False) -> tuple:
        """The box of ``tensor`` in the given state, drawn in ``where`` the first time it is seen."""
        entry = self._boxes.get(id(tensor))
        if (entry is None or entry[0] is not tensor or entry[1] != version or entry[2] is not grad_fn
                or entry[3] != requires_grad):
            name = f"tensor_{next(self._serial)}"
            color, fillcolor = self._colors(grad_fn, requires_grad)
            label = f"Tensor\n{tensor.shape}" + ("\nview" if view else "") + (
                f"\nversion {version}" if version else "")
            where.node(name, label=label, style="filled", color=color, fillcolor=fillcolor)
            entry = (tensor, version, grad_fn, requires_grad, name, color, fillcolor)
            self._boxes[id(tensor)] = entry
        return entry[4:] if fill else entry[4:6]

    def _constant(self, value: Any, where: graphviz.Digraph) -> tuple[str, str]:
        name = f"constant_{next(self._serial)}"
        if isinstance(value, np.ndarray):
            label = f"ndarray\n{value.shape}"
        elif isinstance(value, (list, tuple)):
            label = type(value).__name__
        else:
            label = repr(value.item() if isinstance(value, np.generic) else value)
        where.node(name, label=label, style="filled", color=self.dried_leaf_color,
                   fillcolor=self.dried_leaf_fillcolor)
        return name, self.dried_leaf_color

    def _link(self, box: str, backward: str) -> None:
        """The dashed edge from a tensor to the backward node of the op that produced it."""
        self.edge(box, backward, color=self.backward_color, constraint="false", style="dashed")
        self._linked.add(box)

    def _backward_style(self, node: Any, label: str | None = None, recorded: bool = True) -> dict:
        return dict(label=label or type(node).__name__,
                    style="rounded,filled" if recorded else "rounded,filled,dashed",
                    color=self.backward_color, fillcolor=self.backward_fillcolor)

    def _backward_ref(self, node: Any, where: graphviz.Digraph) -> str:
        """The name of a backward node; one not seen yet is drawn (marked, unless a leaf's)."""
        entry = self._backward.get(id(node))
        if entry is not None:
            return entry[1]
        name = f"backward_{next(self._serial)}"
        self._backward[id(node)] = (node, name)
        if isinstance(node, AccumulateGrad):
            where.node(name, **self._backward_style(node))
        else:  # its history ran before recording started: drawn, and marked as cut there
            self.node(name, **self._backward_style(node, f"{type(node).__name__}\n(history not recorded)",
                                                   recorded=False))
        return name

    # ------------------------------------------------------------------ rendering

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        """``graphviz.Digraph.pipe``, with a clear error when Graphviz is not installed."""
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as error:
            if isinstance(error, GraphvizNotFoundError):
                raise
            raise GraphvizNotFoundError(error) from error

    def render(self, *args: Any, view: bool = False, quiet_view: bool = False, **kwargs: Any) -> str:
        """``graphviz.Digraph.render`` (``view`` too), with a clear error when Graphviz is not installed.

        When no viewer can be opened (no ``xdg-open``, no display), the rendered file stays where it was
        written and a ``UserWarning`` gives its path instead of an error.
        """
        try:
            path = super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as error:
            if isinstance(error, GraphvizNotFoundError):
                raise
            raise GraphvizNotFoundError(error) from error
        if view or quiet_view:
            try:
                graphviz.view(path, quiet=quiet_view)
            except (OSError, RuntimeError) as error:  # FileNotFoundError for xdg-open, unknown platform
                warnings.warn(f"could not open a viewer for the graph ({error}); it was written to {path}",
                              UserWarning, stacklevel=2)
        return path


def _ensure_plugin() -> None:
    """Registers our hook even where plugin autoloading is off (``KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD``)."""
    host = kittygrad_core.plugins
    if host.manager.is_registered(plugin):
        return
    name = "viz" if host.manager.get_plugin("viz") is None else plugin.__name__
    if host.add_plugin(plugin, name=name, distribution="kittygrad-viz") is None:
        raise RuntimeError("kittygrad-viz could not register its kittygrad_trace_op hook; see the "
                           "PluginWarning above.")
