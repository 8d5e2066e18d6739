"""Elementwise binary ops: maximum, minimum, where; the comparisons isclose, allclose, equal.

All set ``broadcast = True``: the core accepts numbers and arrays as operands, promotes dtypes as torch
does and reduces gradients back to each input's shape, so the rules are written for broadcast operands.
"""
from __future__ import annotations

import numpy as np

from kittygrad_core import Composite, Conformance, Op, Tensor
from kittygrad_core.extend import recorded, value_read


def _split(xp, grad, wins, ties):
    """``grad`` where ``wins``, half of it where ``ties``, 0 elsewhere (torch's rule for max/min)."""
    return xp.where(wins, grad, xp.where(ties, grad / 2, 0)).astype(grad.dtype, copy=False)


class Maximum(Op):
    """maximum(input, other) -> Tensor

    Returns the elementwise maximum of ``input`` and ``other`` (nan if either is nan). At ties the
    gradient is split half/half, as in torch."""

    __slots__ = ("input", "other")

    name = "maximum"
    broadcast = True
    differentiable_backward = True
    conformance = Conformance(torch="torch.maximum")

    def forward(self, xp, input, other):
        self.input, self.other = input, other
        return xp.maximum(input, other)

    def backward(self, xp, grad):
        x, y = self.input, self.other
        ties = x == y
        return (_split(xp, grad, ~(x < y) & ~ties, ties) if self.needs_input_grad[0] else None,
                _split(xp, grad, ~(x > y) & ~ties, ties) if self.needs_input_grad[1] else None)


class Minimum(Op):
    """minimum(input, other) -> Tensor

    Returns the elementwise minimum of ``input`` and ``other`` (nan if either is nan). At ties the
    gradient is split half/half, as in torch."""

    __slots__ = ("input", "other")

    name = "minimum"
    broadcast = True
    differentiable_backward = True
    conformance = Conformance(torch="torch.minimum")

    def forward(self, xp, input, other):
        self.input, self.other = input, other
        return xp.minimum(input, other)

    def backward(self, xp, grad):
        x, y = self.input, self.other
        ties = x == y
        return (_split(xp, grad, ~(x > y) & ~ties, ties) if self.needs_input_grad[0] else None,
                _split(xp, grad, ~(x < y) & ~ties, ties) if self.needs_input_grad[1] else None)


class Where(Op):
    """where(condition, input, other) -> Tensor

    Takes ``input`` where ``condition`` holds and ``other`` elsewhere, with broadcasting.
    ``condition`` is a boolean NumPy array (comparisons of tensors return those) or a Tensor (nonzero
    is true); ``input`` and ``other`` may be numbers. Gradients flow to ``input`` where the condition
    holds and to ``other`` elsewhere."""

    __slots__ = ("condition",)

    name = "where"
    methods = ()  # torch's Tensor.where(condition, other) takes self as `input`, not as the condition
    broadcast = True
    differentiable = (False, True, True)
    # the condition as a tensor (nonzero is true), so the node's saved condition is the input itself
    differentiable_backward = True
    conformance = Conformance(torch=lambda torch, c, x, y: torch.where(c != 0, x, y),
                              call=lambda kitty, c, x, y: kitty.where(c, x, y),
                              domain=((-1.0, 1.0), "any", "any"), kinks=(0.0,))

    def forward(self, xp, condition, input, other):
        self.condition = condition = xp.asarray(condition)
        cond = condition if condition.dtype == bool else condition != 0
        arrays = [a for a in (input, other) if isinstance(a, xp.ndarray)]
        dtype = arrays[0].dtype if arrays else xp.float32  # numbers alone: torch's default dtype
        return xp.asarray(xp.where(cond, input, other), dtype=dtype)

    def backward(self, xp, grad):
        cond = self.condition
        cond = cond if cond.dtype == bool else cond != 0
        zero = xp.zeros((), grad.dtype)
        return (None,
                xp.where(cond, grad, zero) if self.needs_input_grad[1] else None,
                xp.where(cond, zero, grad) if self.needs_input_grad[2] else None)


def _values(op, x, index):
    """The array of a comparison operand: a Tensor, a number or an array (never recorded)."""
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, (int, float, np.ndarray, np.generic)) and not isinstance(x, bool):
        return np.asarray(x)
    raise TypeError(f"{op}(): argument {index} must be a Tensor, a number or a NumPy array, "
                    f"not {type(x).__name__}.")


def _close(op, input, other, rtol, atol, equal_nan):
    a, b = _values(op, input, 0), _values(op, other, 1)
    if isinstance(input, Tensor) and isinstance(other, Tensor) and a.dtype != b.dtype:
        raise RuntimeError(f"{op}(): {a.dtype} did not match {b.dtype}")  # as torch: no promotion
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            raise TypeError(f"{op}(): {name} must be a number, not {type(value).__name__}.")
        if not value >= 0:  # NaN too, as torch
            raise RuntimeError(f"{op}(): {name} must be greater than or equal to zero, but got {value}")
    if not isinstance(equal_nan, (bool, np.bool_)):
        raise TypeError(f"{op}(): equal_nan must be a bool, not {type(equal_nan).__name__}.")
    try:
        return np.asarray(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=bool(equal_nan)))  # 0-d: an array
    except ValueError:
        raise RuntimeError(f"{op}(): shapes {a.shape} and {b.shape} cannot be broadcast together") from None


_CLOSE_OPTIONS = {"rtol": [1e-5, 1e-2], "atol": [1e-8, 0.5], "equal_nan": "bool"}


class _CloseValues(Op):
    """isclose's computation as a record without tensor inputs (its operands are options), so that
    ``kitty.compile`` records and replays it (``extend.recorded``); not registered."""

    __slots__ = ()

    name = "isclose"
    differentiable = False

    def forward(self, xp, input, other, rtol, atol, equal_nan):
        return _close("isclose", input, other, rtol, atol, equal_nan)


class Isclose(Composite):
    """isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool array

    Elementwise ``|input - other| <= atol + rtol * |other|``, broadcast; a boolean NumPy array, as
    kittygrad's comparisons return."""

    name = "isclose"
    differentiable = False
    conformance = Conformance(torch="torch.isclose", inputs=2, options=_CLOSE_OPTIONS)

    @staticmethod
    def call(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return recorded(_CloseValues, _close("isclose", input, other, rtol, atol, equal_nan), input, other, rtol,
                        atol, equal_nan)


class Allclose(Composite):
    """allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False) -> bool

    True if ``isclose`` holds for every element."""

    name = "allclose"
    differentiable = False
    conformance = Conformance(torch=lambda torch, a, b, **kw: torch.tensor(torch.allclose(a, b, **kw)),
                              inputs=2, options=_CLOSE_OPTIONS,
                              call=lambda kitty, a, b, **kw: np.bool_(kitty.allclose(a, b, **kw)))

    @staticmethod
    def call(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        value_read("allclose() (a Python bool)")
        return bool(_close("allclose", input, other, rtol, atol, equal_nan).all())


class Equal(Composite):
    """equal(input, other) -> bool

    True if both tensors have the same shape and elements (no broadcasting)."""

    name = "equal"
    differentiable = False
    conformance = Conformance(torch=lambda torch, a, b: torch.tensor(torch.equal(a, b)), inputs=2,
                              call=lambda kitty, a, b: np.bool_(kitty.equal(a, b)))

    @staticmethod
    def call(input, other):
        value_read("equal() (a Python bool)")
        a, b = _values("equal", input, 0), _values("equal", other, 1)
        return a.shape == b.shape and bool((a == b).all())


OPS = (Maximum, Minimum, Where, Isclose, Allclose, Equal)
