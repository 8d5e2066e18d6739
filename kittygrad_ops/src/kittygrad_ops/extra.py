"""More ops: tan, sinh, cosh, asin, acos, atan, log2, log10, exp2, rsqrt, square, cumsum, cumprod,
flip, tril, triu, masked_fill, index_select, gather and elu.

Index and mask arguments are not tensor inputs (no gradient flows to them): NumPy arrays, lists or
integer-valued (boolean-valued for masks) kittygrad tensors. cumprod's backward divides by the input,
so it is exact only where the input has no zeros. index_select and gather accumulate the gradients of
repeated indices.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

import kittygrad_core as kitty
from kittygrad_core import Conformance, Op, Tensor

from ._dims import masked, normalize_dim

_LN2, _LN10 = math.log(2.0), math.log(10.0)


# ---------------------------------------------------------------- elementwise


class Tan(Op):
    """tan(input) -> Tensor

    Returns the tangent of ``input`` elementwise."""

    name = "tan"
    inplace = ("tan_",)
    saves_output = True
    conformance = Conformance(torch="torch.tan", domain=(-1.4, 1.4))

    def forward(self, xp, input):
        self.out = out = xp.tan(input)
        return out

    def backward(self, xp, grad):
        with xp.errstate(over="ignore"):
            return grad * (1 + self.out * self.out)


class Sinh(Op):
    """sinh(input) -> Tensor

    Returns the hyperbolic sine of ``input`` elementwise."""

    name = "sinh"
    inplace = ("sinh_",)
    saves = (0,)
    conformance = Conformance(torch="torch.sinh")

    def forward(self, xp, input):
        self.input = input
        with xp.errstate(over="ignore"):
            return xp.sinh(input)

    def backward(self, xp, grad):
        with xp.errstate(over="ignore", invalid="ignore"):
            return grad * xp.cosh(self.input)


class Cosh(Op):
    """cosh(input) -> Tensor

    Returns the hyperbolic cosine of ``input`` elementwise."""

    name = "cosh"
    inplace = ("cosh_",)
    saves = (0,)
    conformance = Conformance(torch="torch.cosh")

    def forward(self, xp, input):
        self.input = input
        with xp.errstate(over="ignore"):
            return xp.cosh(input)

    def backward(self, xp, grad):
        with xp.errstate(over="ignore", invalid="ignore"):
            return grad * xp.sinh(self.input)


class Asin(Op):
    """asin(input) -> Tensor

    Returns the arcsine of ``input`` elementwise (alias ``arcsin``; nan outside [-1, 1])."""

    name = "asin"
    functions = methods = ("asin", "arcsin")
    inplace = ("asin_", "arcsin_")
    saves = (0,)
    conformance = Conformance(torch="torch.asin", domain="unit")

    def forward(self, xp, input):
        self.input = input
        with xp.errstate(invalid="ignore"):
            return xp.arcsin(input)

    def backward(self, xp, grad):
        with xp.errstate(divide="ignore", invalid="ignore"):
            return grad / xp.sqrt(1 - self.input * self.input)


class Acos(Op):
    """acos(input) -> Tensor

    Returns the arccosine of ``input`` elementwise (alias ``arccos``; nan outside [-1, 1])."""

    name = "acos"
    functions = methods = ("acos", "arccos")
    inplace = ("acos_", "arccos_")
    saves = (0,)
    conformance = Conformance(torch="torch.acos", domain="unit")

    def forward(self, xp, input):
        self.input = input
        with xp.errstate(invalid="ignore"):
            return xp.arccos(input)

    def backward(self, xp, grad):
        with xp.errstate(divide="ignore", invalid="ignore"):
            return -grad / xp.sqrt(1 - self.input * self.input)


class Atan(Op):
    """atan(input) -> Tensor

    Returns the arctangent of ``input`` elementwise (alias ``arctan``)."""

    name = "atan"
    functions = methods = ("atan", "arctan")
    inplace = ("atan_", "arctan_")
    saves = (0,)
    conformance = Conformance(torch="torch.atan")

    def forward(self, xp, input):
        self.input = input
        return xp.arctan(input)

    def backward(self, xp, grad):
        with xp.errstate(over="ignore"):
            return grad / (1 + self.input * self.input)


class Log2(Op):
    """log2(input) -> Tensor

    Returns the base-2 logarithm of ``input`` elementwise (-inf at 0, nan below)."""

    name = "log2"
    inplace = ("log2_",)
    saves = (0,)
    conformance = Conformance(torch="torch.log2", domain="positive")

    def forward(self, xp, input):
        self.input = input
        with xp.errstate(divide="ignore", invalid="ignore"):
            return xp.log2(input)

    def backward(self, xp, grad):
        with xp.errstate(divide="ignore", invalid="ignore"):
            return grad / (self.input * _LN2)


class Log10(Op):
    """log10(input) -> Tensor

    Returns the base-10 logarithm of ``input`` elementwise (-inf at 0, nan below)."""

    name = "log10"
    inplace = ("log10_",)
    saves = (0,)
    conformance = Conformance(torch="torch.log10", domain="positive")

    def forward(self, xp, input):
        self.input = input
        with xp.errstate(divide="ignore", invalid="ignore"):
            return xp.log10(input)

    def backward(self, xp, grad):
        with xp.errstate(divide="ignore", invalid="ignore"):
            return grad / (self.input * _LN10)


class Exp2(Op):
    """exp2(input) -> Tensor

    Returns ``2 ** input`` elementwise."""

    name = "exp2"
    inplace = ("exp2_",)
    saves_output = True
    conformance = Conformance(torch="torch.exp2")

    def forward(self, xp, input):
        with xp.errstate(over="ignore"):
            self.out = out = xp.exp2(input)
        return out

    def backward(self, xp, grad):
        return grad * self.out * _LN2


class Rsqrt(Op):
    """rsqrt(input) -> Tensor

    Returns ``1 / sqrt(input)`` elementwise (inf at 0, nan below)."""

    name = "rsqrt"
    inplace = ("rsqrt_",)
    saves_output = True
    conformance = Conformance(torch="torch.rsqrt", domain="positive")

    def forward(self, xp, input):
        with xp.errstate(divide="ignore", invalid="ignore"):
            self.out = out = 1 / xp.sqrt(input)
        return out.astype(input.dtype, copy=False)

    def backward(self, xp, grad):
        with xp.errstate(over="ignore", invalid="ignore"):
            return -0.5 * grad * self.out * self.out * self.out


class Square(Op):
    """square(input) -> Tensor

    Returns ``input * input`` elementwise."""

    name = "square"
    inplace = ("square_",)
    saves = (0,)
    conformance = Conformance(torch="torch.square")

    def forward(self, xp, input):
        self.input = input
        return input * input

    def backward(self, xp, grad):
        return 2 * grad * self.input


class Elu(Op):
    """elu(input, alpha=1.0) -> Tensor

    Returns ``input`` where it is positive and ``alpha * (exp(input) - 1)`` elsewhere; the gradient
    at 0 is ``alpha``, as in torch."""

    name = "elu"
    methods = ()
    saves = (0,)
    conformance = Conformance(torch="nn.functional.elu", kinks=(0.0,), options={"alpha": [1.0, 0.5, 2.0]})

    def forward(self, xp, input, alpha=1.0):
        if not isinstance(alpha, numbers.Real):
            raise TypeError(f"elu(): alpha must be a number, not {type(alpha).__name__}.")
        self.input, self.alpha = input, float(alpha)
        with xp.errstate(over="ignore", invalid="ignore"):
            out = xp.where(input > 0, input, self.alpha * xp.expm1(input))
        return out.astype(input.dtype, copy=False)

    def backward(self, xp, grad):
        x = self.input
        with xp.errstate(over="ignore", invalid="ignore"):
            return xp.where(x > 0, grad, grad * self.alpha * xp.exp(xp.minimum(x, 0))).astype(
                grad.dtype, copy=False)


# ---------------------------------------------------------------- conformance strategies
# hypothesis is imported lazily: kittygrad-ops does not depend on it.

def _rarely(draw):
    """True in about one draw in ten (hypothesis favours the ends of a range, so not 0 of 0..9)."""
    from hypothesis import strategies as st
    return draw(st.integers(1, 10)) == 5


def _shape(min_dims, max_dims=3):
    def draw_shapes(draw):
        from hypothesis import strategies as st
        shape = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(min_dims, max_dims)))]
        if shape and _rarely(draw):  # now and then an empty tensor
            shape[draw(st.integers(0, len(shape) - 1))] = 0
        return [tuple(shape)]
    return draw_shapes


def _flip_dims(draw, shapes):
    from hypothesis import strategies as st
    size = max(len(shapes[0]), 1)
    axes = draw(st.lists(st.integers(0, size - 1), max_size=size, unique=True))
    return tuple(a - size if draw(st.booleans()) else a for a in axes)


def _mask(draw, shapes):
    """A boolean mask broadcastable to the input: a trailing part of its shape, some dims set to 1."""
    from hypothesis import strategies as st
    shape = shapes[0][len(shapes[0]) - draw(st.integers(0, len(shapes[0]))):]
    shape = tuple(1 if draw(st.booleans()) else n for n in shape)
    return np.array(draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape))),
                    dtype=bool).reshape(shape)


def _select_args(draw, shapes):
    """``(dim, index)`` for index_select: a 1-D index of valid positions along ``dim``."""
    from hypothesis import strategies as st
    shape = shapes[0]
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    values = draw(st.lists(st.integers(0, n - 1), min_size=0 if _rarely(draw) else 1, max_size=5)) if n else []
    return dim, np.array(values, dtype=np.int64)


def _gather_args(draw, shapes):
    """``(dim, index)`` for gather: an index of the input's rank, no larger apart from ``dim``."""
    from hypothesis import strategies as st
    shape = shapes[0]
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    sizes = [(draw(st.integers(1, 4)) if n else 0) if d == dim % len(shape) else draw(st.integers(min(s, 1), s))
             for d, s in enumerate(shape)]
    if sizes and _rarely(draw):  # now and then an empty index
        sizes[draw(st.integers(0, len(sizes) - 1))] = 0
    sizes = tuple(sizes)
    count = math.prod(sizes)
    values = draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=count, max_size=count))
    return dim, np.array(values, dtype=np.int64).reshape(sizes)


