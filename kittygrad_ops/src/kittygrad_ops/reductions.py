"""Reductions over dims: sum, mean, var, std, prod, amax/amin, max/min, logsumexp, norm, argmax/argmin;
and the scans cumsum and cumprod."""
from __future__ import annotations

import math
import numbers
from collections import namedtuple

import numpy as np

import kittygrad_core
from kittygrad_core import Composite, Conformance, Op, Tensor
from kittygrad_core.extend import (
    apply,  # to call the internal ops, which have no binding
)

from ._dims import _numpy_int, expand_reduced, normalize_dim, reduction_axes, sgn
from ._strategies import dim_or_none, norm_dims

_DIM_OPTIONS = {"dim": "dims", "keepdim": "bool"}


class Sum(Op):
    """sum(input, dim=None, keepdim=False) -> Tensor

    Returns the sum of ``input`` over the dims ``dim`` (all of them by default)."""

    __slots__ = ("shape", "axes", "keepdim")

    name = "sum"
    differentiable_backward = True
    conformance = Conformance(torch="torch.sum", shapes="same", options=_DIM_OPTIONS)

    def forward(self, xp, input, dim=None, keepdim=False):
        self.axes = reduction_axes("sum", dim, input.ndim, empty_is_all=False)
        self.shape, self.keepdim = input.shape, keepdim
        return input.sum(axis=self.axes, keepdims=keepdim)

    def backward(self, xp, grad):
        return expand_reduced(xp, grad, self.shape, self.axes, self.keepdim)


class Mean(Op):
    """mean(input, dim=None, keepdim=False) -> Tensor

    Returns the mean of ``input`` over the dims ``dim`` (all of them by default)."""

    __slots__ = ("shape", "axes", "keepdim", "count")

    name = "mean"
    differentiable_backward = True
    conformance = Conformance(torch="torch.mean", shapes="same", options=_DIM_OPTIONS)

    def forward(self, xp, input, dim=None, keepdim=False):
        self.axes = reduction_axes("mean", dim, input.ndim, empty_is_all=False)
        self.shape, self.keepdim = input.shape, keepdim
        self.count = math.prod(input.shape[a] for a in self.axes)
        return input.mean(axis=self.axes, keepdims=keepdim)

    def backward(self, xp, grad):
        if xp is not np:  # torch's order: over an empty input, d/dgrad is then 0, not 0 / 0
            return expand_reduced(xp, grad, self.shape, self.axes, self.keepdim) / self.count
        return expand_reduced(xp, grad / self.count, self.shape, self.axes, self.keepdim)


def _centered(op, input, dim, correction):
    """The deviations from the mean over ``dim`` and the divisor ``N - correction``."""
    axes = reduction_axes(op, dim, input.ndim, empty_is_all=False)
    if correction is None:  # torch's default
        correction = 1
    elif correction.__class__ is not int:
        if isinstance(correction, (Tensor, np.generic)) and correction.ndim == 0:
            correction = correction.item()  # torch reads a 0-d tensor as its number
        elif not isinstance(correction, numbers.Real):
            raise TypeError(f"{op}(): correction must be a number, not {type(correction).__name__}.")
    deviations = input - input.mean(axis=axes, keepdims=True)
    count = math.prod(input.shape[a] for a in axes)
    return axes, deviations, count - correction  # forward clamps it at 0, torch's backward does not


def _mean_square(xp, deviations, axes, keepdim, divisor):
    """``sum(deviations ** 2) / divisor`` as ``(scale, ratio)`` with the result ``scale ** 2 * ratio``.

    Scaling by the largest ``|deviation|`` keeps the squares from overflowing where the spread itself
    does not (the std of ``[-1e30, 0, 1]`` in float32 is 5.8e29, not inf)."""
    scale = xp.abs(deviations).max(axis=axes, keepdims=True, initial=0.0)
    scale = xp.where(scale == 0, 1, scale).astype(deviations.dtype, copy=False)
    with xp.errstate(divide="ignore", invalid="ignore"):
        ratio = ((deviations / scale) ** 2).sum(axis=axes, keepdims=True) / divisor
        if any(deviations.shape[a] == 0 for a in axes):  # no element: torch's nan, whatever the divisor
            ratio = ratio * float("nan")
    if not keepdim:
        scale, ratio = xp.squeeze(scale, axis=axes), xp.squeeze(ratio, axis=axes)
    return scale, ratio.astype(deviations.dtype, copy=False)


