"""Indexing: ``x[key]`` and ``x[key] = value``.

``__getitem__`` is a composite that normalises the key and routes it: basic keys (ints, slices,
``...``, ``None``) go to the view record ``_index_view`` (memory and version shared with ``x``),
advanced keys (integer arrays, lists or int-valued tensors, boolean masks) to the copying record
``_index``, whose backward accumulates repeated indices. ``__setitem__`` is torch's ``index_put_``: an
in-place op on ``x`` (leaf rule, version bump) through the record ``_index_put``.

``masked_fill``, ``index_select`` and ``gather`` take their mask or index as an argument, not a tensor
input (no gradient flows to it): NumPy arrays, lists or integer-valued (boolean-valued for masks)
kittygrad tensors. index_select and gather accumulate the gradients of repeated indices.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

import kittygrad_core as kitty
from kittygrad_core import Composite, Conformance, Op, Tensor
from kittygrad_core.extend import apply, apply_inplace, derived, value_read

from ._dims import masked, normalize_dim
from ._strategies import (
    any_key,
    draw_key,
    gather_args,
    index_shapes,
    mask,
    put_shapes,
    select_args,
    shapes,
)


def normalize_key(key):
    """Splits ``key`` into ``(basic, advanced)`` NumPy keys applied one after the other.

    A basic key (ints, slices, ``...``, ``None``) gives ``basic`` ending with ``...`` (so that NumPy
    returns a view even for all-int keys) and ``advanced = None``. A key with an index array (list,
    int-valued tensor, boolean mask) gives ``basic = (...,)`` and the whole key as ``advanced``, indexed
    by NumPy's rules, as in the original kittygrad: ints then count as advanced indices, so
    ``x[1, ..., [0, 0, 2]]`` of an ``x`` of shape ``(4, 5, 6)`` has shape ``(3, 5)`` (torch: ``(5, 3)``).
    """
    items = key if isinstance(key, tuple) else (key,)
    basic: list[Any] = []
    advanced: list[Any] = []
    is_basic = True
    for k in items:
        if k is None or k is Ellipsis or isinstance(k, slice):
            basic.append(k)
            advanced.append(k)
        elif isinstance(k, (bool, np.bool_)):
            advanced.append(bool(k))
            is_basic = False
        elif isinstance(k, (int, np.integer)):
            basic.append(int(k))
            advanced.append(int(k))
        elif isinstance(k, (float, np.floating, complex, str, bytes)):
            raise IndexError("only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                             f"are valid indices (got {type(k).__name__})")  # torch's text
        elif isinstance(k, Tensor) and k.ndim == 0 and float(k._data).is_integer():
            value_read("a 0-d tensor used as an index")  # its value becomes part of the key
            basic.append(int(k._data))  # a 0-d integer tensor indexes like an int
            advanced.append(int(k._data))
        else:
            index = _index_array(k)
            if index is not k and not (isinstance(k, Tensor) and index is k._data):
                derived(index, _index_array, k)  # kitty.compile computes it again from k's data
            advanced.append(index)
            is_basic = False
    if is_basic:
        if not any(k is Ellipsis for k in basic):
            basic.append(Ellipsis)
        return tuple(basic), None
    return (Ellipsis,), tuple(advanced)


def _select(array, key):
    """``array`` indexed by a ``normalize_key`` result: a view for basic keys."""
    basic, advanced = key
    return array[basic] if advanced is None else array[basic][advanced]


def _index_array(k):
    try:
        array = k._data if isinstance(k, Tensor) else np.asarray(
            [_index_array(i) if isinstance(i, Tensor) else i for i in k] if isinstance(k, list) else k)
    except ValueError:  # NumPy's "inhomogeneous shape": a ragged nested list
        raise IndexError(f"an index given as a nested list must be rectangular, got {k!r}") from None
    if array.dtype.kind in "bi":
        return array
    if array.dtype.kind in "uf" and np.all(np.mod(array, 1) == 0):
        return array.astype(np.intp)  # kittygrad tensors are floats: integer values index
    raise IndexError(f"tensors used as indices must be integer-valued or boolean, got "
                     f"{type(k).__name__} of dtype {array.dtype}")


def _take(name, input, key):
    try:
        return _select(input, key)
    except IndexError as error:
        raise IndexError(f"{name}(): {error} (tensor of shape {input.shape})") from None


def _scatter_add(xp, shape, positions, grad):
    """Zeros of ``shape`` with the elements of ``grad`` added at the flat ``positions`` (a constant
    integer array shaped as ``grad``), recorded: what ``xp.add.at`` does, for ``create_graph``.

    A write keeps one of several values sent to the same position, so the writes go in rounds: the
    first occurrence of every position, then the second, ... (as many rounds as the most repeated one).
    """
    positions, flat = positions.reshape(-1), grad.reshape(-1)
    order = np.argsort(positions, kind="stable")
    ranked = positions[order]
    firsts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # where each run of equal ones starts
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size) - np.repeat(firsts, np.diff(np.r_[firsts, order.size]))
    out = xp.zeros(math.prod(shape), dtype=grad.dtype)
    for r in range(int(rank.max()) + 1 if rank.size else 0):
        picked = np.flatnonzero(rank == r)
        part = xp.zeros(out.shape, dtype=grad.dtype)
        part[positions[picked]] = flat[picked]
        out = out + part
    return out.reshape(shape)


def _numpy_rule(torch, x, key):
    """Flat positions of ``x[key]`` under NumPy's indexing rules, as a torch index tensor."""
    items = key if isinstance(key, tuple) else (key,)
    key = tuple(k.numpy() if isinstance(k, torch.Tensor) else k for k in items)  # the checker's tensors
    return torch.as_tensor(np.arange(x.numel()).reshape(tuple(x.shape))[key])