# ---------------------------------------------------------------- scans, flips, triangles


def _scan(xp, scan, x, axis):
    """``scan`` (cumsum, cumprod) of ``x`` along ``axis``; a 0-d ``x`` is its own scan."""
    return scan(x.reshape(x.shape or (1,)), axis=axis).reshape(x.shape)


def _reverse_cumsum(xp, x, axis):
    if x.ndim == 0:
        return x.copy()
    return xp.flip(xp.cumsum(xp.flip(x, axis), axis=axis), axis)


class Cumsum(Op):
    """cumsum(input, dim) -> Tensor

    Returns the cumulative sums of ``input`` along ``dim``."""

    name = "cumsum"
    n_inputs = 1
    conformance = Conformance(torch="torch.cumsum", shapes="same", inputs=1, options={"dim": "dim"})

    def forward(self, xp, input, dim):
        self.axis = normalize_dim("cumsum", dim, input.ndim)
        return _scan(xp, xp.cumsum, input, self.axis)

    def backward(self, xp, grad):
        return _reverse_cumsum(xp, grad, self.axis)


class Cumprod(Op):
    """cumprod(input, dim) -> Tensor

    Returns the cumulative products of ``input`` along ``dim``. The gradient is exact with zeros in
    ``input`` too: it divides by ``input`` when there are none, and otherwise runs a reverse scan."""

    name = "cumprod"
    n_inputs = 1
    saves, saves_output = (0,), True
    conformance = Conformance(torch="torch.cumprod", domain=(0.5, 2.0), shapes="same", inputs=1,
                              options={"dim": "dim"})

    def forward(self, xp, input, dim):
        self.axis = normalize_dim("cumprod", dim, input.ndim)
        self.input = input
        self.out = out = _scan(xp, xp.cumprod, input, self.axis)
        return out

    def backward(self, xp, grad):
        x = self.input
        if x.ndim == 0 or xp.all(x != 0):
            return _reverse_cumsum(xp, grad * self.out, self.axis) / x
        # d out_j / d x_i = (product of x before i) * (product of x from i+1 to j), for j >= i:
        # grad_i = before_i * s_i with s_i = g_i + x_{i+1} * s_{i+1}, scanned from the end.
        g, x = xp.moveaxis(grad, self.axis, 0), xp.moveaxis(x, self.axis, 0)
        before = xp.concatenate([xp.ones_like(x[:1]), xp.cumprod(x[:-1], axis=0)])
        s = xp.empty_like(g)
        s[-1] = g[-1]
        for i in range(len(g) - 2, -1, -1):  # one step per position along dim, vectorised across others
            s[i] = g[i] + x[i + 1] * s[i + 1]
        return xp.moveaxis(before * s, 0, self.axis)