class Var(Op):
    """var(input, dim=None, *, correction=1, keepdim=False) -> Tensor

    Returns the variance of ``input`` over ``dim``, dividing by ``N - correction`` (Bessel's
    correction by default)."""

    __slots__ = ("input", "axes", "deviations", "divisor", "shape", "keepdim", "whole")

    name = "var"
    differentiable_backward = True
    conformance = Conformance(torch="torch.var", shapes="same", empty=False,
                              options={"dim": "dims", "correction": [0, 1], "keepdim": "bool"})

    def forward(self, xp, input, dim=None, *, correction=1, keepdim=False):
        self.axes, self.deviations, self.divisor = _centered("var", input, dim, correction)
        self.input, self.whole = input, dim is None or input.ndim == 0
        self.shape, self.keepdim = input.shape, keepdim
        divisor = self.divisor if self.divisor > 0 else 0  # a nan divisor clamps to 0 too, as torch's
        scale, ratio = _mean_square(xp, self.deviations, self.axes, keepdim, divisor)
        with xp.errstate(over="ignore", invalid="ignore"):
            return scale * (scale * ratio)  # inf only where the variance itself overflows, as torch

    def backward(self, xp, grad):
        grad = expand_reduced(xp, grad, self.shape, self.axes, self.keepdim)
        if self.divisor <= 0 and self.whole:
            return grad * _no_dof(self.input)
        return grad * _deviations(xp, self) * (2.0 / self.divisor if self.divisor else float("inf"))


def _no_dof(x):
    """torch's ``var`` gradient factor over the whole input with no degree of freedom left: 2 / dof is
    infinite, nan where ``x`` equals its mean (inf * 0) and inf elsewhere, whatever the deviation's sign
    (also at a nan); a constant of ``x``."""
    with np.errstate(invalid="ignore"):  # the mean of inf and -inf
        return np.where(x == x.mean(), np.nan, np.inf).astype(x.dtype)


class Std(Op):
    """std(input, dim=None, *, correction=1, keepdim=False) -> Tensor

    Returns the standard deviation of ``input`` over ``dim``, dividing by ``N - correction``."""

    __slots__ = ("input", "axes", "deviations", "divisor", "shape", "keepdim", "out", "whole")

    name = "std"
    differentiable_backward = True
    conformance = Conformance(torch="torch.std", shapes="same", empty=False,
                              options={"dim": "dims", "correction": [0, 1], "keepdim": "bool"})

    def forward(self, xp, input, dim=None, *, correction=1, keepdim=False):
        self.axes, self.deviations, self.divisor = _centered("std", input, dim, correction)
        self.input, self.whole = input, dim is None or input.ndim == 0
        self.shape, self.keepdim = input.shape, keepdim
        divisor = self.divisor if self.divisor > 0 else 0  # a nan divisor clamps to 0 too, as torch's
        scale, ratio = _mean_square(xp, self.deviations, self.axes, keepdim, divisor)
        with xp.errstate(invalid="ignore"):
            self.out = scale * xp.sqrt(ratio)
        return self.out

    def backward(self, xp, grad):
        if self.divisor <= 0 and self.whole:  # torch: var's gradient of grad / (2 * std), std inf or nan: nan
            with xp.errstate(invalid="ignore"):
                scale = grad / (2 * self.out)
            return expand_reduced(xp, scale, self.shape, self.axes, self.keepdim) * _no_dof(self.input)
        with xp.errstate(divide="ignore", invalid="ignore"):
            scale = grad / self.out / self.divisor  # one product could overflow where the quotients do not
        # torch: no gradient where the standard deviation is exactly 0 (all deviations are 0 there)
        scale = xp.where(self.out == 0, 0, scale).astype(grad.dtype, copy=False)
        return expand_reduced(xp, scale, self.shape, self.axes, self.keepdim) * _deviations(xp, self)