def _numpy_getitem(torch, x, key):
    """The reference of kittygrad's indexing: NumPy's rules (the original's), built from torch ops."""
    return x.reshape(-1)[_numpy_rule(torch, x, key)]


def _numpy_put(torch, x, values, key):
    y = x * 1
    y.view(-1)[_numpy_rule(torch, x, key)] = values
    return y


def _getitem_conformance(advanced):
    return Conformance(torch=_numpy_getitem, shapes=index_shapes, inputs=1,
                       options={"key": lambda draw, shapes: draw_key(draw, shapes[0], advanced)},
                       call=lambda kitty, x, key: x[key])


class IndexView(Op):
    """_index_view(input, key) -> Tensor

    The record of basic indexing (``key`` from ``normalize_key``): a view of ``input``."""

    __slots__ = ("shape", "key")

    name = "_index_view"
    differentiable_backward = True
    functions = methods = ()
    n_inputs = 1
    view = True
    conformance = _getitem_conformance(advanced=False)

    def forward(self, xp, input, key):
        self.shape, self.key = input.shape, key
        return _take("__getitem__", input, key)

    def backward(self, xp, grad):
        out = xp.zeros(self.shape, dtype=grad.dtype)
        out[self.key[0]] = grad
        return out


class Index(Op):
    """_index(input, key) -> Tensor

    The record of advanced indexing (``key`` from ``normalize_key``): a copy; gradients of repeated
    indices accumulate."""

    __slots__ = ("shape", "key")

    name = "_index"
    differentiable_backward = True
    shape_from_options = True  # a boolean mask's count of True values: kitty.compile guards it
    functions = methods = ()
    n_inputs = 1
    conformance = _getitem_conformance(advanced=True)

    def forward(self, xp, input, key):
        self.shape, self.key = input.shape, key
        return _take("__getitem__", input, key)

    def backward(self, xp, grad):
        basic, advanced = self.key
        if xp is not np:
            positions = np.arange(math.prod(self.shape)).reshape(self.shape)[basic][advanced]
            return _scatter_add(xp, self.shape, positions, grad)
        out = xp.zeros(self.shape, dtype=grad.dtype)
        if any(isinstance(k, np.ndarray) and k.dtype.kind != "b" for k in advanced):
            xp.add.at(out[basic], advanced, grad)  # out[basic] is a view: repeated indices add up
        else:
            out[basic][advanced] = grad  # masks select each element at most once
        return out