class Flip(Op):
    """flip(input, dims) -> Tensor

    Returns a copy of ``input`` with the order of elements reversed along each dim of ``dims``."""

    name = "flip"
    n_inputs = 1
    conformance = Conformance(torch="torch.flip", shapes="same", inputs=1, options={"dims": _flip_dims})

    def forward(self, xp, input, dims):
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        axes = tuple(normalize_dim("flip", d, input.ndim) for d in dims)
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"flip(): dims {dims} has a dim appearing multiple times")
        self.axes = axes if input.ndim else ()
        return xp.flip(input, self.axes).copy()

    def backward(self, xp, grad):
        return xp.flip(grad, self.axes).copy()


def _triangle_conformance(name):
    return Conformance(torch=f"torch.{name}", shapes=_shape(2, 4), inputs=1,
                       options={"diagonal": [0, 1, -1, 2, -3]})


def _matrices(op, input):
    if input.ndim < 2:
        raise RuntimeError(f"{op}(): input tensor must have at least 2 dimensions, got {input.ndim}")


class Tril(Op):
    """tril(input, diagonal=0) -> Tensor

    Returns the lower triangle of the matrices of ``input`` (its last two dims): the elements on and
    below the ``diagonal``-th diagonal, the others zero."""

    name = "tril"
    conformance = _triangle_conformance("tril")

    def forward(self, xp, input, diagonal=0):
        _matrices("tril", input)
        self.diagonal = diagonal
        return xp.tril(input, diagonal)

    def backward(self, xp, grad):
        return xp.tril(grad, self.diagonal)


