"""The array namespace of ``create_graph=True``: NumPy's names over tensors, so that rules record.

Backward rules compute with ``xp`` and with the operators and methods of the arrays they read. In a
``create_graph`` pass kittygrad-core hands them this namespace instead of NumPy and wraps the
gradient and the saved inputs in :class:`RecordingArray`, which speaks NumPy's dialect
(``.sum(axis=, keepdims=)``, ``.astype``, ``.T``, ``a[key] = v``) by calling registered ops; what a
rule computes is then a graph that can be differentiated again. Comparisons read values (masks are
constants of the derivative), as do NumPy's non-differentiable functions (``isnan``, ``argsort``).

A rule that hands a recording array to NumPy itself gets a TypeError, never a silently detached
value: ``RecordingArray.__array__`` refuses.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import kittygrad_core as core
from kittygrad_core import Tensor
from kittygrad_core.extend import call
from kittygrad_core.extend import wrap as leaf


class RecordingArray:
    """A tensor seen through NumPy's array API; every differentiable operation is a recorded op."""

    __slots__ = ("tensor",)
    __array_ufunc__ = None  # `ndarray * RecordingArray` defers to our reflected operators
    __hash__ = None  # type: ignore[assignment]  # __eq__ compares values, as NumPy's

    def __init__(self, tensor: Tensor) -> None:
        self.tensor = tensor

    def __repr__(self) -> str:
        return f"RecordingArray({self.tensor!r})"

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError("a backward rule handed a recording array to NumPy under create_graph=True; "
                        "rules must compute with xp and the arrays' own methods to be differentiable "
                        "twice (or not declare differentiable_backward).")

    # ---- what the array is
    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensor._data.shape

    @property
    def ndim(self) -> int:
        return self.tensor._data.ndim

    @property
    def size(self) -> int:
        return self.tensor._data.size

    @property
    def dtype(self) -> np.dtype:
        return self.tensor._data.dtype

    def __len__(self) -> int:
        return len(self.tensor._data)

    def __bool__(self) -> bool:
        return bool(self.tensor._data)

    def __float__(self) -> float:
        return float(self.tensor._data)

    # ---- arithmetic: recorded
    def __neg__(self) -> RecordingArray:
        return _rec(core.neg(self.tensor))

    def __pos__(self) -> RecordingArray:
        return self

    def __add__(self, other: Any) -> RecordingArray:
        return _rec(self.tensor + _t(other))

    def __radd__(self, other: Any) -> RecordingArray:
        return _rec(core.add(_t(other), self.tensor))

    def __sub__(self, other: Any) -> RecordingArray:
        return _rec(self.tensor - _t(other))

    def __rsub__(self, other: Any) -> RecordingArray:
        return _rec(core.sub(_t(other), self.tensor))

    def __mul__(self, other: Any) -> RecordingArray:
        return _rec(self.tensor * _t(other))

    def __rmul__(self, other: Any) -> RecordingArray:
        return _rec(core.mul(_t(other), self.tensor))

    def __truediv__(self, other: Any) -> RecordingArray:
        return _rec(self.tensor / _t(other))

    def __rtruediv__(self, other: Any) -> RecordingArray:
        return _rec(core.div(_t(other), self.tensor))

    def __pow__(self, other: Any) -> RecordingArray:
        return _rec(core.pow(self.tensor, _t(other)))

    def __rpow__(self, other: Any) -> RecordingArray:
        return _rec(core.pow(_t(other), self.tensor))

    def __matmul__(self, other: Any) -> RecordingArray:
        return matmul(self, other)

    def __rmatmul__(self, other: Any) -> RecordingArray:
        return matmul(other, self)

    # ---- comparisons: values (a mask is a constant of the derivative)
    def __eq__(self, other: Any) -> np.ndarray:  # a mask, as NumPy's
        return self.tensor._data == _value(other)

    def __ne__(self, other: Any) -> np.ndarray:  # a mask, as NumPy's
        return self.tensor._data != _value(other)

    def __lt__(self, other: Any) -> np.ndarray:
        return self.tensor._data < _value(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.tensor._data <= _value(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.tensor._data > _value(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.tensor._data >= _value(other)

    # ---- indexing
    def __getitem__(self, key: Any) -> RecordingArray:
        return _rec(call("getitem", self.tensor, key))

    def __setitem__(self, key: Any, value: Any) -> None:
        value = _t(value)
        if not isinstance(value, Tensor):
            value = leaf(np.asarray(value, dtype=self.dtype))
        self.tensor[key] = value

    # ---- NumPy's methods
    def sum(self, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> RecordingArray:
        out = _rec(core.sum(self.tensor, _dims(axis, self.ndim), keepdims))
        return out if dtype is None else out.astype(dtype)

    def mean(self, axis: Any = None, keepdims: bool = False) -> RecordingArray:
        return _rec(core.mean(self.tensor, _dims(axis, self.ndim), keepdims))

    def prod(self, axis: Any = None, keepdims: bool = False) -> RecordingArray:
        if axis is None:
            return _rec(core.prod(self.tensor.reshape(-1), 0, False)).reshape((1,) * self.ndim if keepdims else ())
        out = self
        for a in sorted((axis,) if isinstance(axis, int) else tuple(axis), reverse=True):
            out = _rec(core.prod(out.tensor, a, keepdims))
        return out

    def reshape(self, *shape: Any) -> RecordingArray:
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape
        return _rec(self.tensor.reshape(tuple(shape)))

    def ravel(self) -> RecordingArray:
        return self.reshape(-1)

    def astype(self, dtype: Any, copy: bool = True) -> RecordingArray:
        if np.dtype(dtype) == self.dtype:
            return self
        return _rec(self.tensor.to(np.dtype(dtype).type))

    def copy(self) -> RecordingArray:
        return _rec(self.tensor.clone())

    @property
    def T(self) -> RecordingArray:
        return transpose(self)

    def transpose(self, *axes: Any) -> RecordingArray:
        return transpose(self, axes[0] if len(axes) == 1 else axes or None)

    def swapaxes(self, a: int, b: int) -> RecordingArray:
        return swapaxes(self, a, b)


def _rec(value: Any) -> Any:
    """A tensor result as a recording array (integer results of ops are NumPy arrays already)."""
    return RecordingArray(value) if isinstance(value, Tensor) else value


def _t(value: Any) -> Any:
    """An operand for an op: the tensor of a recording array; arrays and numbers as they are."""
    return value.tensor if isinstance(value, RecordingArray) else value


def _value(value: Any) -> Any:
    return value.tensor._data if isinstance(value, RecordingArray) else value


def _dims(axis: Any, ndim: int) -> Any:
    if axis is None:
        return None
    return axis if isinstance(axis, int) else tuple(axis)


def _recorded(name: str, numpy: Any) -> Any:
    """A unary function: the registered op ``name`` on a recording array, NumPy's on anything else."""
    def function(x: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(x, RecordingArray):
            return _rec(call(name, x.tensor, *args, **kwargs))
        return numpy(x, *args, **kwargs)
    function.__name__ = function.__qualname__ = numpy.__name__
    function.__doc__ = f"NumPy's ``{numpy.__name__}``, recorded as ``{name}`` on a recording array."
    return function


exp = _recorded("exp", np.exp)
log = _recorded("log", np.log)
sqrt = _recorded("sqrt", np.sqrt)
sin = _recorded("sin", np.sin)
cos = _recorded("cos", np.cos)
tan = _recorded("tan", np.tan)
sinh = _recorded("sinh", np.sinh)
cosh = _recorded("cosh", np.cosh)
tanh = _recorded("tanh", np.tanh)
arcsin = _recorded("asin", np.arcsin)
arccos = _recorded("acos", np.arccos)
arctan = _recorded("atan", np.arctan)
abs = absolute = _recorded("abs", np.abs)
sign = _recorded("sign", np.sign)
log1p = _recorded("log1p", np.log1p)
expm1 = _recorded("expm1", np.expm1)
reciprocal = _recorded("reciprocal", np.reciprocal)
square = _recorded("square", np.square)


def _any_recording(*values: Any) -> bool:
    return any(isinstance(v, RecordingArray) for v in values)


def where(condition: Any, x: Any, y: Any) -> Any:
    """``np.where``: recorded when ``x`` or ``y`` records (the condition is a constant)."""
    if not _any_recording(x, y):
        return np.where(_value(condition), x, y)
    return _rec(core.where(np.asarray(_value(condition)), _t(x), _t(y)))


def maximum(x: Any, y: Any) -> Any:
    """``np.maximum``, recorded."""
    return _rec(core.maximum(_t(x), _t(y))) if _any_recording(x, y) else np.maximum(x, y)


def minimum(x: Any, y: Any) -> Any:
    """``np.minimum``, recorded."""
    return _rec(core.minimum(_t(x), _t(y))) if _any_recording(x, y) else np.minimum(x, y)


def clip(x: Any, low: Any, high: Any) -> Any:
    """``np.clip`` with number bounds, recorded as ``clamp``."""
    return _rec(core.clamp(x.tensor, low, high)) if isinstance(x, RecordingArray) else np.clip(x, low, high)


def matmul(x: Any, y: Any) -> Any:
    """``np.matmul``, recorded."""
    return _rec(core.matmul(_t(x), _t(y))) if _any_recording(x, y) else np.matmul(x, y)


def dot(x: Any, y: Any) -> Any:
    """``np.dot`` of vectors and matrices, recorded as ``matmul``."""
    return matmul(x, y)


def einsum(spec: str, *operands: Any) -> Any:
    """``np.einsum``, recorded."""
    if not _any_recording(*operands):
        return np.einsum(spec, *operands)
    return _rec(core.einsum(spec, *(_t(o) if isinstance(o, RecordingArray) else leaf(np.asarray(o, float))
                                    for o in operands)))


def transpose(x: Any, axes: Any = None) -> Any:
    """``np.transpose``, recorded as ``permute``."""
    if not isinstance(x, RecordingArray):
        return np.transpose(x, axes)
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(int(a) for a in axes)
    return _rec(core.permute(x.tensor, axes)) if x.ndim else x


def swapaxes(x: Any, a: int, b: int) -> Any:
    """``np.swapaxes``, recorded as ``transpose``."""
    return _rec(core.transpose(x.tensor, a, b)) if isinstance(x, RecordingArray) else np.swapaxes(x, a, b)


def moveaxis(x: Any, source: int, destination: int) -> Any:
    """``np.moveaxis`` of one axis, recorded as ``permute``."""
    if not isinstance(x, RecordingArray):
        return np.moveaxis(x, source, destination)
    order = [i for i in range(x.ndim) if i != source % x.ndim]
    order.insert(destination % x.ndim, source % x.ndim)
    return transpose(x, order)


def expand_dims(x: Any, axis: Any) -> Any:
    """``np.expand_dims``, recorded as ``unsqueeze``."""
    if not isinstance(x, RecordingArray):
        return np.expand_dims(x, axis)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = x.ndim + len(axes)
    out = x.tensor
    for a in sorted(a % ndim for a in axes):
        out = core.unsqueeze(out, a)
    return _rec(out)


def squeeze(x: Any, axis: Any = None) -> Any:
    """``np.squeeze``, recorded."""
    if not isinstance(x, RecordingArray):
        return np.squeeze(x, axis)
    shape = tuple(n for i, n in enumerate(x.shape)
                  if not (n == 1 and (axis is None or i in _axes(axis, x.ndim))))
    return x.reshape(shape)


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


def broadcast_to(x: Any, shape: Any) -> Any:
    """``np.broadcast_to``, recorded."""
    return _rec(core.broadcast_to(x.tensor, tuple(shape))) if isinstance(x, RecordingArray) \
        else np.broadcast_to(x, shape)


def reshape(x: Any, shape: Any) -> Any:
    """``np.reshape``, recorded."""
    return x.reshape(shape) if isinstance(x, RecordingArray) else np.reshape(x, shape)


def flip(x: Any, axis: Any = None) -> Any:
    """``np.flip``, recorded."""
    if not isinstance(x, RecordingArray):
        return np.flip(x, axis)
    return _rec(core.flip(x.tensor, tuple(range(x.ndim)) if axis is None else _axes(axis, x.ndim)))


def tril(x: Any, k: int = 0) -> Any:
    """``np.tril``, recorded."""
    return _rec(core.tril(x.tensor, k)) if isinstance(x, RecordingArray) else np.tril(x, k)


def triu(x: Any, k: int = 0) -> Any:
    """``np.triu``, recorded."""
    return _rec(core.triu(x.tensor, k)) if isinstance(x, RecordingArray) else np.triu(x, k)


def cumsum(x: Any, axis: int) -> Any:
    """``np.cumsum`` along one axis, recorded."""
    return _rec(core.cumsum(x.tensor, axis)) if isinstance(x, RecordingArray) else np.cumsum(x, axis)


def concatenate(arrays: Any, axis: int = 0) -> Any:
    """``np.concatenate``, recorded as ``cat``."""
    arrays = list(arrays)
    if not _any_recording(*arrays):
        return np.concatenate(arrays, axis)
    return _rec(core.cat([_t(a) if isinstance(a, RecordingArray) else leaf(np.asarray(a)) for a in arrays],
                         axis))


def stack(arrays: Any, axis: int = 0) -> Any:
    """``np.stack``, recorded."""
    arrays = list(arrays)
    if not _any_recording(*arrays):
        return np.stack(arrays, axis)
    return _rec(core.stack([_t(a) if isinstance(a, RecordingArray) else leaf(np.asarray(a)) for a in arrays],
                           axis))


def split(x: Any, indices: Any, axis: int = 0) -> Any:
    """``np.split`` at indices, recorded as slices."""
    if not isinstance(x, RecordingArray):
        return np.split(x, indices, axis)
    bounds = [0, *indices, x.shape[axis]]
    lead = (slice(None),) * (axis % x.ndim)
    return [x[(*lead, slice(a, b))] for a, b in zip(bounds[:-1], bounds[1:])]


def take(x: Any, index: int, axis: int) -> Any:
    """``np.take`` of one index along ``axis``, recorded as indexing."""
    if not isinstance(x, RecordingArray):
        return np.take(x, index, axis)
    return x[(slice(None),) * (axis % x.ndim) + (index,)]


def zeros(shape: Any, dtype: Any = float) -> RecordingArray:
    """A constant array of zeros that records what is written into it (``out[key] = grad``)."""
    return RecordingArray(leaf(np.zeros(shape, dtype)))


empty = zeros  # written before read in every rule; zeros keep a stray read harmless


def ones(shape: Any, dtype: Any = float) -> RecordingArray:
    """A constant array of ones."""
    return RecordingArray(leaf(np.ones(shape, dtype)))


def zeros_like(x: Any, dtype: Any = None) -> Any:
    """Constant zeros shaped as ``x``."""
    return zeros(x.shape, dtype or x.dtype) if isinstance(x, RecordingArray) else np.zeros_like(x, dtype)


empty_like = zeros_like


def ones_like(x: Any, dtype: Any = None) -> Any:
    """Constant ones shaped as ``x``."""
    return ones(x.shape, dtype or x.dtype) if isinstance(x, RecordingArray) else np.ones_like(x, dtype)


def full_like(x: Any, value: Any, dtype: Any = None) -> Any:
    """A constant array shaped as ``x``."""
    if not isinstance(x, RecordingArray):
        return np.full_like(x, value, dtype)
    return RecordingArray(leaf(np.full(x.shape, value, dtype or x.dtype)))


def asarray(x: Any, dtype: Any = None) -> Any:
    """``np.asarray``: a recording array stays one (cast if ``dtype`` says so)."""
    if isinstance(x, RecordingArray):
        return x if dtype is None else x.astype(dtype)
    return np.asarray(x, dtype)


def ascontiguousarray(x: Any, dtype: Any = None) -> Any:
    """``np.ascontiguousarray``: memory layout means nothing to a recording array."""
    return asarray(x, dtype)


class _Outer:
    """``np.multiply.outer``, recorded."""

    @staticmethod
    def outer(x: Any, y: Any) -> Any:
        if not _any_recording(x, y):
            return np.multiply.outer(x, y)
        x = x if isinstance(x, RecordingArray) else RecordingArray(leaf(np.asarray(x, y.dtype)))
        return x.reshape(x.shape + (1,) * np.ndim(_value(y))) * y


multiply = _Outer()


# ---- further names for the rules of unary.py, activations.py, binary.py, copies.py

import math  # noqa: E402  (here, not at the top: the sections of this file are edited in parallel)


def isfinite(x: Any) -> Any:
    """``np.isfinite`` of the values (a mask, a constant of the derivative)."""
    return np.isfinite(_value(x))


def sigmoid(x: Any) -> Any:
    """The logistic sigmoid, recorded as ``sigmoid`` (whose backward stays finite at +-1000)."""
    if isinstance(x, RecordingArray):
        return _rec(call("sigmoid", x.tensor))
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(-np.asarray(x)))).astype(np.result_type(x, np.float32), copy=False)


class _Erf(core.Function):
    """The error function as a custom function: its backward ``2 / sqrt(pi) * exp(-x * x)`` records."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return leaf(_erf_values(x._data))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (core.exp(-(x * x)) * _TWO_OVER_SQRT_PI)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_ERF = np.frompyfunc(math.erf, 1, 1)


def _erf_values(x: np.ndarray) -> np.ndarray:
    return np.asarray(_ERF(x), dtype=x.dtype)


def erf(x: Any) -> Any:
    """The error function elementwise (NumPy has none), recorded on a recording array."""
    if isinstance(x, RecordingArray):
        return _rec(_Erf.apply(x.tensor))
    return _erf_values(np.asarray(x))



# ---- further names for the rules of reductions.py, shape.py, linalg.py, indexing.py


def isnan(x: Any) -> Any:
    """``np.isnan`` of the values (a mask: a constant of the derivative)."""
    return np.isnan(_value(x))


def cumprod(x: Any, axis: int) -> Any:
    """``np.cumprod`` along one axis, recorded."""
    return _rec(core.cumprod(x.tensor, axis)) if isinstance(x, RecordingArray) else np.cumprod(x, axis)


# ---- further names for the rules of kittygrad-nn and the example plugins


def amax(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """``np.amax``, recorded as ``amax`` on a recording array."""
    if not isinstance(x, RecordingArray):
        return np.amax(x, axis=axis, keepdims=keepdims)
    return _rec(core.amax(x.tensor, () if axis is None else _dims(axis, x.ndim), keepdims))


max = amax


def logaddexp(x: Any, y: Any) -> Any:
    """``np.logaddexp``, recorded as ``max(x, y) + log1p(exp(-|x - y|))`` (stable, as NumPy's)."""
    if not _any_recording(x, y):
        return np.logaddexp(x, y)
    return maximum(x, y) + log1p(exp(-abs(x - y)))


def __getattr__(name: str) -> Any:
    # NumPy's other names (dtypes, errstate, isnan, all, argsort, result_type, ...): they read values;
    # a recording array handed to one of them raises (``RecordingArray.__array__``).
    return getattr(np, name)


def unwrap(value: Any) -> Tensor:
    """A value of this namespace as a tensor (arrays and numbers as constants)."""
    if isinstance(value, RecordingArray):
        return value.tensor
    if isinstance(value, Tensor):
        return value
    return leaf(np.asarray(value))


def wrap(tensor: Tensor) -> RecordingArray:
    """A tensor as a recording array."""
    return RecordingArray(tensor)