def _deviations(xp, record):
    """The saved deviations; recomputed from the input when recording, so that they depend on it."""
    if xp is np:
        return record.deviations
    return record.input - record.input.mean(axis=record.axes, keepdims=True)


# ---------------------------------------------------------------- helpers of the ops below


def _call(name, *inputs, **options):
    """Calls the registered op ``name`` (also those bound to no function, such as ``max_values``)."""
    return apply(kittygrad_core.registry[name], inputs, (), options)


def _one_dim(op, dim, ndim):
    """The axes of a reduction over one int ``dim`` (``()`` for a 0-d tensor), as torch's ``prod``/``max``."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        dim = _numpy_int(op, dim, "dim must be an int")
    return reduction_axes(op, dim, ndim)


def _nonempty(op, shape, axes, full, error=RuntimeError):
    """torch's errors for reductions without identity (max, argmax, ...) over zero-size dims."""
    if full and math.prod(shape) == 0:
        raise error(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                    f"reduction dim with the 'dim' argument (input shape {shape}).")
    for a in axes:
        if shape[a] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {a} to have non-zero size "
                             f"(input shape {shape}).")


def _all_dims(x, dim):
    """torch's ``logsumexp`` takes no ``None``: the reference reduces every dim explicitly."""
    return dim if dim not in (None, ()) else (tuple(range(x.ndim)) or 0)


# ---------------------------------------------------------------- prod


class Prod(Op):
    """prod(input, dim=None, keepdim=False) -> Tensor

    Returns the product of the elements of ``input`` (over the single dim ``dim`` if given)."""

    __slots__ = ("input", "axes", "keepdim", "out", "whole")

    name = "prod"
    differentiable_backward = True
    conformance = Conformance(
        torch=lambda torch, x, dim=None, keepdim=False: (
            torch.prod(x).reshape((1,) * x.ndim if keepdim else ()) if dim is None
            else torch.prod(x, dim, keepdim)),
        shapes="same", options={"dim": dim_or_none, "keepdim": "bool"})

    def forward(self, xp, input, dim=None, keepdim=False):
        axes = reduction_axes("prod", None, input.ndim) if dim is None else _one_dim("prod", dim, input.ndim)
        self.input, self.axes, self.keepdim, self.whole = input, axes, keepdim, dim is None
        self.out = input.prod(axis=axes, keepdims=keepdim)
        return self.out

    def backward(self, xp, grad):
        x, axes, keepdim = self.input, self.axes, self.keepdim
        if x.ndim == 0:  # torch's rule: the product of one number passes the gradient on (also at nan, inf)
            return grad.reshape(())
        grad = expand_reduced(xp, grad, x.shape, axes, keepdim)
        if xp is not np:  # recording: torch's choice too (out / x without zeros; its second derivative
            # at nan and inf is nan), but with zeros the exclusive products even for two zeros or more
            if not (x == 0).any():
                with xp.errstate(divide="ignore", invalid="ignore"):
                    return grad * (expand_reduced(xp, self.out, x.shape, axes, keepdim) / x)
            return grad * _others_product(xp, x, axes)
        # torch's rule, which decides on the whole input (the same numbers at nan and inf too): no
        # zero, out / x; over all dims with two zeros or more, 0; else the product of the others
        # (exclusive products from both ends)
        zeros = int((x == 0).sum())
        if not zeros:
            with xp.errstate(divide="ignore", invalid="ignore"):
                return (grad * (expand_reduced(xp, self.out, x.shape, axes, keepdim) / x)).astype(x.dtype, copy=False)
        if zeros > 1 and self.whole:
            return xp.zeros_like(x)
        with xp.errstate(invalid="ignore", over="ignore"):
            return (grad * _others_product(xp, x, axes)).astype(x.dtype, copy=False)


