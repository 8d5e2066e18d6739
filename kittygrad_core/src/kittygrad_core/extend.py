"""The extension API: what a plugin may use beyond the user API, and all it needs of core's insides.

Plugins (kittygrad-ops, kittygrad-nn, kittygrad-viz and third-party ones alike) import from here and
from ``kittygrad_core`` only: modules named ``kittygrad_core._*`` are private, and a lint rule keeps
them out of every other distribution. Documented in ``docs/writing-a-plugin.md`` ("Extension API").
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import _compile, _tracing
from ._dispatch import apply, apply_inplace
from ._dtypes import DEFAULT_DTYPE, as_float_array, resolve_dtype, result_dtype
from ._tensor import Tensor, make_tensor

__all__ = ["DEFAULT_DTYPE", "apply", "apply_inplace", "as_float_array", "call", "derived", "init_tensor",
           "node_output", "recorded", "replayable", "resolve_dtype", "result_dtype", "value_read", "wrap",
           "write_"]


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    """Calls the registered op ``name`` with its public signature, bound or not (helper records too).

    ``call("_permute", x, dims)`` is how a composite op reaches a helper op registered without bindings.
    """
    from . import registry  # the package's registry, built after this module is imported
    return registry.call(name, *args, **kwargs)


def wrap(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A leaf tensor holding ``array`` itself: no copy, no validation (the array must be floating)."""
    return make_tensor(array, bool(requires_grad))


def init_tensor(tensor: Tensor, data: np.ndarray | Tensor, requires_grad: bool = False) -> None:
    """Initialises an instance of a ``Tensor`` subclass (``Parameter``) around ``data``, as a leaf.

    ``data`` is a floating NumPy array (used as is, with a fresh version counter) or a tensor, whose
    memory and version counter the new tensor shares (as ``torch.nn.Parameter(t)`` does, and as
    torch's ``detach()`` does: ``init_tensor(Tensor.__new__(Tensor), t)`` is such an alias). Call it
    from the subclass's ``__init__``."""
    if isinstance(data, Tensor):
        array, version = data._data, data._version
    elif isinstance(data, np.ndarray) and data.dtype.kind == "f":
        array, version = data, [0]
    else:
        raise TypeError(f"init_tensor(): data must be a Tensor or a floating NumPy array, not "
                        f"{type(data).__name__}"
                        f"{'' if not isinstance(data, np.ndarray) else f' of dtype {data.dtype}'}.")
    tensor._data = array
    tensor._requires_grad = bool(requires_grad)
    tensor._grad_fn = None
    tensor._version = version


def write_(tensor: Tensor, value: Any, key: Any = Ellipsis) -> Tensor:
    """Writes ``value`` into ``tensor[key]`` in place, unrecorded (as under ``no_grad``), and bumps the
    version counter, so that a graph that saved the tensor notices. For optimizers' updates, running
    statistics, initialisers. Returns ``tensor``.
    """
    data = tensor._data
    if not data.flags.writeable:
        raise RuntimeError("write_(): the tensor is read-only.")
    if _tracing.RECORDER is not None:  # an unrecorded write: kitty.compile would not repeat it
        _tracing.RECORDER.unsupported("extend.write_() (an unrecorded write)")
    array = value if value.__class__ is np.ndarray and value.dtype is data.dtype else \
        np.asarray(value._data if isinstance(value, Tensor) else value, dtype=data.dtype)  # an optimizer's array: as is
    version = tensor._version
    version[0] += 1  # the data and its version change together: no call between the two statements
    data[key] = array
    return tensor


def node_output(node: Any) -> tuple[tuple[int, ...], np.dtype] | None:
    """The shape and dtype of the gradient a backward node receives (the output of the operation it
    recorded; the leaf's for ``AccumulateGrad``), or ``None`` if the node does not know them. For
    graph drawings."""
    shape = getattr(node, "_shape", None)
    return None if shape is None else (shape, node._dtype)


def replayable(fn: Any, *args: Any) -> Any:
    """Calls ``fn(*args)``. While ``kitty.compile`` records, the call is recorded as one step that each
    replay makes again with the same arguments (an optimizer's ``step()``, ``zero_grad()``: in-place
    updates of tensors the caller holds), and what happens inside it is not recorded."""
    return _compile.replayable(fn, *args)


def derived(result: Any, fn: Any, source: Any) -> Any:
    """Returns ``result``, the array ``fn(array)`` computed from ``source`` (a tensor, a NumPy array, or a
    Python value such as a list), to be passed to an op as an option or operand (an index converted from
    a tensor). While ``kitty.compile`` records, a replay computes ``fn`` again on the source's current
    array; made from a Python value, ``result`` is a constant of the record. Free when nothing records.
    """
    recorder = _tracing.RECORDER
    if recorder is not None:
        recorder.derived(result, fn, source)
    return result


def recorded(op: Any, result: Any, *args: Any) -> Any:
    """Returns ``result``, which the caller computed as ``op().forward(np, *args)`` without ``apply``
    (``op`` an :class:`Op` with no tensor inputs: its options may hold tensors and arrays). While
    ``kitty.compile`` records, the call is recorded as an op, so replays compute it again."""
    recorder = _tracing.RECORDER
    if recorder is not None:
        recorder.op(op, (), result, args, {}, "op")
    return result


def value_read(what: str) -> None:
    """Tells ``kitty.compile`` that the caller reads a tensor's value into Python (``what`` names it):
    a recording in progress gives up and the compiled function runs eagerly for that signature."""
    recorder = _tracing.RECORDER
    if recorder is not None:
        recorder.read(what)
