"""Elementwise unary ops: abs, sqrt, square, rsqrt, reciprocal, the trigonometric and hyperbolic
functions and their inverses, sigmoid, log1p, log2, log10, expm1, exp2, clamp, sign, and the in-place
fills zero_ and fill_ (exp, log and neg are in ``arithmetic``).

Gradients follow torch at the edges: abs and sign have gradient 0 at 0, sqrt has an infinite gradient
at 0, and clamp passes the gradient where ``min <= x <= max`` (boundaries included).
"""
from __future__ import annotations

import math
import numbers

from kittygrad_core import Conformance, Op

from ._dims import masked, sgn

_LN2, _LN10 = math.log(2.0), math.log(10.0)


class Abs(Op):
    """abs(input) -> Tensor

    Returns the absolute value of ``input`` elementwise; the gradient at 0 (and at nan) is 0, as in torch."""

    __slots__ = ("input",)

    name = "abs"
    functions = methods = ("abs", "absolute")
    operators, inplace = ("__abs__",), ("abs_", "absolute_")
    differentiable_backward = True
    conformance = Conformance(torch="torch.abs", kinks=(0.0,))

    def forward(self, xp, input):
        self.input = input
        return xp.abs(input)

    def backward(self, xp, grad):
        return grad * sgn(xp, self.input)


class Sqrt(Op):
    """sqrt(input) -> Tensor

    Returns the square root of ``input`` elementwise (nan below 0; infinite gradient at 0)."""

    __slots__ = ("out",)

    name = "sqrt"
    inplace = ("sqrt_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.sqrt", domain="positive")

    def forward(self, xp, input):
        with xp.errstate(invalid="ignore"):
            self.out = out = xp.sqrt(input)
        return out

    def backward(self, xp, grad):
        with xp.errstate(divide="ignore", invalid="ignore"):
            return grad / (2 * self.out)


class Sin(Op):
    """sin(input) -> Tensor

    Returns the sine of ``input`` elementwise."""

    __slots__ = ("input",)

    name = "sin"
    inplace = ("sin_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.sin")

    def forward(self, xp, input):
        self.input = input
        return xp.sin(input)

    def backward(self, xp, grad):
        return grad * xp.cos(self.input)


class Cos(Op):
    """cos(input) -> Tensor

    Returns the cosine of ``input`` elementwise."""

    __slots__ = ("input",)

    name = "cos"
    inplace = ("cos_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.cos")

    def forward(self, xp, input):
        self.input = input
        return xp.cos(input)

    def backward(self, xp, grad):
        return -grad * xp.sin(self.input)


class Tanh(Op):
    """tanh(input) -> Tensor

    Returns the hyperbolic tangent of ``input`` elementwise."""

    __slots__ = ("out",)

    name = "tanh"
    inplace = ("tanh_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.tanh")

    def forward(self, xp, input):
        self.out = out = xp.tanh(input)
        return out

    def backward(self, xp, grad):
        return grad * (1 - self.out * self.out)


class Sigmoid(Op):
    """sigmoid(input) -> Tensor

    Returns the logistic sigmoid ``1 / (1 + exp(-input))`` elementwise (0 and 1 at the extremes)."""

    __slots__ = ("out",)

    name = "sigmoid"
    inplace = ("sigmoid_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.sigmoid", domain=(-10.0, 10.0))

    def forward(self, xp, input):
        with xp.errstate(over="ignore"):  # exp(1000) is inf and 1 / inf is the right 0
            out = 1 / (1 + xp.exp(-input))
        self.out = out = out.astype(input.dtype, copy=False)
        return out

    def backward(self, xp, grad):
        return grad * self.out * (1 - self.out)


class Log1p(Op):
    """log1p(input) -> Tensor

    Returns ``log(1 + input)`` elementwise, accurate for small ``input``."""

    __slots__ = ("input",)

    name = "log1p"
    inplace = ("log1p_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.log1p", domain=(-0.9, 3.0))

    def forward(self, xp, input):
        self.input = input
        with xp.errstate(divide="ignore", invalid="ignore"):
            return xp.log1p(input)

    def backward(self, xp, grad):
        with xp.errstate(divide="ignore", invalid="ignore"):
            return grad / (1 + self.input)


class Expm1(Op):
    """expm1(input) -> Tensor

    Returns ``exp(input) - 1`` elementwise, accurate for small ``input``."""

    __slots__ = ("out",)

    name = "expm1"
    inplace = ("expm1_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.expm1", domain=(-10.0, 10.0))

    def forward(self, xp, input):
        with xp.errstate(over="ignore"):
            self.out = out = xp.expm1(input)
        return out

    def backward(self, xp, grad):
        return grad * (self.out + 1)


class Reciprocal(Op):
    """reciprocal(input) -> Tensor

    Returns ``1 / input`` elementwise (inf at 0, as in torch)."""

    __slots__ = ("out",)

    name = "reciprocal"
    inplace = ("reciprocal_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.reciprocal", domain="nonzero")

    def forward(self, xp, input):
        with xp.errstate(divide="ignore"):
            self.out = out = xp.reciprocal(input)
        return out

    def backward(self, xp, grad):
        with xp.errstate(over="ignore", invalid="ignore"):
            return -grad * self.out * self.out