def _others_product(xp, x, axes):
    """For each element of ``x``, the product of the others along ``axes``, recorded and exact with
    zeros: the product of those before it times the product of those after it (torch's way)."""
    kept = [a for a in range(x.ndim) if a not in axes]
    order = kept + list(axes)
    moved = xp.transpose(x, order)
    lead = moved.shape[:len(kept)]
    count = math.prod(x.shape[a] for a in axes)
    if count == 0:  # nothing reduced: no element to differentiate
        return xp.zeros_like(x)
    flat = moved.reshape(lead + (count,))
    ones = xp.ones(lead + (1,), x.dtype)
    before = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1), -1), axis=-1), -1)
    return xp.transpose((before * after).reshape(moved.shape), np.argsort(order))


# ---------------------------------------------------------------- amax, amin, max, min


class Amax(Op):
    """amax(input, dim=(), keepdim=False) -> Tensor

    Returns the maximum of ``input`` over ``dim`` (all dims by default); tied maxima share the gradient
    evenly, and a slice whose maximum is nan gets a nan gradient throughout, as in torch."""

    __slots__ = ("input", "axes", "keepdim", "out")

    name = public = "amax"
    largest = True
    differentiable_backward = True
    conformance = Conformance(
        torch=lambda torch, x, dim=(), keepdim=False: torch.amax(x, () if dim is None else dim, keepdim),
        shapes="same", empty=False, options=_DIM_OPTIONS)

    def forward(self, xp, input, dim=(), keepdim=False):
        axes = reduction_axes(self.public, dim, input.ndim)
        _nonempty(self.public, input.shape, axes, dim is None or (isinstance(dim, tuple) and not dim))
        self.input, self.axes, self.keepdim = input, axes, keepdim
        self.out = input.max(axis=axes, keepdims=keepdim) if self.largest else \
            input.min(axis=axes, keepdims=keepdim)
        return self.out

    def backward(self, xp, grad):
        x, axes, keepdim = self.input, self.axes, self.keepdim
        # torch's scale_grad_by_count: no element equals a nan maximum, so its slice divides by a
        # count of 0 and the gradient there is nan everywhere
        mask = x == expand_reduced(xp, self.out, x.shape, axes, keepdim)
        count = mask.sum(axis=axes, keepdims=True).astype(x.dtype)
        if xp is not np:  # a constant; nan for 0 (the same result) keeps the second backward silent
            count = np.where(count == 0, count.dtype.type(np.nan), count)
        with xp.errstate(divide="ignore", invalid="ignore"):
            return expand_reduced(xp, grad, x.shape, axes, keepdim) / count * mask


class Amin(Amax):
    """amin(input, dim=(), keepdim=False) -> Tensor

    Returns the minimum of ``input`` over ``dim`` (all dims by default); tied minima share the gradient
    evenly, and a slice whose minimum is nan gets a nan gradient throughout, as in torch."""

    __slots__ = ()

    name = public = "amin"
    largest = False
    conformance = Conformance(
        torch=lambda torch, x, dim=(), keepdim=False: torch.amin(x, () if dim is None else dim, keepdim),
        shapes="same", empty=False, options=_DIM_OPTIONS)


class MaxAll(Amax):
    """max_all(input) -> Tensor

    Internal op of ``max(input)``: the largest element; tied maxima share the gradient evenly, and at a
    nan maximum the nan elements share it, as in torch (where ``amax`` gives nan to all)."""

    __slots__ = ()

    name, public = "max_all", "max"
    functions = methods = ()
    n_inputs = 1
    conformance = Conformance(torch=lambda torch, x: torch.max(x), call=lambda kitty, x: _call("max_all", x),
                              shapes="same", empty=False)

    def backward(self, xp, grad):
        x = self.input
        # torch's evenly_distribute_backward; the result is one number, so one test picks the mask
        mask = xp.isnan(x) if xp.isnan(self.out) else x == self.out
        return xp.where(mask, grad / mask.sum().astype(x.dtype), 0).astype(x.dtype, copy=False)  # +0 elsewhere


