"""Elementwise arithmetic: add, sub, mul, div, pow, neg, exp, log.

Binary ops set ``broadcast = True``: the core autocasts numbers and arrays, promotes dtypes as torch
does and reduces each gradient back to its input's shape and dtype, so the rules below are written for
same-shaped operands.
"""
from __future__ import annotations

from kittygrad_core import Conformance, Op


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
        self.alpha = alpha
        return input - other if alpha == 1 else input - alpha * other

    def backward(self, xp, grad):
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
        return input * other

    def backward(self, xp, grad):
        return grad * self.other, grad * self.input


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
        return input / other

    def backward(self, xp, grad):
        grad_input = grad / self.other
        return grad_input, -grad_input * self.input / self.other


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
        self.input, self.exponent = input, exponent
        self.out = out = input ** exponent
        return out

    def backward(self, xp, grad):
        x, e = self.input, self.exponent
        if e.__class__ is int or e.__class__ is float:  # a number exponent: no masks needed
            if e == 0:
                return xp.zeros_like(grad), None
            if e == 1 or e == 2:
                return (grad if e == 1 else grad * (2 * x)), None
            with xp.errstate(divide="ignore", invalid="ignore"):  # 0 ** negative is inf, as torch
                return grad * (e * x ** (e - 1)), None
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
