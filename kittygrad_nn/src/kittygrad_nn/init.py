"""``torch.nn.init`` for kittygrad: in-place initialisers.

Each fills its tensor in place without recording a graph, draws from ``kittygrad_core.generator()`` (so
``kitty.manual_seed`` makes initialisation reproducible), bumps the tensor's version and returns it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

import kittygrad_core as _core
from kittygrad_core import Tensor
from kittygrad_core.extend import write_

__all__ = [
    "calculate_gain", "constant_", "kaiming_normal", "kaiming_normal_", "kaiming_uniform", "kaiming_uniform_",
    "normal_", "ones_", "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table)."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _fill(tensor: Tensor, values: Any) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected a Tensor, got {type(tensor).__name__}")
    return write_(tensor, values)


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Fills ``tensor`` with values drawn uniformly from ``[a, b)``."""
    rng = generator or _core.generator()
    return _fill(tensor, rng.uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:
    """Fills ``tensor`` with values drawn from ``N(mean, std**2)``."""
    rng = generator or _core.generator()
    return _fill(tensor, rng.normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fills ``tensor`` with ``val``."""
    return _fill(tensor, val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fills ``tensor`` with zeros."""
    return _fill(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    """Fills ``tensor`` with ones."""
    return _fill(tensor, 1.0)


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot uniform: ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot normal: ``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:
    """He uniform: ``U(-b, b)`` with ``b = gain * sqrt(3 / fan)``."""
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:
    """He normal: ``N(0, std**2)`` with ``std = gain / sqrt(fan)``."""
    if 0 in tensor.shape:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


def _original_fan_in(shape: Any) -> int:
    shape = tuple(shape)
    if len(shape) != 2:
        raise ValueError(f"There is no rule for determining fan in and fan out for a tensor with shape {shape}.")
    return shape[0]


def kaiming_uniform(shape: Any, dtype: Any = None, requires_grad: bool = True,
                    nonlinearity: str = "relu") -> Tensor:
    """The original kittygrad's He-uniform initializer: a new 2-D tensor of ``shape`` (fan_in, fan_out)
    drawn from ``U(-b, b)`` with ``b = gain * sqrt(3 / fan_in)``; it requires grad by default."""
    bound = calculate_gain(nonlinearity) * math.sqrt(3.0 / _original_fan_in(shape))
    values = _core.generator().uniform(-bound, bound, tuple(shape))
    return _core.tensor(values, dtype=_core.float32 if dtype is None else dtype, requires_grad=requires_grad)


def kaiming_normal(shape: Any, dtype: Any = None, requires_grad: bool = True,
                   nonlinearity: str = "relu") -> Tensor:
    """The original kittygrad's He-normal initializer: a new 2-D tensor of ``shape`` (fan_in, fan_out)
    drawn from ``N(0, std**2)`` with ``std = gain / sqrt(fan_in)``; it requires grad by default."""
    std = calculate_gain(nonlinearity) / math.sqrt(_original_fan_in(shape))
    values = _core.generator().normal(0.0, std, tuple(shape))
    return _core.tensor(values, dtype=_core.float32 if dtype is None else dtype, requires_grad=requires_grad)