class MinAll(MaxAll):
    """min_all(input) -> Tensor

    Internal op of ``min(input)``: the smallest element; tied minima share the gradient evenly, and at a
    nan minimum the nan elements share it, as in torch (where ``amin`` gives nan to all)."""

    __slots__ = ()

    name, public = "min_all", "min"
    largest = False
    conformance = Conformance(torch=lambda torch, x: torch.min(x), call=lambda kitty, x: _call("min_all", x),
                              shapes="same", empty=False)


class MaxValues(Op):
    """max_values(input, dim, keepdim=False) -> Tensor

    Internal op of ``max(input, dim)``: the maxima over ``dim``; the gradient goes to the first maximum
    only (the index ``max`` returns), as in torch."""

    __slots__ = ("shape", "axes", "keepdim", "index")

    name, public = "max_values", "max"
    differentiable_backward = True
    functions = methods = ()
    n_inputs = 1
    conformance = Conformance(
        torch=lambda torch, x, dim, keepdim=False: torch.max(x, dim, keepdim).values,
        call=lambda kitty, x, dim, keepdim=False: _call("max_values", x, dim=dim, keepdim=keepdim),
        shapes="same", empty=False, options={"dim": "dim", "keepdim": "bool"})

    def forward(self, xp, input, dim, keepdim=False):
        axes = _one_dim(self.public, dim, input.ndim)
        _nonempty(self.public, input.shape, axes, False)
        self.shape, self.axes, self.keepdim = input.shape, axes, keepdim
        if not axes:  # 0-d
            return input.copy()
        find = input.argmax if self.public == "max" else input.argmin
        self.index = find(axis=axes[0], keepdims=True)
        out = xp.take_along_axis(input, self.index, axis=axes[0])
        return out if keepdim else out.squeeze(axes[0])

    def backward(self, xp, grad):
        if not self.axes:
            return grad
        values = grad if self.keepdim else xp.expand_dims(grad, self.axes)
        if xp is not np:  # recording: a constant one-hot mask of the first extrema along the dim
            axis = self.axes[0]
            along = np.arange(self.shape[axis]).reshape((-1,) + (1,) * (len(self.shape) - axis - 1))
            return xp.where(along == self.index, xp.broadcast_to(values, self.shape), 0)
        out = xp.zeros(self.shape, grad.dtype)
        xp.put_along_axis(out, self.index, values, axis=self.axes[0])
        return out


class MinValues(MaxValues):
    """min_values(input, dim, keepdim=False) -> Tensor

    Internal op of ``min(input, dim)``: the minima over ``dim``; the gradient goes to the first minimum
    only (the index ``min`` returns), as in torch."""

    __slots__ = ()

    name, public = "min_values", "min"
    conformance = Conformance(
        torch=lambda torch, x, dim, keepdim=False: torch.min(x, dim, keepdim).values,
        call=lambda kitty, x, dim, keepdim=False: _call("min_values", x, dim=dim, keepdim=keepdim),
        shapes="same", empty=False, options={"dim": "dim", "keepdim": "bool"})


#: What ``max(input, dim)`` / ``min(input, dim)`` return, as torch's ``torch.return_types``.
max_result = namedtuple("max", ("values", "indices"), module="kittygrad.return_types")  # type: ignore[name-match]  # torch's name
min_result = namedtuple("min", ("values", "indices"), module="kittygrad.return_types")  # type: ignore[name-match]  # torch's name


