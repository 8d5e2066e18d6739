"""``Conv2d``, ``MaxPool2d`` and ``AvgPool2d`` modules, initialised as PyTorch initialises them.

They are :class:`kittygrad_nn.Module` subclasses, so this module needs kittygrad-nn
(``pip install kittygrad-conv[nn]``); the ops themselves (``kittygrad_core.conv2d``, ...) do not.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

try:
    from kittygrad_nn import Module, Parameter, init
except ImportError as error:  # pragma: no cover - exercised by a test that hides kittygrad_nn
    raise ImportError(
        "kittygrad_conv.nn needs kittygrad-nn, which is not installed: pip install kittygrad-nn "
        "(or pip install 'kittygrad-conv[nn]'). The functional ops kittygrad_core.conv2d, max_pool2d "
        "and avg_pool2d work without it.") from error

import kittygrad_core
from kittygrad_core import Tensor

from .ops import _pair

__all__ = ["AvgPool2d", "Conv2d", "MaxPool2d"]


def _parameter(*shape: int, dtype: Any = None) -> Parameter:
    return Parameter(np.empty(shape, dtype=np.dtype(dtype or kittygrad_core.DEFAULT_DTYPE)))


class Conv2d(Module):
    """A 2-D convolution layer, as ``torch.nn.Conv2d`` (``padding_mode="zeros"`` only).

    ``weight`` is ``(out_channels, in_channels / groups, kH, kW)`` and ``bias`` ``(out_channels,)``,
    both drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = in_channels / groups * kH * kW``
    (``kaiming_uniform_(a=sqrt(5))`` for the weight), as in PyTorch.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: padding_mode={padding_mode!r} is not supported "
                                      "(only 'zeros')")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _pair("Conv2d", "kernel_size", kernel_size)
        self.stride = _pair("Conv2d", "stride", stride)
        self.padding = padding if isinstance(padding, str) else _pair("Conv2d", "padding", padding)
        self.dilation = _pair("Conv2d", "dilation", dilation)
        self.padding_mode = padding_mode
        self.weight = _parameter(out_channels, in_channels // groups, *self.kernel_size, dtype=dtype)
        if bias:
            self.bias = _parameter(out_channels, dtype=dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = math.prod(self.weight.shape[1:])  # torch's Conv2d: in_channels/groups x kernel
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return kittygrad_core.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                                     self.dilation, self.groups)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class MaxPool2d(Module):
    """2-D max pooling, as ``torch.nn.MaxPool2d`` (``return_indices`` and ``ceil_mode`` unsupported)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        if return_indices or ceil_mode:
            raise NotImplementedError("MaxPool2d: return_indices and ceil_mode are not supported")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return kittygrad_core.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """2-D average pooling, as ``torch.nn.AvgPool2d`` (``ceil_mode`` unsupported)."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        if ceil_mode:
            raise NotImplementedError("AvgPool2d: ceil_mode is not supported")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return kittygrad_core.avg_pool2d(input, self.kernel_size, self.stride, self.padding, False,
                                         self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
