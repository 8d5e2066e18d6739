"""Reductions over dims: sum, mean, var, std."""
from __future__ import annotations

import math

from kittygrad_core import Conformance, Op

from ._dims import expand_reduced, reduction_axes

_DIM_OPTIONS = {"dim": "dims", "keepdim": "bool"}


class Sum(Op):
    """sum(input, dim=None, keepdim=False) -> Tensor

    Returns the sum of ``input`` over the dims ``dim`` (all of them by default)."""

    name = "sum"
    conformance = Conformance(torch="torch.sum", shapes="same", options=_DIM_OPTIONS)

    def forward(self, xp, input, dim=None, keepdim=False):
        self.shape, self.axes, self.keepdim = input.shape, reduction_axes("sum", dim, input.ndim), keepdim
        return input.sum(axis=self.axes, keepdims=keepdim)

    def backward(self, xp, grad):
        return expand_reduced(xp, grad, self.shape, self.axes, self.keepdim)


class Mean(Op):
    """mean(input, dim=None, keepdim=False) -> Tensor

    Returns the mean of ``input`` over the dims ``dim`` (all of them by default)."""

    name = "mean"
    conformance = Conformance(torch="torch.mean", shapes="same", options=_DIM_OPTIONS)

    def forward(self, xp, input, dim=None, keepdim=False):
        self.shape, self.axes, self.keepdim = input.shape, reduction_axes("mean", dim, input.ndim), keepdim
        self.count = math.prod(input.shape[a] for a in self.axes)
        return input.mean(axis=self.axes, keepdims=keepdim)

    def backward(self, xp, grad):
        return expand_reduced(xp, grad / self.count, self.shape, self.axes, self.keepdim)


def _centered(op, input, dim, correction):
    """The deviations from the mean over ``dim`` and the divisor ``N - correction``."""
    axes = reduction_axes(op, dim, input.ndim)
    deviations = input - input.mean(axis=axes, keepdims=True)
    count = math.prod(input.shape[a] for a in axes)
    return axes, deviations, max(count - correction, 0)


class Var(Op):
    """var(input, dim=None, *, correction=1, keepdim=False) -> Tensor

    Returns the variance of ``input`` over ``dim``, dividing by ``N - correction`` (Bessel's
    correction by default)."""

    name = "var"
    conformance = Conformance(torch="torch.var", shapes="same", empty=False,
                              options={"dim": "dims", "correction": [0, 1], "keepdim": "bool"})

    def forward(self, xp, input, dim=None, *, correction=1, keepdim=False):
        self.axes, self.deviations, self.divisor = _centered("var", input, dim, correction)
        self.shape, self.keepdim = input.shape, keepdim
        with xp.errstate(divide="ignore", invalid="ignore"):
            return (self.deviations ** 2).sum(axis=self.axes, keepdims=keepdim) / self.divisor

    def backward(self, xp, grad):
        grad = expand_reduced(xp, grad, self.shape, self.axes, self.keepdim)
        return grad * self.deviations * (2.0 / self.divisor if self.divisor else float("inf"))


class Std(Op):
    """std(input, dim=None, *, correction=1, keepdim=False) -> Tensor

    Returns the standard deviation of ``input`` over ``dim``, dividing by ``N - correction``."""

    name = "std"
    saves_output = True
    conformance = Conformance(torch="torch.std", shapes="same", empty=False, domain=(-3.0, 3.0),
                              options={"dim": "dims", "correction": [0, 1], "keepdim": "bool"})

    def forward(self, xp, input, dim=None, *, correction=1, keepdim=False):
        self.axes, self.deviations, self.divisor = _centered("std", input, dim, correction)
        self.shape, self.keepdim = input.shape, keepdim
        with xp.errstate(divide="ignore", invalid="ignore"):
            self.out = xp.sqrt((self.deviations ** 2).sum(axis=self.axes, keepdims=keepdim) / self.divisor)
        return self.out

    def backward(self, xp, grad):
        with xp.errstate(divide="ignore", invalid="ignore"):
            grad = expand_reduced(xp, grad / (self.out * self.divisor), self.shape, self.axes, self.keepdim)
        return grad * self.deviations


OPS = (Sum, Mean, Var, Std)