def _extreme(op, input, dim, keepdim):
    if isinstance(dim, Tensor):  # max(input, other): the elementwise op, as torch
        if keepdim is not False:
            raise TypeError(f"{op}(input, other) takes no keepdim.")
        return getattr(kittygrad_core, "maximum" if op == "max" else "minimum")(input, dim)
    if dim is None:
        if keepdim is not False:
            raise TypeError(f"{op}(): keepdim needs a dim: {op}(input) or {op}(input, dim, keepdim=False).")
        _nonempty(op, getattr(input, "shape", ()), (), True)
        return _call(f"{op}_all", input)
    values = _call(f"{op}_values", input, dim=dim, keepdim=keepdim)
    indices = _call(f"arg{op}", input, dim=dim, keepdim=keepdim)
    return (max_result if op == "max" else min_result)(values, indices)


def _extreme_conformance(op):
    def reference(torch, x, dim=None, keepdim=False):
        return getattr(torch, op)(x) if dim is None else getattr(torch, op)(x, dim, keepdim)

    def call(kitty, x, dim=None, keepdim=False):
        return getattr(kitty, op)(x) if dim is None else getattr(kitty, op)(x, dim, keepdim)

    return Conformance(torch=reference, call=call, shapes="same", inputs=1, empty=False,
                       options={"dim": dim_or_none, "keepdim": "bool"})


class Max(Composite):
    """max(input, dim=None, keepdim=False)

    ``max(input)``: the largest element (tied maxima share the gradient evenly). ``max(input, dim)``: a
    named tuple ``(values, indices)`` over ``dim``, ``indices`` an int64 array of the first maxima, which
    alone receive the gradient. ``max(input, other)`` is ``maximum``."""

    name = "max"
    conformance = _extreme_conformance("max")

    @staticmethod
    def call(input, dim=None, keepdim=False):
        return _extreme("max", input, dim, keepdim)


class Min(Composite):
    """min(input, dim=None, keepdim=False)

    ``min(input)``: the smallest element (tied minima share the gradient evenly). ``min(input, dim)``: a
    named tuple ``(values, indices)`` over ``dim``, ``indices`` an int64 array of the first minima, which
    alone receive the gradient. ``min(input, other)`` is ``minimum``."""

    name = "min"
    conformance = _extreme_conformance("min")

    @staticmethod
    def call(input, dim=None, keepdim=False):
        return _extreme("min", input, dim, keepdim)


class Argmax(Op):
    """argmax(input, dim=None, keepdim=False) -> int64 array

    Returns the index of the maximum of ``input`` (flattened if ``dim`` is None); ties give the first."""

    __slots__ = ()

    name = "argmax"
    differentiable = False
    conformance = Conformance(torch="torch.argmax", shapes="same", empty=False,
                              options={"dim": dim_or_none, "keepdim": "bool"})

    def forward(self, xp, input, dim=None, keepdim=False):
        find = input.argmax if self.name == "argmax" else input.argmin
        if dim is None:
            _nonempty(self.name, input.shape, (), True, IndexError)
            index = xp.asarray(find(), dtype=xp.int64)
            return index.reshape((1,) * input.ndim) if keepdim else index
        axes = _one_dim(self.name, dim, input.ndim)
        _nonempty(self.name, input.shape, axes, False)
        if not axes:  # 0-d
            return xp.zeros((), xp.int64)
        return find(axis=axes[0], keepdims=keepdim).astype(xp.int64, copy=False)


class Argmin(Argmax):
    """argmin(input, dim=None, keepdim=False) -> int64 array

    Returns the index of the minimum of ``input`` (flattened if ``dim`` is None); ties give the first."""

    __slots__ = ()

    name = "argmin"
    conformance = Conformance(torch="torch.argmin", shapes="same", empty=False,
                              options={"dim": dim_or_none, "keepdim": "bool"})


# ---------------------------------------------------------------- logsumexp, norm