class Getitem(Composite):
    """Tensor[key] -> Tensor

    Basic indexing (ints, slices, ``...``, ``None``) returns a view sharing memory and version with the
    tensor; advanced indexing (integer arrays, lists or tensors, boolean masks) returns a copy."""

    name = "getitem"
    functions, methods = (), ("__getitem__",)
    conformance = Conformance(torch=_numpy_getitem, shapes=index_shapes, inputs=1, options={"key": any_key},
                              call=lambda kitty, x, key: x[key])

    @staticmethod
    def call(input, key):
        key = normalize_key(key)
        return apply(kitty.registry["_index_view" if key[1] is None else "_index"], (input,), (key,))


def _put(x, key, value):
    x[key] = value
    return x


class IndexPut(Op):
    """_index_put(input, values, key) -> Tensor

    The record of ``x[key] = values`` (``key`` from ``normalize_key``), applied in place on ``x``.

    The gradient to ``x`` is zero at the written positions; ``values`` gets the gradient of its
    positions, summed over the dimensions it was broadcast along."""

    __slots__ = ("key", "values_shape", "values_dtype")

    name = "_index_put"
    differentiable_backward = True
    functions = methods = ()
    n_inputs = 2
    writes_input = True  # writes only the indexed region, in the target's own buffer

    conformance = Conformance(
        torch=_numpy_put,
        shapes=put_shapes, inputs=2,
        options={"key": [0, (slice(None), 1), (slice(0, 2),), ([0, 2],), (Ellipsis, -1),
                         (np.array([True, False, True]),)]},
        call=lambda kitty, x, values, key: _put(x * 1, key, values))

    def forward(self, xp, input, values, key):
        self.key, self.values_shape, self.values_dtype = key, values.shape, values.dtype
        basic, advanced = key
        try:
            if advanced is None:
                input[basic] = values  # apply_inplace passes the target's own buffer
            else:
                input[basic][advanced] = values
        except IndexError as error:
            raise IndexError(f"__setitem__(): {error} (tensor of shape {input.shape})") from None
        except ValueError as error:
            raise RuntimeError(f"__setitem__(): shape mismatch: {error} (tensor of shape "
                               f"{input.shape}, value of shape {values.shape})") from None
        return input

    def backward(self, xp, grad):
        grad_input = grad_values = None
        if self.needs_input_grad[0] and xp is not np:  # recording: zero where written, by a constant mask
            written = np.zeros(grad.shape, dtype=bool)
            basic, advanced = self.key
            if advanced is None:
                written[basic] = True
            else:
                written[basic][advanced] = True
            grad_input = xp.where(written, 0, grad).astype(grad.dtype, copy=False)
        elif self.needs_input_grad[0]:
            grad_input = grad.copy()
            basic, advanced = self.key
            if advanced is None:
                grad_input[basic] = 0
            else:
                grad_input[basic][advanced] = 0
        if self.needs_input_grad[1]:
            selected = _select(grad, self.key)
            extra = len(self.values_shape) - selected.ndim
            if extra > 0:  # values may carry leading size-1 dims
                selected = selected.reshape((1,) * extra + selected.shape)
            grad_values = kitty.unbroadcast(selected, self.values_shape).astype(self.values_dtype)
        return grad_input, grad_values


