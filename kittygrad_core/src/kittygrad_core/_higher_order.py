"""``create_graph=True``: backward rules that record a graph of their own.

A rule normally runs on NumPy arrays. In a ``create_graph`` pass it runs on the values of an array
namespace a plugin provides (kittygrad-ops': NumPy's names over tensors), with grad mode on, so that
what it computes is recorded like any forward and can be differentiated again. The values it reads
are made differentiable the way torch unpacks saved variables: for the duration of one rule call, a
slot named after an input (see ``Op``) holds that input as a tensor whose ``grad_fn`` is the node's
``next_functions[i]`` (the leaf itself for a leaf), and ``out`` a tensor whose ``grad_fn`` is the
node itself. Other slots are constants.

Only records that declare ``differentiable_backward = True`` (checked by the conformance suite against
torch's double backward) are run that way. Any other node runs its NumPy rule, and its gradients get
a ``NoDoubleBackward`` node: reaching it in a later backward raises, naming the op and its
distribution. A second derivative is never silently zero.

Nodes recorded during such a pass (and the nodes of the graph it ran through) are marked (``_hoc``):
later passes count their consumers within the pass, as torch does, rather than by their locks,
because the new graph consumes forward nodes that the lock counts never saw (see docs/autograd.md).
"""
from __future__ import annotations

import warnings
import weakref
from typing import Any

import numpy as np

from . import _engine, _tracing
from ._engine import AccumulateGrad, Node, init_node
from ._grad_mode import GRAD_ENABLED
from ._tensor import Tensor, make_tensor

#: The package's plugin host (set by ``kittygrad_core``): its ``namespace`` is the one passes use.
HOST: Any = None


def namespace() -> Any:
    """The namespace, or a RuntimeError saying which distribution provides one."""
    ns = getattr(HOST, "namespace", None)
    if ns is None:
        raise RuntimeError("create_graph=True needs an array namespace for backward rules; none is "
                           "installed (kittygrad-ops provides it: pip install kittygrad-ops).")
    return ns


class NoDoubleBackward(Node):
    """The backward of a gradient computed by a rule that recorded no graph: reaching it raises."""

    __slots__ = ("_what", "__weakref__")
    name = "NoDoubleBackward"

    def backward(self, xp: Any, grad: np.ndarray) -> tuple[Any, ...]:
        raise NotImplementedError(
            f"the derivative of the backward of {self._what} is not implemented: its backward rule "
            "does not declare differentiable_backward = True, so the gradient it computed under "
            "create_graph=True cannot be differentiated again.")

    def _describe(self) -> str:
        return f"the stand-in for the backward of {self._what}"


def _no_double_backward(node: Node, like: np.ndarray) -> NoDoubleBackward:
    stub = NoDoubleBackward.__new__(NoDoubleBackward)
    # linked to the node's inputs (uncounted: it is marked) so that a pass towards them reaches it
    init_node(stub, node.next_functions, like)
    mark_node(stub)
    stub._what = node._describe()
    return stub


def mark(op: type, operands: tuple[Any, ...], output: Any) -> None:
    """A tracer: marks the node of every op recorded during a ``create_graph`` pass."""
    fn = getattr(output, "_grad_fn", None)
    if fn is not None and fn.__class__ is not AccumulateGrad:
        mark_node(fn)


def mark_node(node: Any) -> None:
    """Marks ``node``: passes count its consumers within the pass; the general pass is taken while it
    lives (``_engine.MARKED`` holds a weak reference that removes itself)."""
    if getattr(node, "_hoc", False):
        return
    node._hoc = True
    try:
        _engine.MARKED.add(weakref.ref(node, _engine.MARKED.discard))
    except TypeError:  # a node class without __weakref__: the general pass stays on for good
        _engine.MARKED.add(NoDoubleBackward)


def start() -> None:
    """Starts marking the nodes recorded from here on (until :func:`stop`)."""
    _tracing.start_tracing(mark)


def stop() -> None:
    """Stops marking."""
    _tracing.stop_tracing(mark)


def attached(array: np.ndarray, fn: Any, ns: Any) -> Tensor:
    """``array`` as a tensor whose gradient flows to ``fn`` (an input's node, or the running node)."""
    if fn.__class__ is AccumulateGrad:
        leaf = fn._variable()
        if leaf is None:  # the leaf is gone: nothing can receive its gradient
            return make_tensor(array)
        tensor = leaf
    else:
        data = array if array.dtype == fn._dtype else array.astype(fn._dtype)
        tensor = make_tensor(data, True, fn)
    if tensor._data.dtype != array.dtype:  # the rule saw a promoted copy: the cast is differentiable
        return ns.unwrap(ns.wrap(tensor).astype(array.dtype))
    return tensor


def run_rule(node: Any, grad: Any, ns: Any) -> tuple[Any, ...]:
    """Runs ``node``'s rule in a ``create_graph`` pass on the value ``grad``: one value (or ``None``) per
    input, recorded if the rule can be differentiated, behind a ``NoDoubleBackward`` otherwise."""
    tensors = getattr(node, "backward_tensors", None)
    if tensors is not None:  # a custom Function: its backward takes and returns tensors
        token = GRAD_ENABLED.set(True)
        try:
            grads = tensors(ns.unwrap(grad))
        except Exception as error:
            error.add_note(f"(raised by the backward of {node._describe()})")
            raise
        finally:
            GRAD_ENABLED.reset(token)
        if len(grads) != len(node.next_functions):
            raise RuntimeError(f"{node._describe()} returned {len(grads)} gradients for "
                               f"{len(node.next_functions)} inputs.")
        return tuple(None if g is None else ns.wrap(g) if isinstance(g, Tensor) else g for g in grads)
    if not node.differentiable_backward:
        # Even a constant upstream gradient does not make the result constant: the rule may read the
        # inputs through state it derived from them (a copy, a cache), which nothing here can see.
        grads = _engine.call_rule(node, ns.unwrap(grad)._data)
        return tuple(None if g is None else ns.wrap(make_tensor(np.asarray(g), True, _no_double_backward(
            node, np.asarray(g)))) for g in grads)
    swapped = _swap_saved(node, ns)
    token = GRAD_ENABLED.set(True)
    try:
        return _engine.call_rule(node, grad, ns)
    finally:
        GRAD_ENABLED.reset(token)
        for slot, value in swapped:
            setattr(node, slot, value)


