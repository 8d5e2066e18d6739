"""``gradcheck`` and ``gradgradcheck``: first and second derivatives against float64 central
differences."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._autograd import grad as _grad
from .._tensor import Tensor, make_tensor
from .functional import jacobian

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


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


def gradgradcheck(func: Callable[..., Any], inputs: Any, grad_outputs: Any = None, *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                  seed: int = 0) -> bool:
    """Checks the second derivatives of ``func`` at ``inputs`` (float64) against central differences.

    As torch's: the vector-Jacobian product ``J^T v`` of ``func``, computed with ``create_graph=True``,
    is itself checked by :func:`gradcheck`, as a function of the inputs and of ``v`` (``grad_outputs``,
    random if not given, drawn with ``seed``). Every op on the way must declare
    ``differentiable_backward``.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    outs = func(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        vectors = tuple(make_tensor(rng.standard_normal(o.shape), True) for o in outs)
    else:
        vectors = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)
        vectors = tuple(make_tensor(np.array(v._data, dtype=np.float64), True) for v in vectors)
    count = len(inputs)
    positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_derivative(*values: Any) -> tuple[Tensor, ...]:
        xs, vs = values[:count], values[count:]
        outputs = func(*xs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        wanted = [xs[p] for p in positions]
        grads = _grad([o for o in outputs if o.requires_grad], wanted,
                      [v for o, v in zip(outputs, vs) if o.requires_grad], create_graph=True, allow_unused=True)
        return tuple(g if g is not None else make_tensor(np.zeros_like(x._data)) for g, x in zip(grads, wanted))

    return gradcheck(first_derivative, (*inputs, *vectors), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
