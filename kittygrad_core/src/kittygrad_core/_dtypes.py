"""Floating dtypes of kittygrad and the rules that turn user input into them."""
from __future__ import annotations

import builtins
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

float16 = half = np.float16
float32 = float = np.float32  # noqa: A001 - torch spells it this way
float64 = double = np.float64

SUPPORTED_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_DTYPE = np.dtype(np.float32)
#: The supported dtypes as scalar types, the original kittygrad's ``kittygrad.core.ALL_DTYPES``.
ALL_DTYPES = [float16, float32, float64]

#: Type aliases of the original kittygrad: a shape (``kitty.Size``) and a Python number (``kitty.Scalar``).
Size = Sequence[int] | tuple[int, ...]
Scalar = int | builtins.float

DTypeLike = Any  # np.float32, np.dtype('float32'), 'float32', ...


def resolve_dtype(dtype: DTypeLike) -> np.dtype:
    """Return the ``np.dtype`` for ``dtype``; raise ``TypeError`` if kittygrad does not support it."""
    if isinstance(dtype, type) and dtype.__module__ == "builtins":  # float, int: refused by the original
        raise TypeError(f"Data type '{dtype.__name__}' is not supported.")
    if not isinstance(dtype, (type, str, np.dtype)):  # np.dtype would read a Tensor's or None's
        raise TypeError(f"Data type {dtype!r} is not understood: expected a dtype such as "
                        "kitty.float32.")
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"Data type {dtype!r} is not understood.") from None
    if resolved not in SUPPORTED_DTYPES:  # the original's text, naming the dtype as it was passed
        raise TypeError(f"Data type '{getattr(dtype, '__name__', resolved.name)}' is not supported.")
    return resolved


def as_float_array(data: Any, dtype: DTypeLike | None = None) -> np.ndarray:
    """Convert tensor-constructor input to a floating array, as ``kitty.tensor`` does.

    Python numbers, bools and nested lists become the default dtype (torch's rule for Python floats,
    the original kittygrad's for ints); a NumPy array keeps a supported float dtype, and any other NumPy
    dtype is converted with a ``UserWarning``.
    """
    if dtype is not None:
        dtype = resolve_dtype(dtype)
    if isinstance(data, np.ndarray):
        if dtype is None:
            if data.dtype in SUPPORTED_DTYPES:
                dtype = data.dtype
            else:
                _check_numeric(data.dtype, data)
                warnings.warn("Passed NumPy array has an unsupported data type "
                              f"'{data.dtype}'. Created a copy based on '{DEFAULT_DTYPE}' dtype.",
                              UserWarning, stacklevel=3)
                dtype = DEFAULT_DTYPE
        _check_numeric(data.dtype, data)
        # Shares the array's memory when no cast is needed, as the original kittygrad (and
        # torch.from_numpy) do; torch.tensor would copy.
        return data.astype(dtype, copy=False)
    if isinstance(data, np.generic):
        return as_float_array(np.asarray(data), dtype)
    try:
        array = np.array(data)
    except ValueError as error:  # ragged nesting
        raise ValueError(f"kitty.tensor(): could not build a tensor from {type(data).__name__} "
                         f"data: {error}") from None
    _check_numeric(array.dtype, data)
    return array.astype(DEFAULT_DTYPE if dtype is None else dtype)


def _check_numeric(dtype: np.dtype, data: Any) -> None:
    if dtype.kind not in "biuf":
        raise TypeError(f"kitty.tensor(): cannot build a tensor from data of type "
                        f"{type(data).__name__} with elements of dtype '{dtype}'; "
                        "expected numbers, bools, nested lists of them, or a numeric NumPy array.")


def result_dtype(dtypes_and_ndims: list[tuple[np.dtype, int]]) -> np.dtype:
    """The dtype torch gives an elementwise op on tensors: dimensioned tensors outrank 0-d ones."""
    dimensioned = [dt for dt, nd in dtypes_and_ndims if nd > 0]
    pool = dimensioned or [dt for dt, _ in dtypes_and_ndims]
    return np.result_type(*pool)
