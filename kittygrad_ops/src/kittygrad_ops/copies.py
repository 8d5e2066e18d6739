"""Copies and dtype conversion (indexing lives in ``indexing.py``)."""
from __future__ import annotations

import numpy as np

import kittygrad_core as kitty
from kittygrad_core import Composite, Conformance, Op, Tensor
from kittygrad_core.extend import apply, resolve_dtype


class Clone(Op):
    """clone(input) -> Tensor

    Returns a copy of ``input``; gradients flow back to it unchanged."""

    __slots__ = ()

    name = "clone"
    differentiable_backward = True
    conformance = Conformance(torch="torch.clone")

    def forward(self, xp, input):
        return input.copy()

    def backward(self, xp, grad):
        return grad


class ToCopy(Op):
    """_to(input, dtype) -> Tensor

    The record behind ``Tensor.to``: a copy of the tensor converted to ``dtype``; the gradient is
    converted back."""

    __slots__ = ("input_dtype",)

    name = "_to"
    functions = methods = ()
    n_inputs = 1
    differentiable_backward = True
    conformance = Conformance(torch=lambda torch, x, dtype: x.to(getattr(torch, dtype), copy=True),
                              options={"dtype": ["float32", "float64"]},
                              call=lambda kitty, x, dtype: x.to(dtype, copy=True))

    def forward(self, xp, input, dtype):
        self.input_dtype = input.dtype
        return input.astype(input.dtype if dtype is None else resolve_dtype(dtype))  # to(None): as torch

    def backward(self, xp, grad):
        return grad.astype(self.input_dtype)


def _is_dtype_name(name):
    try:
        np.dtype(name)
    except TypeError:
        return False
    return True


def _device_and_dtype(args, dtype, device):
    """Reads torch's ``to`` forms: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)``."""
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, kitty.device) or isinstance(arg, str) and not _is_dtype_name(arg):
            device = arg
        else:
            dtype = arg
    if device is not None:
        kitty.device(device)  # raises for any device but the CPU
    return dtype


class To(Composite):
    """Tensor.to(*args, dtype=None, device=None, copy=False) -> Tensor

    Returns the tensor with the requested dtype, as ``to(dtype)``, ``to(other_tensor)``,
    ``to("cpu")`` or ``to("cpu", dtype)``: the tensor itself when nothing changes (unless ``copy``),
    else a converted copy whose gradient is converted back. kittygrad has one device, the CPU;
    asking for another raises ``RuntimeError``."""

    name = "to"
    functions = ()
    conformance = Conformance(torch=lambda torch, x, dtype: x.to("cpu", getattr(torch, dtype)),
                              shapes="same", inputs=1, options={"dtype": ["float32", "float64"]},
                              call=lambda kitty, x, dtype: x.to("cpu", dtype))

    @staticmethod
    def call(input, *args, dtype=None, device=None, non_blocking=False, copy=False):
        if not isinstance(input, Tensor):
            raise TypeError(f"to(): expected a Tensor, got {type(input).__name__}.")
        if len(args) > 2 or not isinstance(copy, (bool, np.bool_)) \
                or not isinstance(non_blocking, (bool, np.bool_)):
            raise TypeError("to() received an invalid combination of arguments: expected "
                            "to(dtype), to(device, dtype=None) or to(tensor), and bool copy/non_blocking.")
        dtype = _device_and_dtype(args, dtype, device)
        if dtype is None or resolve_dtype(dtype) == input.dtype:
            return apply(kitty.registry["clone"], (input,)) if copy else input
        return apply(kitty.registry["_to"], (input,), (dtype,))


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


OPS = (Clone, ToCopy, To, Float, Double, Half, Contiguous)