def _swap_saved(node: Any, ns: Any) -> list[tuple[str, Any]]:
    cls = type(node)
    names = cls.input_names
    nexts = node.next_functions
    swapped = []
    for slot in cls.saved_slots:
        if cls.variadic and names and slot == names[0]:
            # a slot named after ``*inputs`` holds one array per input, in order
            value = getattr(node, slot, None)
            if isinstance(value, (list, tuple)) and len(value) == len(nexts):
                swapped.append((slot, value))
                setattr(node, slot, type(value)(
                    ns.wrap(attached(np.asarray(v), fn, ns)) if fn is not None and isinstance(
                        v, (np.ndarray, np.generic)) and v.dtype.kind == "f" else v for v, fn in zip(value, nexts)))
            continue
        if slot == "out":
            fn = node
        elif slot in names:
            index = names.index(slot)
            fn = nexts[index] if index < len(nexts) else None
        else:
            continue  # state: a constant of the rule
        value = getattr(node, slot, None)
        # a 0-d result of NumPy is a scalar (np.float32), not an array
        if fn is None or not isinstance(value, (np.ndarray, np.generic)) or value.dtype.kind != "f":
            continue
        swapped.append((slot, value))
        setattr(node, slot, ns.wrap(attached(np.asarray(value), fn, ns)))
    return swapped


def conform(node: Node, index: int, grad: Any, target: Node, ns: Any) -> Any:
    """``_engine._conform`` for recorded values: reduces a broadcast op's gradient (differentiably)."""
    if getattr(grad, "dtype", None) is None or np.dtype(grad.dtype).kind != "f":
        raise RuntimeError(f"{node._describe()} returned a gradient of type {type(grad).__name__} for "
                           f"input {index}; expected a floating array.")
    if not hasattr(grad, "astype") or grad.__class__ is np.ndarray:
        grad = ns.wrap(make_tensor(np.asarray(grad)))
    if node.broadcast:
        if grad.shape != target._shape:
            try:
                grad = _engine.unbroadcast(grad, target._shape)
            except ValueError:
                pass
        if grad.dtype != target._dtype:
            grad = grad.astype(target._dtype)
    if grad.shape != target._shape or grad.dtype != target._dtype:
        raise RuntimeError(f"{node._describe()} returned a gradient of shape {grad.shape} and dtype "
                           f"{grad.dtype} for input {index}, whose shape is {target._shape} and dtype "
                           f"{target._dtype}.")
    return grad


def call_hooks(hooks: dict[int, Any], grad: Tensor) -> Tensor:
    """Tensor hooks on a recorded gradient: each may return a replacement."""
    for hook in list(hooks.values()):
        result = hook(grad)
        if result is None:
            continue
        if not isinstance(result, Tensor) or result.shape != grad.shape or result.dtype != grad.dtype:
            raise RuntimeError(f"hook {getattr(hook, '__qualname__', hook)!r} returned "
                               f"{type(result).__name__}; expected None or a Tensor of shape "
                               f"{tuple(grad.shape)} and dtype {grad.dtype}.")
        grad = result
    return grad


def accumulate_leaf(leaf: Tensor, grad: Tensor, ns: Any) -> None:
    """Adds a recorded gradient to ``leaf.grad`` out of place (``.grad`` then has a history)."""
    hooks = leaf._hooks
    if hooks is not None and hooks[0]:
        grad = call_hooks(hooks[0], grad)
    add_to_grad(leaf, grad, ns)
    if hooks is not None and hooks[1]:
        for hook in list(hooks[1].values()):
            hook(leaf)


def add_to_grad(tensor: Tensor, grad: Tensor, ns: Any) -> None:
    """``tensor.grad = grad`` on the first arrival, ``tensor.grad + grad`` (recorded) afterwards."""
    held = tensor._grad
    if grad._data.dtype != tensor._data.dtype:
        grad = ns.unwrap(ns.wrap(grad).astype(tensor._data.dtype))
    token = GRAD_ENABLED.set(True)
    try:
        tensor._grad = grad if held is None else ns.unwrap(ns.wrap(held) + ns.wrap(grad))
    finally:
        GRAD_ENABLED.reset(token)


def observe(observer: Any, grad: Any, retain: bool, ns: Any) -> Any:
    """``_engine.observe`` for recorded values: hooks, then ``retain_grad``."""
    tensor = observer.ref()
    if observer.hooks:
        grad = ns.wrap(call_hooks(observer.hooks, ns.unwrap(grad)))
    wanted = observer.retain if observer.retain is not None else tensor is not None and tensor._retains_grad
    if wanted and retain and tensor is not None:
        if observer.counter[0] != observer.version:
            warnings.warn("An attempt to assign a gradient to a tensor with retains_grad=True "
                          "and modified by inplace operation was noticed.", UserWarning, stacklevel=6)
        else:
            add_to_grad(tensor, ns.unwrap(grad), ns)
    return grad
