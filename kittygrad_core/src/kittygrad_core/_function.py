"""Custom differentiable functions, in the original kittygrad's style and in PyTorch's."""
from __future__ import annotations

import inspect
import warnings
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from . import _tracing
from ._dispatch import _link
from ._engine import AccumulateGrad, Node, store_snapshot
from ._grad_mode import GRAD_ENABLED
from ._op import Op
from ._tensor import Tensor, make_tensor


class FunctionCtx:
    """The context of one call of a custom :class:`Function`.

    ``saved_tensors`` is a list the original-style forward appends to (``save_for_backward`` fills it
    in PyTorch's style); any other attribute is free-form. ``needs_input_grad`` says which inputs
    need a gradient and ``out`` is the output tensor.
    """

    out: Tensor

    def __init__(self) -> None:
        self.saved_tensors: list[Tensor | None] = []
        self.needs_input_grad: tuple[bool, ...] = ()

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Saves tensors for ``backward``; their versions are checked before it runs."""
        self.saved_tensors = list(tensors)

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Accepted for PyTorch compatibility; kittygrad functions have a single output."""


class Function(ABC):
    """Base class for custom differentiable operations.

    The original kittygrad's style: subclass, define ``forward(self, *args)`` (it runs without graph
    recording and may append to ``self.ctx.saved_tensors``) and ``backward(self, grad)`` (returns one
    gradient tensor, or ``None``, per tensor input), then call an instance: ``Cube()(x)``. The backward
    node is named after the class, e.g. ``CubeBackward``. Pass ``output_version_check=True`` as a
    class keyword when ``backward`` reads ``self.ctx.out``.

    PyTorch's style: ``@staticmethod forward(ctx, *args)``, ``@staticmethod backward(ctx, *grads)``
    using ``ctx.save_for_backward``, ``ctx.saved_tensors`` and ``ctx.needs_input_grad``, called as
    ``Cube.apply(x)``.

    Either style can be registered at runtime (``kittygrad_core.registry.register(Cube)``) to become
    ``kitty.cube`` and ``Tensor.cube``.
    """

    output_version_check: bool = False
    ctx: FunctionCtx
    # set on each subclass by __init_subclass__
    _torch_style: ClassVar[bool]
    _signature: ClassVar[inspect.Signature]
    _node_type: ClassVar[type[_FunctionNode]]

    def __getattr__(self, name: str) -> Any:
        # `forward` called directly (no graph) still finds a context to save into, as in the original.
        if name == "ctx":
            ctx = self.ctx = FunctionCtx()
            return ctx
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __init_subclass__(cls, output_version_check: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.output_version_check = output_version_check or cls.output_version_check
        if getattr(cls.__dict__.get("forward"), "_kittygrad_grad_mode", None) is False:
            raise RuntimeError("There is no point in creating a Function class with gradient "
                               "flow permanently disabled. Use a standard function instead.")
        if getattr(cls.__dict__.get("backward"), "_kittygrad_grad_mode", None) is False:
            warnings.warn("There is no need to explicitly disable gradient flow in the backward method. "
                          "This happens implicitly.", UserWarning, stacklevel=2)
        forward = inspect.getattr_static(cls, "forward", None)
        cls._torch_style = isinstance(forward, staticmethod)
        cls._signature = inspect.signature(cls.forward)
        cls._node_type = type(f"{cls.__name__}Backward", (_FunctionNode,),
                              {"name": cls.__name__, "__module__": cls.__module__})

    @abstractmethod
    def forward(self, *args: Any, **kwargs: Any) -> Tensor:
        """Computes the output tensor; runs with graph recording disabled."""

    @abstractmethod
    def backward(self, *grads: Tensor) -> Any:
        """Returns the gradient of each tensor input given the gradient of the output."""

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        ctx = FunctionCtx()
        fn = object.__new__(type(self))  # a fresh holder per call: each node keeps its own ctx
        fn.__dict__.update(self.__dict__)
        fn.ctx = self.ctx = ctx
        inputs = _tensor_inputs(self._signature, (self, *args), kwargs, skip_first=True)
        ctx.needs_input_grad = tuple(t._requires_grad for t in inputs)
        out = _run_forward(lambda: self.forward(*args, **kwargs), inputs)
        return _record(type(self), fn, ctx, inputs, out)

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Calls a PyTorch-style Function (``forward(ctx, ...)`` as a staticmethod)."""
        if not cls._torch_style:
            return cls()(*args, **kwargs)
        ctx = FunctionCtx()
        inputs = _tensor_inputs(cls._signature, (ctx, *args), kwargs, skip_first=True)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        out = _run_forward(lambda: cls.forward(ctx, *args, **kwargs), inputs)  # type: ignore[arg-type]  # ctx first
        return _record(cls, cls, ctx, inputs, out, torch_args=args)


def _tensor_inputs(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any],
                   skip_first: bool) -> list[Any]:
    if kwargs:  # order tensors as the signature does; raises TypeError for missing arguments
        bound = signature.bind(*args, **kwargs)
        values: list[Any] = []
        for name, value in list(bound.arguments.items())[1 if skip_first else 0:]:
            kind = signature.parameters[name].kind
            if kind == inspect.Parameter.VAR_POSITIONAL:
                values.extend(value)
            elif kind == inspect.Parameter.VAR_KEYWORD:
                values.extend(value.values())
            else:
                values.append(value)
    else:
        values = args[1 if skip_first else 0:]  # type: ignore[assignment]  # a tuple, only iterated
    return [v for v in values if isinstance(v, Tensor)]


def _run_forward(call: Any, inputs: list[Any]) -> Tensor:
    token = GRAD_ENABLED.set(False)
    try:
        out = call()
    finally:
        GRAD_ENABLED.reset(token)
    if not isinstance(out, Tensor):
        raise TypeError(f"Function.forward must return a Tensor, got {type(out).__name__}.")
    if any(out is t for t in inputs):  # the output must be a tensor of its own
        view = make_tensor(out._data)
        view._version, view._base = out._version, out
        out = view
    return out


def _alias(out: Tensor) -> Tensor:
    """What the context keeps of the output: its data and version counter, not its grad_fn.

    Holding the output itself would make a cycle (output -> node -> ctx -> output) that only the
    garbage collector can free; torch's saved outputs drop their grad_fn for the same reason.
    """
    alias = make_tensor(out._data)
    alias._version = out._version
    return alias


def _record(cls: type[Function], fn: Any, ctx: FunctionCtx, inputs: list[Any], out: Tensor,
            torch_args: tuple[Any, ...] | None = None) -> Tensor:
    alias = ctx.out = _alias(out)
    saved = ctx.saved_tensors
    for i, t in enumerate(saved):
        if t is out:
            saved[i] = alias
    if GRAD_ENABLED.get() and any(t._requires_grad for t in inputs):
        _link_function_node(cls, fn, ctx, inputs, out, torch_args)
    if _tracing.ACTIVE:
        _tracing.notify(cls._node_type, tuple(inputs), out, (), _tracing.EMPTY, "custom Function")
    return out


def _link_function_node(cls: type[Function], fn: Any, ctx: FunctionCtx, inputs: list[Any], out: Tensor,
                        torch_args: tuple[Any, ...] | None) -> None:
    node = Node.__new__(cls._node_type)  # object.__new__ refuses extension types' subclasses
    node.fn, node.ctx, node.torch_args = fn, ctx, torch_args
    _link(node, node, tuple(inputs), out._data)  # type: ignore[arg-type]  # the node has its op's flags
    saved: list[Any] = []  # flat (counter, version, ...)
    for t in ctx.saved_tensors:
        if isinstance(t, Tensor):
            saved += (t._version, t._version[0])
    if cls.output_version_check:
        saved += (out._version, out._version[0])
    store_snapshot(node, tuple(saved))
    out._requires_grad = True
    out._grad_fn = node


class _FunctionNode(Node):
    """The backward node of a custom Function call."""

    differentiable = True
    view = False
    fn: Any  # the Function instance (original style) or class (PyTorch style)
    ctx: FunctionCtx
    torch_args: tuple[Any, ...] | None  # the call's arguments, PyTorch style only

    def backward(self, xp: Any, grad: np.ndarray) -> tuple[Any, ...]:
        token = GRAD_ENABLED.set(False)
        try:
            if self.torch_args is not None:
                grads = self.fn.backward(self.ctx, make_tensor(grad))
            else:
                grads = self.fn.backward(make_tensor(grad))
        finally:
            GRAD_ENABLED.reset(token)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if self.torch_args is not None and len(grads) == len(self.torch_args):
            grads = tuple(g for g, a in zip(grads, self.torch_args) if isinstance(a, Tensor))
        return tuple(g._data if isinstance(g, Tensor) else g for g in grads)

    #: A Function's backward computes with tensor ops: under create_graph it records a graph.
    differentiable_backward = True

    def backward_tensors(self, grad: Tensor) -> tuple[Any, ...]:
        """The backward under ``create_graph=True``: takes and returns tensors, with grad mode on.

        The saved output (``ctx.out``) and, for a registered Function, the input copies its forward
        received read as tensors attached to the graph (the output's gradient flows to this node, the
        inputs' to their own nodes), as torch unpacks saved tensors; the context is restored after.
        """
        ctx = self.ctx
        swaps = {id(ctx.out): make_tensor(ctx.out._data, True, self)}
        for t, fn in zip(getattr(self, "inputs", ()), self.next_functions):
            if fn is not None:
                swaps[id(t)] = _attached_input(t, fn)
        out, saved = ctx.out, ctx.saved_tensors
        ctx.out = swaps[id(out)]
        ctx.saved_tensors = [swaps.get(id(t), t) for t in saved]
        try:
            if self.torch_args is not None:
                grads = self.fn.backward(ctx, grad)
            else:
                grads = self.fn.backward(grad)
        finally:
            ctx.out, ctx.saved_tensors = out, saved
        if not isinstance(grads, tuple):
            grads = (grads,)
        if self.torch_args is not None and len(grads) == len(self.torch_args):
            grads = tuple(g for g, a in zip(grads, self.torch_args) if isinstance(a, Tensor))
        return tuple(grads)

    def _release(self) -> None:
        self.__dict__.clear()

    @property
    def _ctx(self) -> FunctionCtx | None:  # type: ignore[override]  # the original's name for the context
        """The context of the call (``saved_tensors``, ``out``, ...), as the original kittygrad names it."""
        return self.__dict__.get("ctx")


def _attached_input(tensor: Tensor, fn: Any) -> Tensor:
    """An input a registered Function's forward received, as a tensor whose gradient goes to ``fn``."""
    if fn.__class__ is AccumulateGrad:
        leaf = fn._variable()
        return leaf if leaf is not None else tensor
    return make_tensor(tensor._data, True, fn)


def function_op(function: type[Function]) -> type[Op]:
    """Turns a Function subclass into an op record, so the registry can bind it like any op."""
    params = list(function._signature.parameters.values())[1:]
    name = getattr(function, "name", None) or function.__name__.lower()

    inputs = [p for p in params if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
    n_inputs = len(inputs)

    class FunctionOp(Op):
        fn: Any
        ctx: FunctionCtx
        torch_args: tuple[Any, ...] | None
        inputs: list[Tensor]

        def forward(self, xp: Any, *values: Any, **options: Any) -> np.ndarray:
            # the dispatcher passes the input arrays, then the positional options
            tensors = [make_tensor(a) for a in values[:n_inputs]]
            args = (*tensors, *values[n_inputs:])
            if function._torch_style:
                ctx = FunctionCtx()
                out = _run_forward(lambda: function.forward(ctx, *args, **options),  # type: ignore[arg-type]
                                   tensors)
                self.fn, self.torch_args = function, tuple(tensors)
            else:
                fn = function()
                ctx = fn.ctx = FunctionCtx()
                out = _run_forward(lambda: fn.forward(*args, **options), tensors)
                self.fn, self.torch_args = fn, None
            ctx.out = out
            self.ctx, self.inputs = ctx, tensors
            return out._data

        backward = _FunctionNode.backward
        backward_tensors = _FunctionNode.backward_tensors
        differentiable_backward = True

    FunctionOp.forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
         inspect.Parameter("xp", inspect.Parameter.POSITIONAL_OR_KEYWORD), *params])
    FunctionOp.__name__ = FunctionOp.__qualname__ = function.__name__
    FunctionOp.__module__ = function.__module__
    FunctionOp.__doc__ = function.__doc__
    FunctionOp.name = name
    FunctionOp.saves = tuple(range(n_inputs))
    FunctionOp.saves_output = function.output_version_check
    FunctionOp.override = getattr(function, "override", False)
    FunctionOp.conformance = getattr(function, "conformance", None)
    FunctionOp.functions = getattr(function, "functions", None)
    FunctionOp.methods = getattr(function, "methods", None)
    return FunctionOp
