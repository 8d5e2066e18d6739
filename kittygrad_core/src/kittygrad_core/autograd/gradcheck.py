"""``gradcheck``: an op's or function's gradients against float64 central differences."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._tensor import Tensor
from .functional import jacobian

__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(RuntimeError):
    """The analytical and numerical Jacobians differ."""


def _numerical(func: Callable[..., Any], inputs: tuple[Any, ...], eps: float) -> list[list[np.ndarray]]:
    outs = func(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    blocks = [[np.zeros(o.shape + x.shape) for x in inputs] for o in outs]
    for j, x in enumerate(inputs):
        data = x.numpy()
        for index in np.ndindex(*data.shape):
            old = data[index]
            data[index] = old + eps
            plus = func(*inputs)
            data[index] = old - eps
            minus = func(*inputs)
            data[index] = old
            plus = plus if isinstance(plus, tuple) else (plus,)
            minus = minus if isinstance(minus, tuple) else (minus,)
            for i, (p, m) in enumerate(zip(plus, minus)):
                blocks[i][j][(...,) + index] = (p.numpy() - m.numpy()) / (2 * eps)
    return blocks


def gradcheck(func: Callable[..., Any], inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Checks the gradients of ``func`` at ``inputs`` (float64 tensors) against central differences.

    Every input that requires grad is perturbed element by element; the Jacobian that backward computes
    must match within ``atol + rtol * |numerical|``. Returns True, or raises :class:`GradcheckError`
    (returns False with ``raise_exception=False``). For plugin authors: the conformance suite uses torch,
    this needs nothing but kittygrad.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype != np.float64:
            raise GradcheckError(f"gradcheck(): input {i} is {x.dtype}; finite differences need float64.")
    wanted = tuple(x for x in inputs if isinstance(x, Tensor) and x.requires_grad)
    if not wanted:
        raise ValueError("gradcheck(): at least one input must be a Tensor that requires grad.")
    positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def on_wanted(*values: Tensor) -> Any:
        args = list(inputs)
        for p, v in zip(positions, values):
            args[p] = v
        return func(*args)

    analytical = jacobian(on_wanted, wanted)
    outs = func(*inputs)
    single_out = not isinstance(outs, tuple)
    rows = (analytical,) if single_out else analytical
    numerical = _numerical(on_wanted, wanted, eps)
    for i, row in enumerate(rows):
        row = row if isinstance(row, tuple) else (row,)
        for j, block in enumerate(row):
            a, n = block.numpy(), numerical[i][j]
            bad = np.abs(a - n) > atol + rtol * np.abs(n)
            if bad.any():
                where = np.unravel_index(np.argmax(bad), bad.shape)
                message = (f"Jacobian mismatch for output {i} with respect to input {positions[j]}: at "
                           f"{tuple(int(k) for k in where)} numerical {n[where]!r}, analytical {a[where]!r} "
                           f"({int(bad.sum())} of {bad.size} entries differ).")
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True
