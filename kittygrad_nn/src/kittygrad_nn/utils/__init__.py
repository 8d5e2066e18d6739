"""``kitty.utils`` (``torch.utils``'s ``data``) and ``kitty.nn.utils`` (``torch.nn.utils``'s gradient clipping)."""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from kittygrad_core import Tensor
from kittygrad_core.extend import write_

from .. import data
from .._module import leaf_grad

__all__ = ["clip_grad_norm_", "clip_grad_value_", "data"]


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Scales the gradients in place so that their total norm is at most ``max_norm``; returns the norm."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [g for g in map(leaf_grad, params) if g is not None]
    if not grads:
        return Tensor(0.0)
    if norm_type == math.inf:
        total = max(float(np.abs(g.numpy()).max()) for g in grads)
    else:
        total = float(sum(float((np.abs(g.numpy()) ** norm_type).sum()) for g in grads) ** (1.0 / norm_type))
    coefficient = max_norm / (total + 1e-6)
    if coefficient < 1:
        for grad in grads:
            write_(grad, grad.numpy() * coefficient)
    return Tensor(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamps the gradients in place to ``[-clip_value, clip_value]``."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for grad in map(leaf_grad, params):
        if grad is not None:
            write_(grad, np.clip(grad.numpy(), -clip_value, clip_value))
