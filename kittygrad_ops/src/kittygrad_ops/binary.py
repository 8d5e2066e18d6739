"""Elementwise binary ops: maximum, minimum, where.

All set ``broadcast = True``: the core accepts numbers and arrays as operands, promotes dtypes as torch
does and reduces gradients back to each input's shape, so the rules are written for broadcast operands.
"""
from __future__ import annotations

from kittygrad_core import Conformance, Op


def _split(xp, grad, wins, ties):
    """``grad`` where ``wins``, half of it where ``ties``, 0 elsewhere (torch's rule for max/min)."""
    return xp.where(wins, grad, xp.where(ties, grad / 2, 0)).astype(grad.dtype, copy=False)


class Maximum(Op):
    """maximum(input, other) -> Tensor

    Returns the elementwise maximum of ``input`` and ``other`` (nan if either is nan). At ties the
    gradient is split half/half, as in torch."""

    name = "maximum"
    broadcast = True
    saves = (0, 1)
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

    name = "minimum"
    broadcast = True
    saves = (0, 1)
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

    name = "where"
    methods = ()  # torch's Tensor.where(condition, other) takes self as `input`, not as the condition
    broadcast = True
    differentiable = (False, True, True)
    saves = (0,)
    conformance = Conformance(torch=lambda torch, c, x, y: torch.where(c > 0, x, y),
                              call=lambda kitty, c, x, y: kitty.where(c > 0, x, y))

    def forward(self, xp, condition, input, other):
        cond = xp.asarray(condition)
        self.cond = cond = cond if cond.dtype == bool else cond != 0
        arrays = [a for a in (input, other) if isinstance(a, xp.ndarray)]
        dtype = arrays[0].dtype if arrays else xp.float32  # numbers alone: torch's default dtype
        return xp.asarray(xp.where(cond, input, other), dtype=dtype)

    def backward(self, xp, grad):
        zero = xp.zeros((), grad.dtype)
        return (None,
                xp.where(self.cond, grad, zero) if self.needs_input_grad[1] else None,
                xp.where(self.cond, zero, grad) if self.needs_input_grad[2] else None)


OPS = (Maximum, Minimum, Where)