class _Cast:
    """``astype(dtype)`` as a function, for kitty.compile to repeat a conversion."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype

    def __call__(self, array: np.ndarray) -> np.ndarray:
        return array.astype(self.dtype)


class Setitem(Composite):
    """Tensor[key] = value

    Writes ``value`` (a tensor, number or array, broadcast) into the indexed positions in place, as
    torch's ``index_put_``: the tensor's version is bumped and gradients flow to it (zero at the
    written positions) and to ``value``."""

    name = "setitem"
    functions, methods = (), ("__setitem__",)
    conformance = IndexPut.conformance

    @staticmethod
    def call(input, key, value):
        key = normalize_key(key)
        if not isinstance(value, Tensor):
            given = value
            try:
                value = np.asarray(value)
            except ValueError:  # NumPy's "inhomogeneous shape": a ragged nested list
                raise TypeError(f"__setitem__(): values given as a nested list must be rectangular, got "
                                 f"{value!r}") from None
            if value.dtype.kind not in "biuf":
                raise TypeError(f"__setitem__(): can't assign a {type(value).__name__} of dtype "
                                f"{value.dtype} to a tensor")
            value = derived(value.astype(input.dtype), _Cast(input.dtype), given)
        apply_inplace(kitty.registry["_index_put"], (input, value), (key,))


# ---------------------------------------------------------------- masks and index arguments


def _bool_mask(op, mask):
    array = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if array.dtype.kind == "b":
        return array
    if isinstance(mask, Tensor) and np.isin(array, (0, 1)).all():
        return array.astype(bool)  # kittygrad tensors are floats: 0/1 values mask
    raise RuntimeError(f"{op}(): only boolean masks are supported (or tensors of 0s and 1s), got "
                       f"{type(mask).__name__} of dtype {array.dtype}")


def _int_index(op, index):
    array = index._data if isinstance(index, Tensor) else np.asarray(index)
    if array.dtype.kind in "iu":
        return array.astype(np.intp, copy=False)
    if array.dtype.kind == "f" and np.all(np.mod(array, 1) == 0) or array.size == 0:
        return array.astype(np.intp)  # kittygrad tensors are floats: integer values index
    raise IndexError(f"{op}(): index must be integer-valued, got {type(index).__name__} of dtype "
                     f"{array.dtype}")


def _in_range(op, index, size, dim):
    if index.size and (index.min() < 0 or index.max() >= size):
        bad = index.min() if index.min() < 0 else index.max()
        raise IndexError(f"{op}(): index {bad} is out of bounds for dimension {dim} with size {size}")


class MaskedFill(Op):
    """masked_fill(input, mask, value) -> Tensor

    Returns ``input`` with ``value`` (a number) where the boolean ``mask`` (broadcast) holds; the
    gradient is zero there."""

    __slots__ = ("mask", "shape")

    name = "masked_fill"
    differentiable_backward = True
    n_inputs = 1
    inplace = ("masked_fill_",)
    conformance = Conformance(torch="torch.masked_fill", shapes=shapes(0, 3, 3), inputs=1,
                              options={"mask": mask, "value": [0.0, -1.5, 2]})

    def forward(self, xp, input, mask, value):
        mask = _bool_mask("masked_fill", mask)
        if isinstance(value, Tensor) and value.ndim == 0:
            value = float(value._data)
        if not isinstance(value, numbers.Real):
            raise TypeError(f"masked_fill(): value must be a number, not {type(value).__name__}.")
        try:
            xp.broadcast_shapes(input.shape, mask.shape)
        except ValueError:
            raise RuntimeError(f"masked_fill(): mask of shape {mask.shape} does not broadcast with "
                               f"input of shape {input.shape}") from None
        self.mask, self.shape = mask, input.shape
        return xp.where(mask, xp.asarray(value, dtype=input.dtype), input)

    def backward(self, xp, grad):
        return kitty.unbroadcast(masked(xp, grad, ~self.mask), self.shape)


class IndexSelect(Op):
    """index_select(input, dim, index) -> Tensor

    Returns the entries of ``input`` at positions ``index`` (a 1-D integer array, list or tensor) along
    ``dim``; gradients of repeated positions add up."""

    __slots__ = ("axis", "index", "shape")

    name = "index_select"
    differentiable_backward = True
    n_inputs = 1
    conformance = Conformance(torch=lambda torch, x, args: torch.index_select(x, *args),
                              shapes=shapes(1, 3, 3), inputs=1, options={"args": select_args},
                              call=lambda kitty, x, args: kitty.index_select(x, *args))

    def forward(self, xp, input, dim, index):
        axis = normalize_dim("index_select", dim, input.ndim)
        index = _int_index("index_select", index)
        if index.ndim > 1:
            raise IndexError(f"index_select(): index must be a vector, got {index.ndim} dims")
        x = input.reshape(input.shape or (1,))
        index = index.reshape(-1)
        _in_range("index_select", index, x.shape[axis], dim)
        if not input.ndim and index.size != 1:
            raise IndexError(f"index_select(): index to a 0-d tensor must have 1 value, got {index.size}")
        self.axis, self.index, self.shape = axis, index, input.shape
        out = xp.take(x, index, axis=axis)
        return out if input.ndim else out.reshape(())

    def backward(self, xp, grad):
        shape = self.shape or (1,)
        if xp is not np:
            positions = np.take(np.arange(math.prod(shape)).reshape(shape), self.index, axis=self.axis)
            return _scatter_add(xp, self.shape, positions, grad)
        out = xp.zeros(shape, dtype=grad.dtype)
        xp.add.at(xp.moveaxis(out, self.axis, 0), self.index,
                  xp.moveaxis(grad.reshape(grad.shape or (1,)), self.axis, 0))
        return out.reshape(self.shape)


class Gather(Op):
    """gather(input, dim, index) -> Tensor

    Returns ``out[i][j][k] = input[index[i][j][k]][j][k]`` (for ``dim=0``; likewise for other dims):
    ``index`` (an integer array, list or tensor of the input's rank) picks along ``dim``; gradients of
    repeated positions add up."""

    __slots__ = ("key", "shape", "index_shape")

    name = "gather"
    differentiable_backward = True
    n_inputs = 1
    conformance = Conformance(torch=lambda torch, x, args: torch.gather(x, *args),
                              shapes=shapes(1, 3, 3), inputs=1, options={"args": gather_args},
                              call=lambda kitty, x, args: kitty.gather(x, *args))

    def forward(self, xp, input, dim, index):
        axis = normalize_dim("gather", dim, input.ndim)
        index = _int_index("gather", index)
        if index.ndim != input.ndim and max(index.ndim, input.ndim) > 1:
            raise RuntimeError(f"gather(): index must have as many dims as input ({input.ndim}), "
                               f"got {index.ndim}")
        x, idx = input.reshape(input.shape or (1,)), index.reshape(index.shape or (1,))
        if any(i > s for d, (i, s) in enumerate(zip(idx.shape, x.shape)) if d != axis):
            raise RuntimeError(f"gather(): index of shape {index.shape} is larger than input of "
                               f"shape {input.shape} apart from dimension {dim}")
        _in_range("gather", idx, x.shape[axis], dim)
        key = list(xp.indices(idx.shape, sparse=True))
        key[axis] = idx
        self.key, self.shape, self.index_shape = tuple(key), input.shape, idx.shape
        return x[self.key].reshape(index.shape)

    def backward(self, xp, grad):
        if xp is not np:
            positions = np.arange(math.prod(self.shape)).reshape(self.shape or (1,))[self.key]
            return _scatter_add(xp, self.shape, positions, grad)
        out = xp.zeros(self.shape or (1,), dtype=grad.dtype)
        xp.add.at(out, self.key, grad.reshape(self.index_shape))  # repeated positions add up
        return out.reshape(self.shape)


OPS = (IndexView, Index, Getitem, IndexPut, Setitem, MaskedFill, IndexSelect, Gather)