class Logsumexp(Op):
    """logsumexp(input, dim, keepdim=False) -> Tensor

    Returns ``log(sum(exp(input)))`` over ``dim``, computed stably (shifted by the maximum)."""

    __slots__ = ("input", "axes", "keepdim", "out")

    name = "logsumexp"
    differentiable_backward = True
    n_inputs = 1
    conformance = Conformance(
        torch=lambda torch, x, dim, keepdim=False: torch.logsumexp(x, _all_dims(x, dim), keepdim),
        shapes="same", options=_DIM_OPTIONS)

    def forward(self, xp, input, dim, keepdim=False):
        axes = reduction_axes("logsumexp", dim, input.ndim)
        self.input, self.axes, self.keepdim = input, axes, keepdim
        top = input.max(axis=axes, keepdims=True, initial=-xp.inf)
        top = xp.where(xp.isfinite(top), top, 0).astype(input.dtype)  # all -inf, +inf, empty: no shift
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = xp.log(xp.exp(input - top).sum(axis=axes, keepdims=True)) + top
        self.out = out = out if keepdim else out.reshape(
            tuple(n for i, n in enumerate(input.shape) if i not in axes))
        return out

    def backward(self, xp, grad):
        x, axes = self.input, self.axes
        out = self.out if self.keepdim else xp.expand_dims(self.out, axes)
        grad = grad if self.keepdim else expand_reduced(xp, grad, x.shape, axes, False)
        with xp.errstate(invalid="ignore", over="ignore"):
            return grad * xp.exp(x - out)


def _norm_order(p, dim):
    """torch.norm's ``p`` as a float: ``'fro'`` (or None) is the 2-norm over at most two dims."""
    if p is None or p == "fro":
        if dim is not None and not isinstance(dim, int) and len(dim) > 2:
            raise RuntimeError(f"norm(): p='fro' takes at most 2 dims, got dim={dim}.")
        return 2.0
    if isinstance(p, (str, bool)):
        raise RuntimeError(f"norm(): p={p!r} is not supported (expected 'fro' or a number; 'nuc' is not "
                           "implemented).")
    return float(p)


class Norm(Op):
    """norm(input, p='fro', dim=None, keepdim=False) -> Tensor

    Returns the vector ``p``-norm of ``input`` over ``dim`` (all elements by default): ``'fro'`` (or
    None) is the 2-norm over at most two dims; numbers include ``inf``, ``-inf``, ``0`` and fractions."""

    __slots__ = ("input", "p", "axes", "keepdim", "out")

    name = "norm"
    differentiable_backward = True
    conformance = Conformance(
        torch="torch.norm", shapes="same", domain="nonzero", kinks=(0.0,), empty=False,
        options={"p": ["fro", 2, 1, math.inf, -math.inf, 0, 0.5, 3], "dim": norm_dims, "keepdim": "bool"})

    def forward(self, xp, input, p="fro", dim=None, keepdim=False):
        axes, p = reduction_axes("norm", dim, input.ndim), _norm_order(p, dim)
        self.input, self.p, self.axes, self.keepdim = input, p, axes, keepdim
        # float16 accumulates in float32, as torch's does: |x| ** p overflows float16 long before the norm
        magnitude = xp.abs(input if input.dtype != xp.float16 else input.astype(xp.float32))
        reduce = dict(axis=axes, keepdims=keepdim)
        if (math.isinf(p) or p < 0) and any(input.shape[a] == 0 for a in axes):
            raise RuntimeError(f"norm(): cannot compute the {p} norm over a zero-size dim (input shape "
                               f"{input.shape}, dim={dim}): the operation has no identity.")
        if math.isinf(p):
            out = magnitude.max(**reduce) if p > 0 else magnitude.min(**reduce)
        elif p in (0, 1, 2):
            out = ((input != 0).sum(**reduce) if p == 0 else magnitude.sum(**reduce) if p == 1
                   else xp.sqrt((magnitude * magnitude).sum(**reduce)))
        else:
            with xp.errstate(divide="ignore"):
                out = (magnitude ** p).sum(**reduce) ** (1.0 / p)
        self.out = xp.asarray(out, dtype=input.dtype)
        return self.out

    def backward(self, xp, grad):  # torch's norm_backward, case by case
        x, p = self.input, self.p
        if p == 0:
            return None  # torch's gradient is undefined: the input's grad stays None
        grad = expand_reduced(xp, grad, x.shape, self.axes, self.keepdim)
        norm = expand_reduced(xp, self.out, x.shape, self.axes, self.keepdim)
        magnitude, sign = xp.abs(x), sgn(xp, x)  # torch's sgn: 0 at nan
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if p == 1:
                return sign * grad
            if math.isinf(p):
                mask = (magnitude == norm) | xp.isnan(magnitude)
                return sign * (grad / mask.sum(axis=self.axes, keepdims=True).astype(x.dtype)) * mask
            if p < 1:
                return sign * xp.where(x == 0, 0, magnitude ** (p - 1)) * grad * norm ** (1 - p)
            if p == 2:  # torch divides x, not grad: a zero norm's second derivative is then 0 / 0
                return grad * xp.where(norm == 0, 0, x / norm)
            scale = xp.where(norm == 0, 0, grad / norm ** (p - 1))
            return sign * magnitude ** (p - 1) * scale if p < 2 else x * magnitude ** (p - 2) * scale


