"""Elementwise arithmetic: add, sub, mul, div, pow, neg, exp, log.

Binary ops set ``broadcast = True``: the core autocasts numbers and arrays, promotes dtypes as torch
does and reduces each gradient back to its input's shape and dtype, so the rules below are written for
same-shaped operands.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from kittygrad_core import Conformance, Op, Tensor


def _alpha(op, alpha, input, other):
    """``alpha`` as torch reads it: a number (or a 0-d tensor's value) that the result's dtype holds."""
    if isinstance(alpha, (Tensor, np.generic)) and alpha.ndim == 0:
        alpha = alpha.item()  # a Python number, which NumPy does not promote the result to
    elif not isinstance(alpha, numbers.Number):
        raise TypeError(f"{op}(): alpha must be a number, not {type(alpha).__name__}.")
    dtype = (input if hasattr(input, "dtype") else other).dtype
    if not isinstance(alpha, complex) and math.inf != abs(alpha) > float(np.finfo(dtype).max):
        raise RuntimeError(f"{op}(): alpha={alpha} cannot be converted to {dtype} without overflow")
    return alpha


def _wide_number(array, number):
    """True if ``number`` is outside float16's normal range and ``array`` is float16.

    torch computes a float16 tensor with a number in float32 (its "opmath"), rounding only the result:
    ``x * 1e5`` is ``x * 100000.0``, not ``x * inf``."""
    # the range test first: it is all an ordinary number (x * 0.5) pays on the hot path
    return not 6.103515625e-05 <= abs(number) <= 65504.0 and number == number and number not in (
        0, math.inf, -math.inf) and getattr(array, "dtype", None) == np.float16


_NUMBERS = (int, float)


class Add(Op):
    """add(input, other, *, alpha=1) -> Tensor

    Adds ``other``, scaled by ``alpha``, to ``input`` elementwise, with broadcasting."""

    __slots__ = ("alpha",)

    name = "add"
    operators, reflected, inplace = ("__add__",), ("__radd__",), ("__iadd__", "add_")
    broadcast = True
    differentiable_backward = True
    conformance = Conformance(torch="torch.add", options={"alpha": [1, 2.5]})

    def forward(self, xp, input, other, *, alpha=1):
        if alpha.__class__ is not int or alpha != 1:
            alpha = _alpha("add", alpha, input, other)
        self.alpha = alpha
        return input + other if alpha == 1 else input + alpha * other

    def backward(self, xp, grad):
        return grad, grad if self.alpha == 1 else grad * self.alpha


class Sub(Op):
    """sub(input, other, *, alpha=1) -> Tensor

    Subtracts ``other``, scaled by ``alpha``, from ``input`` elementwise, with broadcasting."""

    __slots__ = ("alpha",)

    name = "sub"
    functions = ("sub", "subtract")
    operators, reflected, inplace = ("__sub__",), ("__rsub__",), ("__isub__", "sub_")
    broadcast = True
    differentiable_backward = True
    conformance = Conformance(torch="torch.sub", options={"alpha": [1, -0.5]})

    def forward(self, xp, input, other, *, alpha=1):
        if alpha.__class__ is not int or alpha != 1:
            alpha = _alpha("sub", alpha, input, other)
        self.alpha = alpha
        return input - other if alpha == 1 else input - alpha * other

    def backward(self, xp, grad):
        if not self.needs_input_grad[1]:  # x - 1.0: no array to spend on the number's gradient
            return grad, None
        return grad, -grad if self.alpha == 1 else grad * -self.alpha


class Mul(Op):
    """mul(input, other) -> Tensor

    Multiplies ``input`` by ``other`` elementwise, with broadcasting."""

    __slots__ = ("input", "other")

    name = "mul"
    functions = ("mul", "multiply")
    operators, reflected, inplace = ("__mul__",), ("__rmul__",), ("__imul__", "mul_")
    broadcast = True
    saves = {0: (1,), 1: (0,)}  # each is read for the other's gradient
    differentiable_backward = True
    conformance = Conformance(torch="torch.mul")

    def forward(self, xp, input, other):
        self.input, self.other = input, other
        if (other.__class__ in _NUMBERS and _wide_number(input, other)) or (
                input.__class__ in _NUMBERS and _wide_number(other, input)):
            return xp.multiply(input, other, dtype=xp.float32).astype(xp.float16)
        return input * other

    def backward(self, xp, grad):
        needs_input, needs_other = self.needs_input_grad  # x * 0.5 computes one product, not two
        return grad * self.other if needs_input else None, grad * self.input if needs_other else None


class Div(Op):
    """div(input, other) -> Tensor

    Divides ``input`` by ``other`` elementwise (true division), with broadcasting."""

    __slots__ = ("input", "other")

    name = "div"
    functions = ("div", "divide", "true_divide")
    operators, reflected, inplace = ("__truediv__",), ("__rtruediv__",), ("__itruediv__", "div_")
    broadcast = True
    saves = {0: (1,), 1: (0, 1)}
    differentiable_backward = True
    conformance = Conformance(torch="torch.div", domain=("any", "nonzero"))

    def forward(self, xp, input, other):
        self.input, self.other = input, other
        if (other.__class__ in _NUMBERS and _wide_number(input, other)) or (
                input.__class__ in _NUMBERS and _wide_number(other, input)):
            with xp.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return xp.divide(input, other, dtype=xp.float32).astype(xp.float16)
        return input / other

    def backward(self, xp, grad):
        grad_input = grad / self.other
        if not self.needs_input_grad[1]:  # x / 2.0: the divisor's gradient would cost three passes
            return grad_input, None
        if xp is not np:  # recorded as torch's -grad * (x / y / y): at y == 0 the upstream gradient's
            return grad_input, -grad * (self.input / self.other / self.other)  # derivative sums infinities
        return grad_input, -grad_input * self.input / self.other


def _power(xp, x, p):
    """``x ** p`` as torch computes a number power: for -0.5 its reciprocal square root (``-0.0 ** -0.5``
    is -inf, as ``1 / sqrt(-0.0)``, where C's pow gives inf); NumPy already takes the square root for 0.5."""
    if p.__class__ is float and p == -0.5:
        with xp.errstate(divide="ignore", invalid="ignore"):  # torch warns at no base
            return 1 / xp.sqrt(x)
    return x ** p


class Pow(Op):
    """pow(input, exponent) -> Tensor

    Raises ``input`` to the power ``exponent`` elementwise; either may be a number.
    Gradients follow torch at a zero base: no gradient flows through ``exponent == 0``, and
    ``0 ** e`` with ``e >= 0`` contributes no gradient to the exponent."""

    __slots__ = ("input", "exponent", "out")

    name = "pow"
    operators, reflected, inplace = ("__pow__",), ("__rpow__",), ("__ipow__", "pow_")
    broadcast = True
    saves_output = (1,)  # only the exponent's gradient reads the output
    differentiable_backward = True
    # a zero exponent is a kink of the first gradient (torch masks the base's gradient there)
    conformance = Conformance(torch="torch.pow", domain=("positive", (-2.0, 2.0)), kinks=(0.0,), variants=(
        # number exponents: integral ones on any base (negative and zero bases too), through `**`
        Conformance(torch="torch.pow", domain="any", scalars={1: [0, 1, 2, 3, -1, -2, 0.0, 1.0, 2.0, -1.0]},
                    call=lambda kitty, x, e: x ** e),
        # fractional ones on positive bases, through pow()
        Conformance(torch="torch.pow", domain="positive", scalars={1: [0.5, -0.5, 1.5, 2.5, 0.0, 1, 2, -1]}),
        # a number base, through the reflected `**`
        Conformance(torch="torch.pow", domain=("positive", "any"), scalars={0: [2, 0.5, 3.0, 1]},
                    call=lambda kitty, b, x: b ** x),
    ))

    def forward(self, xp, input, exponent):
        cls = exponent.__class__
        if (cls is float or cls is int) and not -65504.0 <= exponent <= 65504.0 and input.dtype == xp.float16 \
                and exponent == exponent and exponent not in (math.inf, -math.inf):  # torch casts it to float16
            raise RuntimeError(f"pow(): exponent={exponent} cannot be converted to float16 without overflow")
        self.input, self.exponent = input, exponent
        self.out = out = _power(xp, input, exponent)
        return out

    def backward(self, xp, grad):
        x, e = self.input, self.exponent
        if e.__class__ is int or e.__class__ is float:  # a number exponent: no masks needed
            if e == 0:
                return xp.zeros_like(grad), None
            if e == 1 or e == 2:
                return (grad if e == 1 else grad * (2 * x)), None
            with xp.errstate(divide="ignore", invalid="ignore"):  # 0 ** negative is inf, as torch
                return grad * (e * _power(xp, x, e - 1)), None
        grad_input = grad_exponent = None
        with xp.errstate(divide="ignore", invalid="ignore"):  # 0 ** negative is inf, as in torch
            if self.needs_input_grad[0]:
                grad_input = xp.where(e == 0, 0.0, grad * e * x ** (e - 1)).astype(grad.dtype, copy=False)
            if self.needs_input_grad[1]:
                grad_exponent = xp.where((x == 0) & (e >= 0), 0.0, grad * self.out * xp.log(x))
                grad_exponent = grad_exponent.astype(grad.dtype, copy=False)
        return grad_input, grad_exponent


class Neg(Op):
    """neg(input) -> Tensor

    Returns the negative of ``input`` elementwise."""

    __slots__ = ()

    name = "neg"
    functions = ("neg", "negative")
    operators, inplace = ("__neg__",), ("neg_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.neg")

    def forward(self, xp, input):
        return -input

    def backward(self, xp, grad):
        return -grad


class Exp(Op):
    """exp(input) -> Tensor

    Returns the exponential of ``input`` elementwise."""

    __slots__ = ("out",)

    name = "exp"
    inplace = ("exp_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.exp", domain=(-10.0, 10.0))

    def forward(self, xp, input):
        self.out = out = xp.exp(input)
        return out

    def backward(self, xp, grad):
        return grad * self.out


class Log(Op):
    """log(input) -> Tensor

    Returns the natural logarithm of ``input`` elementwise."""

    __slots__ = ("input",)

    name = "log"
    inplace = ("log_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.log", domain="positive")

    def forward(self, xp, input):
        self.input = input
        return xp.log(input)

    def backward(self, xp, grad):
        return grad / self.input


OPS = (Add, Sub, Mul, Div, Pow, Neg, Exp, Log)
