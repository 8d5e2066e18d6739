"""Adam and AdamW."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .optimizer import Optimizer, _buffer, _step


class Adam(Optimizer):
    """Implements Adam (optionally AMSGrad), as ``torch.optim.Adam``; ``weight_decay`` is L2."""

    _decoupled = False
    _elementwise = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None) -> None:
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameters: {betas}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize, foreach=foreach))

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                state: dict[str, Any]) -> np.ndarray:
        lr, (beta1, beta2), eps, weight_decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if group["maximize"]:
            grad = -grad
        step = _step(state)
        exp_avg, exp_avg_sq = _buffer(state, "exp_avg", param), _buffer(state, "exp_avg_sq", param)
        if weight_decay:
            if self._decoupled:
                param = param * (1 - lr * weight_decay)
            else:
                grad = grad + weight_decay * param
        # torch's arithmetic, operation by operation, in one scratch array (no other temporary)
        scratch = np.subtract(grad, exp_avg)
        scratch *= 1 - beta1
        exp_avg += scratch  # torch's lerp: exp_avg + (grad - exp_avg) * (1 - beta1)
        exp_avg_sq *= beta2
        np.multiply(grad, 1 - beta2, out=scratch)
        scratch *= grad
        exp_avg_sq += scratch  # + (1 - beta2) * grad * grad
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        if group["amsgrad"]:
            max_sq = _buffer(state, "max_exp_avg_sq", param)
            np.maximum(max_sq, exp_avg_sq, out=max_sq)
            np.sqrt(max_sq, out=scratch)
        else:
            np.sqrt(exp_avg_sq, out=scratch)
        scratch /= bias_correction2_sqrt
        scratch += eps  # denom = sqrt(v) / sqrt(bias_correction2) + eps
        np.divide(exp_avg, scratch, out=scratch)
        scratch *= lr / bias_correction1
        return np.subtract(param, scratch, out=scratch)  # param - lr / bias_correction1 * exp_avg / denom


class AdamW(Adam):
    """Implements AdamW (decoupled weight decay), as ``torch.optim.AdamW``."""

    _decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach)