class Tan(Op):
    """tan(input) -> Tensor

    Returns the tangent of ``input`` elementwise."""

    __slots__ = ("out",)

    name = "tan"
    inplace = ("tan_",)
    differentiable_backward = True
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

    __slots__ = ("input",)

    name = "sinh"
    inplace = ("sinh_",)
    differentiable_backward = True
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

    __slots__ = ("input",)

    name = "cosh"
    inplace = ("cosh_",)
    differentiable_backward = True
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

    __slots__ = ("input",)

    name = "asin"
    functions = methods = ("asin", "arcsin")
    inplace = ("asin_", "arcsin_")
    differentiable_backward = True
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

    __slots__ = ("input",)

    name = "acos"
    functions = methods = ("acos", "arccos")
    inplace = ("acos_", "arccos_")
    differentiable_backward = True
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

    __slots__ = ("input",)

    name = "atan"
    functions = methods = ("atan", "arctan")
    inplace = ("atan_", "arctan_")
    differentiable_backward = True
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

    __slots__ = ("input",)

    name = "log2"
    inplace = ("log2_",)
    differentiable_backward = True
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

    __slots__ = ("input",)

    name = "log10"
    inplace = ("log10_",)
    differentiable_backward = True
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

    __slots__ = ("out",)

    name = "exp2"
    inplace = ("exp2_",)
    differentiable_backward = True
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

    __slots__ = ("out",)

    name = "rsqrt"
    inplace = ("rsqrt_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.rsqrt", domain="positive")

    def forward(self, xp, input):
        with xp.errstate(divide="ignore", invalid="ignore"):
            out = 1 / xp.sqrt(input)
        self.out = out = out.astype(input.dtype, copy=False)
        return out

    def backward(self, xp, grad):
        with xp.errstate(over="ignore", invalid="ignore"):
            return -0.5 * grad * self.out * self.out * self.out


class Square(Op):
    """square(input) -> Tensor

    Returns ``input * input`` elementwise."""

    __slots__ = ("input",)

    name = "square"
    inplace = ("square_",)
    differentiable_backward = True
    conformance = Conformance(torch="torch.square")

    def forward(self, xp, input):
        self.input = input
        return input * input

    def backward(self, xp, grad):
        return 2 * grad * self.input


def _bound(which, value):
    if value is None or isinstance(value, numbers.Real):
        return None if value is None else float(value)
    raise TypeError(f"clamp(): {which} must be a number or None, not {type(value).__name__} "
                    "(tensor bounds are not supported).")


class Clamp(Op):
    """clamp(input, min=None, max=None) -> Tensor

    Clamps ``input`` into ``[min, max]`` elementwise (alias ``clip``). The gradient passes where
    ``min <= input <= max``, boundaries included, as in torch; with ``min > max`` every value is ``max``."""

    __slots__ = ("input", "low", "high")

    name = "clamp"
    functions = methods = ("clamp", "clip")
    inplace = ("clamp_", "clip_")
    differentiable_backward = True
    conformance = Conformance(torch="torch.clamp", kinks=(-0.5, 0.5, 1.0),
                              options={"min": [-0.5, None], "max": [0.5, 1.0]})

    def forward(self, xp, input, min=None, max=None):
        low, high = _bound("min", min), _bound("max", max)
        if low is None and high is None:
            raise RuntimeError("clamp(): at least one of 'min' or 'max' must not be None")
        self.input, self.low, self.high = input, low, high
        out = input if low is None else xp.maximum(input, xp.asarray(low, dtype=input.dtype))
        return out if high is None else xp.minimum(out, xp.asarray(high, dtype=input.dtype))

    def backward(self, xp, grad):
        x, low, high = self.input, self.low, self.high
        mask = (x <= high) if low is None else (x >= low) if high is None else (x >= low) & (x <= high)
        return masked(xp, grad, mask)


class Sign(Op):
    """sign(input) -> Tensor

    Returns -1, 0 or 1 by the sign of ``input`` elementwise (0 for nan, as torch on CPU)."""

    __slots__ = ()

    name = "sign"
    differentiable = False
    conformance = Conformance(torch="torch.sign", kinks=(0.0,))

    def forward(self, xp, input):
        return (input > 0).astype(input.dtype) - (input < 0)


class Zero(Op):
    """Tensor.zero_() -> Tensor

    Fills the tensor with zeros in place; the gradient w.r.t. the overwritten values is 0."""

    __slots__ = ()

    name = "zero_"
    functions, methods, inplace = (), (), ("zero_",)
    differentiable_backward = True
    conformance = Conformance(torch=lambda torch, x: x.clone().zero_(),
                              call=lambda kitty, x: x.clone().zero_())

    def forward(self, xp, input):
        return xp.zeros_like(input)

    def backward(self, xp, grad):
        return xp.zeros_like(grad)


class Fill(Op):
    """Tensor.fill_(value) -> Tensor

    Fills the tensor with the number ``value`` in place; the gradient w.r.t. the overwritten values is 0."""

    __slots__ = ()

    name = "fill_"
    functions, methods, inplace = (), (), ("fill_",)
    n_inputs = 1
    differentiable_backward = True
    conformance = Conformance(torch=lambda torch, x, value: x.clone().fill_(value),
                              call=lambda kitty, x, value: x.clone().fill_(value),
                              options={"value": [0.5, -2]})

    def forward(self, xp, input, value):
        if not isinstance(value, numbers.Real):
            raise TypeError(f"fill_(): value must be a number, not {type(value).__name__}.")
        return xp.full_like(input, value)

    def backward(self, xp, grad):
        return xp.zeros_like(grad)


OPS = (Abs, Sqrt, Sin, Cos, Tanh, Sigmoid, Log1p, Expm1, Reciprocal, Tan, Sinh, Cosh, Asin, Acos, Atan,
       Log2, Log10, Exp2, Rsqrt, Square, Clamp, Sign, Zero, Fill)