# ---------------------------------------------------------------- scans


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

    __slots__ = ("axis",)

    name = "cumsum"
    differentiable_backward = True
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
    ``input`` too: it divides by ``input`` before a slice's first zero, and is 0 after it, as in torch."""

    __slots__ = ("axis", "input", "out")

    name = "cumprod"
    differentiable_backward = True
    n_inputs = 1
    conformance = Conformance(torch="torch.cumprod", domain=(0.5, 2.0), shapes="same", inputs=1,
                              options={"dim": "dim"})

    def forward(self, xp, input, dim):
        self.axis = normalize_dim("cumprod", dim, input.ndim)
        self.input = input
        self.out = out = _scan(xp, xp.cumprod, input, self.axis)
        return out

    def backward(self, xp, grad):
        x = self.input
        if x.ndim == 0 or x.shape[self.axis] == 1:  # the identity, also at 0, nan and inf (torch's rule)
            return grad
        if xp.all(x != 0):
            return _reverse_cumsum(xp, grad * self.out, self.axis) / x
        if xp is not np:  # recording: exact with zeros, by the scan below (rows joined at the end)
            # d out_j / d x_i = (product of x before i) * (product of x from i+1 to j), for j >= i:
            # grad_i = before_i * s_i with s_i = g_i + x_{i+1} * s_{i+1}, scanned from the end.
            g, x = xp.moveaxis(grad, self.axis, 0), xp.moveaxis(x, self.axis, 0)
            before = xp.concatenate([xp.ones_like(x[:1]), xp.cumprod(x[:-1], axis=0)])
            rows = [g[-1]]
            for i in range(len(g) - 2, -1, -1):
                rows.append(g[i] + x[i + 1] * rows[-1])
            return xp.moveaxis(before * xp.stack(rows[::-1]), 0, self.axis)
        # torch's rule, slice by slice along dim (the same numbers at nan and inf too): before the
        # slice's first zero the quotient of the simple case; at the first zero, the product of the x
        # before it times sum_k g_k * prod(x after it up to k), k up to the second zero; after it 0.
        axis, out = self.axis, self.out
        zeros = x == 0
        seen = xp.cumsum(zeros, axis=axis)
        free, between = seen == 0, seen == 1
        first = between & zeros
        with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
            simple = _reverse_cumsum(xp, xp.where(free, grad * out, 0), axis) / x
            tail = (xp.cumprod(xp.where(between & ~first, x, 1), axis=axis)
                    * xp.where(between, grad, 0)).sum(axis=axis, keepdims=True)
            ones = xp.ones_like(xp.take(out, [0], axis=axis))
            before = xp.concatenate([ones, xp.take(out, range(x.shape[axis] - 1), axis=axis)], axis=axis)
            result = xp.where(free, simple, xp.where(first, before * tail, 0))
        return result.astype(grad.dtype, copy=False)


OPS = (Sum, Mean, Var, Std, Prod, Amax, Amin, MaxAll, MinAll, MaxValues, MinValues, Max, Min, Argmax, Argmin,
       Logsumexp, Norm, Cumsum, Cumprod)
