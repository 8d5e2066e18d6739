"""Activations: relu, leaky_relu, elu, gelu, silu, softplus, softmax, log_softmax.

Gradients at the kinks follow torch: relu passes nothing at 0, leaky_relu uses ``negative_slope``
there, elu ``alpha``. softmax and log_softmax subtract the maximum along ``dim`` first, so they are stable at
+-1000; a row of -inf gives nan (as in torch), and -inf entries of other rows get probability 0 and
finite gradients.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from kittygrad_core import Conformance, Op

from ._dims import masked, normalize_dim

_SQRT_HALF = math.sqrt(0.5)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_KAPPA = 0.044715


class Relu(Op):
    """relu(input) -> Tensor

    Returns ``max(input, 0)`` elementwise; the gradient at 0 is 0, as in torch."""

    __slots__ = ("positive",)

    name = "relu"
    inplace = ("relu_",)
    saves_output = True  # torch's relu saves its result: changing it in place before backward raises
    differentiable_backward = True
    conformance = Conformance(torch="torch.relu", kinks=(0.0,))

    def forward(self, xp, input):
        # Against a row of zeros, not the scalar 0: NumPy runs maximum's vector loop only when both
        # operands step along the last axis (twice as fast on an MLP's activations; same values).
        out = xp.maximum(input, xp.zeros(input.shape[-1:], input.dtype))
        # The mask is taken while ``out`` is in cache: a quarter of its bytes (bool) to keep, and the
        # backward reads no float array but its gradient (the MLP step's relus cost half as much).
        self.positive = ~(out <= 0)  # torch's mask: a nan passes its gradient on
        return out

    def backward(self, xp, grad):
        return masked(xp, grad, self.positive)


class LeakyRelu(Op):
    """leaky_relu(input, negative_slope=0.01) -> Tensor

    Returns ``input`` where it is positive and ``negative_slope * input`` elsewhere; the gradient at 0
    is ``negative_slope``, as in torch."""

    __slots__ = ("input", "slope")

    name = "leaky_relu"
    methods = ()
    differentiable_backward = True
    conformance = Conformance(torch="nn.functional.leaky_relu", kinks=(0.0,),
                              options={"negative_slope": [0.01, 0.2]})

    def forward(self, xp, input, negative_slope=0.01):
        if not isinstance(negative_slope, numbers.Real):  # a complex slope would be silently truncated
            raise TypeError(f"leaky_relu(): negative_slope must be a number, not {type(negative_slope).__name__}.")
        self.input, self.slope = input, negative_slope
        return xp.where(input > 0, input, input * negative_slope).astype(input.dtype, copy=False)

    def backward(self, xp, grad):
        return xp.where(self.input > 0, grad, grad * self.slope).astype(grad.dtype, copy=False)


class Elu(Op):
    """elu(input, alpha=1.0) -> Tensor

    Returns ``input`` where it is positive and ``alpha * (exp(input) - 1)`` elsewhere; the gradient
    at 0 is ``alpha``, as in torch."""

    __slots__ = ("input", "alpha")

    name = "elu"
    methods = ()
    differentiable_backward = True
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
        # when recording, min(x, 0) by a mask: at 0 torch's double backward is 0, not minimum's tie half
        low = xp.minimum(x, 0) if xp is np else xp.where(x >= 0, 0, x)
        with xp.errstate(over="ignore", invalid="ignore"):
            return xp.where(x > 0, grad, grad * self.alpha * xp.exp(low)).astype(grad.dtype, copy=False)


def _erf(xp, x):
    """The error function elementwise (NumPy has none; math.erf is exact to double precision)."""
    erf = getattr(xp, "erf", None) or xp.frompyfunc(math.erf, 1, 1)
    return xp.asarray(erf(x), dtype=x.dtype)


class Gelu(Op):
    """gelu(input, approximate='none') -> Tensor

    Gaussian error linear unit ``input * Phi(input)``; ``approximate='tanh'`` uses torch's tanh
    approximation."""

    __slots__ = ("input", "approximate", "t", "cdf")

    name = "gelu"
    methods = ()
    differentiable_backward = True
    conformance = Conformance(torch="nn.functional.gelu", options={"approximate": ["none", "tanh"]})

    def forward(self, xp, input, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise RuntimeError(f"gelu(): approximate argument must be either none or tanh, "
                               f"got {approximate!r}.")
        self.input, self.approximate = input, approximate
        if approximate == "tanh":
            self.t = xp.tanh(_SQRT_2_OVER_PI * (input + _KAPPA * input ** 3))
            return 0.5 * input * (1 + self.t)
        self.cdf = 0.5 * (1 + _erf(xp, input * _SQRT_HALF))
        return input * self.cdf

    def backward(self, xp, grad):
        x = self.input
        if self.approximate == "tanh":
            # t and cdf are saved values of the input: when recording, recompute them from it
            t = self.t if xp is np else xp.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x))
            inner = _SQRT_2_OVER_PI * (1 + 3 * _KAPPA * x * x)
            return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * inner)
        cdf = self.cdf if xp is np else 0.5 * (1 + xp.erf(x * _SQRT_HALF))
        return grad * (cdf + x * _INV_SQRT_2PI * xp.exp(-0.5 * x * x))


class Silu(Op):
    """silu(input) -> Tensor

    Sigmoid linear unit ``input * sigmoid(input)``."""

    __slots__ = ("input", "s")

    name = "silu"
    methods = ()
    differentiable_backward = True
    conformance = Conformance(torch="nn.functional.silu")

    def forward(self, xp, input):
        with xp.errstate(over="ignore"):
            self.s = 1 / (1 + xp.exp(-input))
        self.input = input
        return input * self.s

    def backward(self, xp, grad):
        s = self.s if xp is np else xp.sigmoid(self.input)  # s is a saved value of the input
        return grad * s * (1 + self.input * (1 - s))


class Softplus(Op):
    """softplus(input, beta=1.0, threshold=20.0) -> Tensor

    Returns ``log(1 + exp(beta * input)) / beta``, and ``input`` itself where ``beta * input >
    threshold`` (as torch, for stability)."""

    __slots__ = ("input", "beta", "threshold")

    name = "softplus"
    methods = ()
    differentiable_backward = True
    conformance = Conformance(torch="nn.functional.softplus",
                              options={"beta": [1.0, 2.0], "threshold": [20.0, 1.0]})

    def forward(self, xp, input, beta=1.0, threshold=20.0):
        for option, value in (("beta", beta), ("threshold", threshold)):
            if not isinstance(value, numbers.Real):
                raise TypeError(f"softplus(): {option} must be a number, not {type(value).__name__}.")
        self.input, self.beta, self.threshold = input, beta, threshold
        scaled = input * beta
        with xp.errstate(over="ignore"):
            soft = xp.log1p(xp.exp(scaled)) / beta
        return xp.where(scaled > threshold, input, soft).astype(input.dtype, copy=False)

    def backward(self, xp, grad):
        scaled = self.input * self.beta
        if xp is not np:
            # sigmoid: z / (z + 1) is nan at large inputs, which where's backward would leak; at the
            # threshold itself torch's double backward is 0 (it masks beta * x < threshold): a constant
            s = xp.sigmoid(scaled)
            at = scaled == self.threshold
            if at.any():
                s = xp.where(at, float(xp.sigmoid(np.float64(self.threshold))), s)
            return xp.where(scaled > self.threshold, grad, grad * s)
        with xp.errstate(over="ignore", invalid="ignore"):
            z = xp.exp(scaled)
            return xp.where(scaled > self.threshold, grad, grad * z / (z + 1)).astype(grad.dtype, copy=False)


def _shifted(xp, op, input, dim):
    """``input`` minus its maximum along ``dim`` (the axis; None for 0-d), for a stable exp."""
    checked = normalize_dim(op, dim, input.ndim)  # raises for a bad dim, also on a 0-d input
    axis: int | None = checked if input.ndim else None
    if input.size == 0:
        return axis, input.copy()
    with xp.errstate(invalid="ignore"):  # a row of -inf: -inf - -inf is nan, as torch's result
        return axis, input - input.max(axis=axis, keepdims=True)


class Softmax(Op):
    """softmax(input, dim) -> Tensor

    Returns ``exp(input) / sum(exp(input))`` along ``dim``, computed stably."""

    __slots__ = ("axis", "out")

    name = "softmax"
    n_inputs = 1
    differentiable_backward = True
    conformance = Conformance(torch="torch.softmax", shapes="same", options={"dim": "dim"})

    def forward(self, xp, input, dim):
        self.axis, shifted = _shifted(xp, "softmax", input, dim)
        e = xp.exp(shifted)
        with xp.errstate(invalid="ignore"):
            self.out = out = e / e.sum(axis=self.axis, keepdims=True)
        return out

    def backward(self, xp, grad):
        y = self.out
        return y * (grad - (grad * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Op):
    """log_softmax(input, dim) -> Tensor

    Returns ``log(softmax(input, dim))``, computed stably as ``x - max - log(sum(exp(x - max)))``."""

    __slots__ = ("axis", "out")

    name = "log_softmax"
    n_inputs = 1
    differentiable_backward = True
    conformance = Conformance(torch="torch.log_softmax", shapes="same", options={"dim": "dim"})

    def forward(self, xp, input, dim):
        self.axis, shifted = _shifted(xp, "log_softmax", input, dim)
        with xp.errstate(divide="ignore", invalid="ignore"):
            self.out = out = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        return out

    def backward(self, xp, grad):
        return grad - xp.exp(self.out) * grad.sum(axis=self.axis, keepdims=True)


OPS = (Relu, LeakyRelu, Elu, Gelu, Silu, Softplus, Softmax, LogSoftmax)
