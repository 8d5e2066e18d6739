"""Dimension arguments, validated once for every op that takes them."""
from __future__ import annotations

import operator
from typing import Any

import numpy as np


def reduction_axes(op: str, dim: Any, ndim: int, empty_is_all: bool = True) -> tuple[int, ...]:
    """Normalises ``dim`` (None, an int or a sequence) to sorted non-negative axes of an ``ndim`` tensor.

    ``None`` means every dimension. An empty sequence means every dimension too (torch's ``amax``,
    ``norm``), unless ``empty_is_all=False``: then it means none, as in NumPy and the original
    kittygrad's ``sum``, ``mean``, ``std``, ``var`` (and torch's ``squeeze``). Raises
    ``RuntimeError`` for a repeated dim (checked first, as the original does) and ``IndexError`` for
    a dim out of range, with the original's texts.
    """
    if dim is None:
        return tuple(range(ndim))
    try:
        dims = (dim,) if isinstance(dim, int) else tuple(dim)
    except TypeError:
        dims = (_numpy_int(op, dim, "dim must be an int or a tuple of ints"),)
    if not dims:
        return tuple(range(ndim)) if empty_is_all else ()
    for d in dims:
        if not isinstance(d, int) or isinstance(d, bool):
            if isinstance(dim, np.ndarray):  # torch takes NumPy integers, not arrays of them
                raise TypeError(f"{op}(): dim must be an int or a tuple of ints, got ndarray.")
            dims = tuple(d if isinstance(d, int) and not isinstance(d, bool)
                         else _numpy_int(op, d, "dim must be an int or a tuple of ints") for d in dims)
            break
    check_dims(dims, ndim)
    return tuple(sorted(d % max(ndim, 1) for d in dims)) if ndim else ()


def check_dims(dims: tuple[int, ...], ndim: int) -> None:
    """The original kittygrad's checks of a tuple of ints naming dims of an ``ndim`` tensor."""
    if len({d + max(ndim, 1) if d < 0 else d for d in dims}) != len(dims):  # 0 and -1 alike for 0-d
        raise RuntimeError("Duplicate dims are not allowed.")
    for d in dims:
        check_dim(d, ndim)


def check_dim(dim: int, ndim: int) -> None:
    """``IndexError`` with torch's (and the original's) text unless ``dim`` names a dim of ``ndim``."""
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not low <= dim <= high:
        raise IndexError(f"Dimension out of range (expected to be in range of [{low}, {high}], "
                         f"but got {dim}).")


def expand_reduced(xp: Any, grad: Any, shape: tuple[int, ...], axes: tuple[int, ...],
                   keepdim: bool) -> Any:
    """Broadcasts the gradient of a reduction back to the reduced input's shape (a fresh array)."""
    if not keepdim and axes:
        grad = grad.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    if xp is not np:  # recording (create_graph): a broadcast records, a write into constants would too
        return xp.broadcast_to(grad, shape)
    out = xp.empty(shape, dtype=grad.dtype)
    out[...] = grad  # an order of magnitude cheaper than broadcast_to on small tensors
    return out


def normalize_dim(op: str, dim: Any, ndim: int, insert: bool = False) -> int:
    """Normalises one ``dim`` of an ``ndim`` tensor to a non-negative axis.

    With ``insert=True`` the dim names a position in the result of inserting a dimension (as for
    ``unsqueeze`` and ``stack``), so ``ndim + 1`` positions are valid. Raises ``IndexError`` when out of
    range and ``TypeError`` when not an int.
    """
    if not isinstance(dim, int) or isinstance(dim, bool):
        dim = _numpy_int(op, dim, "dim must be an int")
    size = ndim + 1 if insert else max(ndim, 1)
    if not -size <= dim < size:
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-size}, {size - 1}], but got {dim}).")
    return dim % size


def _numpy_int(op: str, value: Any, what: str) -> int:
    """A NumPy integer scalar as an int (torch takes them wherever an int goes), else ``TypeError``."""
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(f"{op}(): {what}, got {type(value).__name__}.")


def size_args(op: str, sizes: tuple) -> tuple[int, ...]:
    """Reads torch's variadic size arguments: ``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` alike."""
    if len(sizes) == 1 and not hasattr(sizes[0], "__index__"):
        try:
            sizes = tuple(sizes[0])
        except TypeError:
            raise TypeError(f"{op}(): expected ints or a sequence of ints, got "
                            f"{type(sizes[0]).__name__}.") from None
    try:
        if any(isinstance(s, bool) for s in sizes):
            raise TypeError
        return tuple(operator.index(s) for s in sizes)  # a NumPy array of several ints is no size
    except TypeError:
        raise TypeError(f"{op}(): sizes must be ints, got {sizes}.") from None


def infer_shape(op: str, shape: tuple[int, ...], input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Resolves one ``-1`` in a reshape target; raises ``RuntimeError`` naming both shapes if impossible."""
    size = 1
    for n in input_shape:
        size *= n
    free = [i for i, s in enumerate(shape) if s == -1]
    if len(free) > 1:
        raise RuntimeError(f"{op}(): only one dimension can be inferred, got shape {list(shape)}")
    known = 1
    for s in shape:
        if s < -1:
            raise RuntimeError(f"{op}(): invalid shape dimension {s} in {list(shape)}")
        known *= s if s != -1 else 1
    if free and known and size % known == 0:
        return shape[:free[0]] + (size // known,) + shape[free[0] + 1:]
    if free or known != size:
        raise RuntimeError(f"{op}(): shape '{list(shape)}' is invalid for input of shape "
                           f"{tuple(input_shape)} (size {size})")
    return tuple(shape)


def masked(xp, grad, mask):
    """``grad`` where ``mask`` holds and 0 elsewhere, as torch's threshold-style backward rules give it.

    A product is an order of magnitude faster than ``where`` on random masks; only a gradient holding
    inf or nan, which the product would leak as nan through masked positions, takes ``where``.
    """
    if xp is not np:  # recording (create_graph): the values are not read
        return xp.where(mask, grad, 0).astype(grad.dtype, copy=False)
    if xp.isfinite(grad).all():
        return grad * mask
    return xp.where(mask, grad, 0).astype(grad.dtype, copy=False)


def sgn(xp, x):
    """torch's ``sgn`` as its backward rules use it: -1, 0 or 1, and 0 (not nan) at nan.

    ``xp.sign`` gives nan at nan, which a rule such as ``grad * sign(x)`` would pass on where torch's
    gradient is 0. Two masks viewed as int8 cost no more than ``np.sign``; the product with a float
    gradient takes the gradient's dtype.
    """
    if xp is not np:  # recording (create_graph): kittygrad's sign already maps nan to 0
        return xp.sign(x)
    return (x > 0).view(np.int8) - (x < 0).view(np.int8)
