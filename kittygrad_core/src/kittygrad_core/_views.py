"""In-place ops on views: the base's history is rewritten, as torch's ``CopySlices`` does.

A view records how it derives from its base (``_view_chain``: the view ops and their options). After a
recorded in-place op ``N`` on a view, the base's new node takes the view's region of its gradient from
``N`` and the rest from the base's previous history, and the view's new node re-derives the view from
the base. Both replay the chain on gradient arrays, so no view op needs a second rule.
"""
from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ._engine import CONSUMED, UNCOUNTED, Node


def apply_chain(chain: tuple, array: np.ndarray) -> np.ndarray:
    """The view of ``array`` (shaped like the base) that ``chain`` describes."""
    for op, args, kwargs in chain:
        array = op.__new__(op).forward(np, array, *args, **kwargs)
    return array


class CopySlices(Node):
    """Backward of a base tensor after an in-place op on one of its views."""

    name = "copy_slices"

    def backward(self, xp: Any, grad: np.ndarray) -> tuple:
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

    def backward(self, xp: Any, grad: np.ndarray) -> np.ndarray:
        out = xp.zeros(self.base_shape, dtype=grad.dtype)
        apply_chain(self.chain, out)[...] = grad
        return out

    def _release(self) -> None:
        self.chain = ()


def _node(cls: type, nexts: tuple, like: Any) -> Node:
    node = object.__new__(cls)
    for fn in nexts:
        if fn is not None and fn._lock != CONSUMED:
            fn._lock += 1
    node.next_functions = nexts
    node._lock = 0
    node._grad = None
    node._shape = like.shape
    node._dtype = like.dtype
    node._vc, node._saved = None, ()
    node._retained = None
    return node


def check_view_inplace(op_name: str, view: Any) -> None:
    """Raises if a recorded in-place op on ``view`` cannot rewrite its base's history."""
    base = view._base
    if view._view_chain is None:
        raise RuntimeError(f"{op_name}(): an in-place operation on a detached view of another tensor "
                           "cannot be recorded by autograd; clone() it first.")
    if base._grad_fn is None and base._requires_grad:
        raise RuntimeError(f"{op_name}(): a view of a leaf Variable that requires grad is being used "
                           "in an in-place operation.")


def rebase(view: Any, node: Node) -> None:
    """Rewrites the histories of ``view`` and its base after the in-place op ``node`` on the view."""
    base = view._base
    copy = _node(CopySlices, (base._grad_fn, node), base._data)
    copy.chain = view._view_chain
    base._grad_fn = copy
    base._requires_grad = True
    if base._retains_grad:
        copy._retain(base)
    _derive(view, base)
    if view._retains_grad:
        view._grad_fn._retain(view)
    refresh(base, but=view)


def register(view: Any) -> None:
    """Remembers (weakly) a view recorded by autograd, so an in-place op can refresh its history."""
    base = view._base
    views = base.__dict__.get("_views")
    if views is None:
        views = base._views = weakref.WeakSet()
    views.add(view)


def refresh(base: Any, but: Any = None) -> None:
    """After ``base`` got a new node, re-derives the histories of its other live views from it."""
    views = base.__dict__.get("_views")
    for view in list(views or ()):
        if view is not but and view._view_chain is not None:
            _derive(view, base)


def _derive(view: Any, base: Any) -> None:
    strided = _node(AsStrided, (), view._data)
    strided.next_functions, strided._lock = (base._grad_fn,), UNCOUNTED  # counted at its first use
    strided.chain, strided.base_shape = view._view_chain, base._data.shape
    view._grad_fn = strided
    view._requires_grad = True
