"""The op record of hardtanh and the hook that hands it to kittygrad."""
from kittygrad_core import Conformance, Op, hookimpl


class Hardtanh(Op):
    """hardtanh(input, min_val=-1.0, max_val=1.0) -> Tensor

    Clamps ``input`` elementwise to ``[min_val, max_val]``."""

    __slots__ = ("inside",)  # what forward saves: a mask, not an input, so no version check

    name = "hardtanh"  # PyTorch's name: kittygrad_core.hardtanh
    methods = ()  # torch has no Tensor.hardtanh, so no method either
    differentiable_backward = True  # backward is grad times a constant mask: it can record (section 7c)
    conformance = Conformance(
        torch="nn.functional.hardtanh",
        options={"min_val": [-1.0, -0.5], "max_val": [1.0, 2.0]},
        kinks=(-1.0, -0.5, 1.0, 2.0),  # not differentiable there: values keep away
    )

    def forward(self, xp, input, min_val=-1.0, max_val=1.0):
        if min_val > max_val:  # torch's check; an error naming the op passes through unchanged
            raise RuntimeError("hardtanh(): min_val cannot be greater than max_val")
        self.inside = (input > min_val) & (input < max_val)
        return xp.clip(input, min_val, max_val)

    def backward(self, xp, grad):
        return grad * self.inside


@hookimpl
def kittygrad_register_ops():
    return [Hardtanh]
