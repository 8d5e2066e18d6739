"""In-place ops on views: the base's history is rewritten, as torch's ``CopySlices`` does.

A view records how it derives from its base (``_view_chain``: the view ops and their options). After a
recorded in-place op ``N`` on a view, the base's new node takes the view's region of its gradient from
``N`` and the rest from the base's previous history, and the view's new node re-derives the view from
the base. Both replay the chain on gradient arrays, so no view op needs a second rule.
"""
from __future__ import annotations

import weakref
from typing import Any, TypeVar

import numpy as np

from ._engine import UNCOUNTED, AccumulateGrad, Node, Observer, init_node

_N = TypeVar("_N", bound=Node)


def apply_chain(chain: tuple[Any, ...], array: np.ndarray) -> np.ndarray:
    """The view of ``array`` (shaped like the base) that ``chain`` describes."""
    for op, args, kwargs in chain:
        array = op.__new__(op).forward(np, array, *args, **kwargs)
    return array


class CopySlices(Node):
    """Backward of a base tensor after an in-place op on one of its views."""

    name = "copy_slices"
    chain: tuple[Any, ...]

    def backward(self, xp: Any, grad: np.ndarray) -> tuple[Any, ...]:
        rest = grad.copy()
        region = apply_chain(self.chain, rest)
        grad_view = region.copy()
        region[...] = 0
        return (rest if self.needs_input_grad[0] else None), grad_view

    def _release(self) -> None:
        self.chain = ()


class AsStrided(Node):
    """Backward of a view after an in-place op on it: the view taken from its base's new value."""

    name = "as_strided"
    chain: tuple[Any, ...]
    base_shape: tuple[int, ...]

    def backward(self, xp: Any, grad: np.ndarray) -> Any:  # its one input's gradient, not a tuple
        out = xp.zeros(self.base_shape, dtype=grad.dtype)
        apply_chain(self.chain, out)[...] = grad
        return out

    def _release(self) -> None:
        self.chain = ()


def planned_lock(fn: Node, locks: dict[Any, Any]) -> int:
    """``fn``'s lock as planned in ``locks`` (id -> (node, lock)), or its current one."""
    entry = locks.get(id(fn))
    return fn._lock if entry is None else entry[1]


def count(fn: Node, locks: dict[Any, Any]) -> None:
    """Plans one more consumer for ``fn``; an uncounted view node is activated (in the plan) first."""
    lock = planned_lock(fn, locks)
    if lock == UNCOUNTED:
        _plan_activate(fn, locks)
        lock = 0
    if lock >= 0:  # a consumed node stays consumed: reaching it raises
        locks[id(fn)] = (fn, lock + 1)


def _plan_activate(node: Node, locks: dict[Any, Any]) -> None:
    """``Node._activate`` as a plan: ``node`` starts counting as a consumer of what it reads."""
    locks[id(node)] = (node, 0)
    pending = [node]
    while pending:
        for fn in pending.pop().next_functions:
            if fn is None or fn.__class__ is AccumulateGrad:
                continue
            lock = planned_lock(fn, locks)
            if lock == UNCOUNTED:
                lock = 0
                pending.append(fn)
            if lock >= 0:
                locks[id(fn)] = (fn, lock + 1)


def _node(cls: type[_N], nexts: tuple[Any, ...], like: Any, locks: dict[Any, Any]) -> _N:
    node = Node.__new__(cls)  # object.__new__ refuses extension types' subclasses
    for fn in nexts:
        if fn is not None:
            count(fn, locks)
    init_node(node, nexts, like)
    return node


def check_view_inplace(op_name: str, view: Any) -> None:
    """Raises if a recorded in-place op on ``view`` cannot rewrite its base's history."""
    base = view._base
    if view._view_chain is None:
        raise RuntimeError(f"{op_name}(): an in-place operation on a detached view of another tensor "
                           "cannot be recorded by autograd; clone() it first.")
    if base._grad_fn is None and base._requires_grad:
        error = RuntimeError("A leaf Variable that requires grad is being used in an in-place "
                             "operation.")  # the original's text, also for a view of the leaf
        error.add_note(f"(in-place {op_name} on a view of a leaf that requires grad)")
        raise error


def plan_rebase(view: Any, node: Node, plan: list[Any], locks: dict[Any, Any], version: int) -> None:
    """Plans the new histories of ``view`` and its base after the in-place op ``node`` on the view.

    New nodes are built here; what existing objects must change is appended to ``plan`` as
    (object, attribute, value) and new lock values go to ``locks``, for the caller to commit;
    ``version`` is the counter's value after the op (view and base share the counter).
    """
    base = view._base
    copy = _node(CopySlices, (base._grad_fn, node), base._data, locks)
    copy.chain = view._view_chain
    plan += [(base, "_grad_fn", copy), (base, "_requires_grad", True)]
    if base._retains_grad:
        copy._retained = Observer(base, version, retain=True)
    strided = _derived(view, base, copy)
    plan += [(view, "_grad_fn", strided), (view, "_requires_grad", True)]
    if view._retains_grad:
        strided._retained = Observer(view, version, retain=True)
    plan_refresh(base, copy, plan, but=view)


def register(view: Any) -> None:
    """Remembers (weakly) a view recorded by autograd, so an in-place op can refresh its history."""
    base = view._base
    views = base.__dict__.get("_views")
    if views is None:
        views = base._views = weakref.WeakSet()
    views.add(view)


def plan_refresh(base: Any, base_node: Node, plan: list[Any], but: Any = None) -> None:
    """Plans re-deriving the histories of ``base``'s other live views from its new node ``base_node``."""
    views = base.__dict__.get("_views")
    for view in list(views or ()):
        if view is not but and view._view_chain is not None:
            plan += [(view, "_grad_fn", _derived(view, base, base_node)), (view, "_requires_grad", True)]


def _derived(view: Any, base: Any, base_node: Node) -> Node:
    strided = _node(AsStrided, (), view._data, {})
    strided.next_functions, strided._lock = (base_node,), UNCOUNTED  # counted at its first use
    strided.chain, strided.base_shape = view._view_chain, base._data.shape
    return strided