class Triu(Op):
    """triu(input, diagonal=0) -> Tensor

    Returns the upper triangle of the matrices of ``input`` (its last two dims): the elements on and
    above the ``diagonal``-th diagonal, the others zero."""

    name = "triu"
    conformance = _triangle_conformance("triu")

    def forward(self, xp, input, diagonal=0):
        _matrices("triu", input)
        self.diagonal = diagonal
        return xp.triu(input, diagonal)

    def backward(self, xp, grad):
        return xp.triu(grad, self.diagonal)


# ---------------------------------------------------------------- masks and indices


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

    name = "masked_fill"
    n_inputs = 1
    inplace = ("masked_fill_",)
    conformance = Conformance(torch="torch.masked_fill", shapes=_shape(0), inputs=1,
                              options={"mask": _mask, "value": [0.0, -1.5, 2]})

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

    name = "index_select"
    n_inputs = 1
    conformance = Conformance(torch=lambda torch, x, args: torch.index_select(x, *args),
                              shapes=_shape(1), inputs=1, options={"args": _select_args},
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
        out = xp.zeros(shape, dtype=grad.dtype)
        xp.add.at(xp.moveaxis(out, self.axis, 0), self.index,
                  xp.moveaxis(grad.reshape(grad.shape or (1,)), self.axis, 0))
        return out.reshape(self.shape)


class Gather(Op):
    """gather(input, dim, index) -> Tensor

    Returns ``out[i][j][k] = input[index[i][j][k]][j][k]`` (for ``dim=0``; likewise for other dims):
    ``index`` (an integer array, list or tensor of the input's rank) picks along ``dim``; gradients of
    repeated positions add up."""

    name = "gather"
    n_inputs = 1
    conformance = Conformance(torch=lambda torch, x, args: torch.gather(x, *args),
                              shapes=_shape(1), inputs=1, options={"args": _gather_args},
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
        out = xp.zeros(self.shape or (1,), dtype=grad.dtype)
        xp.add.at(out, self.key, grad.reshape(self.index_shape))  # repeated positions add up
        return out.reshape(self.shape)


OPS = (Tan, Sinh, Cosh, Asin, Acos, Atan, Log2, Log10, Exp2, Rsqrt, Square, Elu, Cumsum, Cumprod,
       Flip, Tril, Triu, MaskedFill, IndexSelect, Gather)
