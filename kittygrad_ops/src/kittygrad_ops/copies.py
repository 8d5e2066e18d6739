"""Copies and dtype conversion (indexing lives in ``indexing.py``)."""
from __future__ import annotations

from kittygrad_core import Composite, Conformance, Op, Tensor
from kittygrad_core._dtypes import resolve_dtype


class Clone(Op):
    """clone(input) -> Tensor

    Returns a copy of ``input``; gradients flow back to it unchanged."""

    name = "clone"
    conformance = Conformance(torch="torch.clone")

    def forward(self, xp, input):
        return input.copy()

    def backward(self, xp, grad):
        return grad


class To(Op):
    """Tensor.to(dtype) -> Tensor

    Returns a copy of the tensor converted to ``dtype`` (``None`` keeps its dtype, as in torch); the
    gradient is converted back."""

    name = "to"
    functions = ()
    n_inputs = 1
    conformance = Conformance(torch=lambda torch, x, dtype: x.to(dtype and getattr(torch, dtype)),
                              options={"dtype": ["float32", "float64", None]})

    def forward(self, xp, input, dtype):
        self.dtype = input.dtype
        return input.astype(input.dtype if dtype is None else resolve_dtype(dtype))  # to(None): as torch

    def backward(self, xp, grad):
        return grad.astype(self.dtype)


def _cast(name, dtype):
    class Cast(Composite):
        __doc__ = f"""Tensor.{name}() -> Tensor

        The tensor as {dtype}: itself if it already has that dtype, else a converted copy (``to``)."""

        functions, methods = (), (name,)
        conformance = Conformance(torch=f"Tensor.{name}", shapes="same", inputs=1)

        @staticmethod
        def call(input):
            return input.type(dtype)

    Cast.name = name
    Cast.__name__ = Cast.__qualname__ = name.capitalize()
    return Cast


Float, Double, Half = _cast("float", "float32"), _cast("double", "float64"), _cast("half", "float16")


class Contiguous(Composite):
    """Tensor.contiguous() -> Tensor

    The tensor itself if its data is C-contiguous, else a contiguous copy (``clone``)."""

    name = "contiguous"
    functions = ()
    conformance = Conformance(torch="Tensor.contiguous",
                              shapes=lambda draw: [(2, 3)], inputs=1,
                              call=lambda kitty, x: x.mT.contiguous().mT)

    @staticmethod
    def call(input):
        if not isinstance(input, Tensor):
            raise TypeError(f"contiguous(): expected a Tensor, got {type(input).__name__}.")
        return input if input._data.flags.c_contiguous else input.clone()


OPS = (Clone, To, Float, Double, Half, Contiguous)
