"""The extension API: what a plugin may use beyond the user API, and all it needs of core's insides.

Plugins (kittygrad-ops, kittygrad-nn, kittygrad-viz and third-party ones alike) import from here and
from ``kittygrad_core`` only: modules named ``kittygrad_core._*`` are private, and a lint rule keeps
them out of every other distribution. Documented in ``docs/writing-a-plugin.md`` ("Extension API").
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ._dispatch import apply, apply_inplace
from ._dtypes import DEFAULT_DTYPE, as_float_array, resolve_dtype, result_dtype
from ._tensor import Tensor, make_tensor

__all__ = ["DEFAULT_DTYPE", "apply", "apply_inplace", "as_float_array", "call", "init_tensor",
           "resolve_dtype", "result_dtype", "wrap", "write_"]


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    """Calls the registered op ``name`` with its public signature, bound or not (helper records too).

    ``call("_permute", x, dims)`` is how a composite op reaches a helper op registered without bindings.
    """
    from . import registry  # the package's registry, built after this module is imported
    return registry.call(name, *args, **kwargs)


def wrap(array: np.ndarray, requires_grad: bool = False) -> Tensor:
    """A leaf tensor holding ``array`` itself: no copy, no validation (the array must be floating)."""
    return make_tensor(array, bool(requires_grad))


def init_tensor(tensor: Tensor, data: np.ndarray, requires_grad: bool = False) -> None:
    """Initialises an instance of a ``Tensor`` subclass (``Parameter``) around ``data`` (not copied):
    a leaf with a fresh version counter. Call it from the subclass's ``__init__``."""
    if not isinstance(data, np.ndarray) or data.dtype.kind != "f":
        raise TypeError(f"init_tensor(): data must be a floating NumPy array, not {type(data).__name__}"
                        f"{'' if not isinstance(data, np.ndarray) else f' of dtype {data.dtype}'}.")
    tensor._data = data
    tensor._requires_grad = bool(requires_grad)
    tensor._grad_fn = None
    tensor._version = [0]


def write_(tensor: Tensor, value: Any, key: Any = Ellipsis) -> Tensor:
    """Writes ``value`` into ``tensor[key]`` in place, unrecorded (as under ``no_grad``), and bumps the
    version counter, so that a graph that saved the tensor notices. For optimizers' updates, running
    statistics, initialisers. Returns ``tensor``.
    """
    data = tensor._data
    if not data.flags.writeable:
        raise RuntimeError("write_(): the tensor is read-only.")
    array = np.asarray(value._data if isinstance(value, Tensor) else value, dtype=data.dtype)
    version = tensor._version
    version[0] += 1  # the data and its version change together: no call between the two statements
    data[key] = array
    return tensor
