"""``kitty.autograd.functional``: derivatives of functions of tensors (torch's names and signatures).

``vjp``, ``jvp`` and ``jacobian`` need first derivatives only. ``hessian``, ``hvp`` and ``vhp`` need
gradients of gradients (``create_graph=True``), which kittygrad does not compute yet.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._autograd import grad as _grad
from .._grad_mode import enable_grad
from .._tensor import Tensor, make_tensor

__all__ = ["jacobian", "jvp", "vjp"]


def _as_tuple(value: Any, what: str) -> tuple[tuple[Any, ...], bool]:
    if isinstance(value, Tensor):
        return (value,), False
    if isinstance(value, (tuple, list)) and all(isinstance(v, Tensor) for v in value):
        return tuple(value), True
    raise TypeError(f"{what} must be a Tensor or a tuple of Tensors, not {type(value).__name__}.")


def _prepare(inputs: Any) -> tuple[tuple[Any, ...], bool]:
    values, is_tuple = _as_tuple(inputs, "inputs")
    return tuple(make_tensor(v._data.copy(), True) for v in values), is_tuple


def _no_create_graph(create_graph: bool, name: str) -> None:
    if create_graph:
        raise NotImplementedError(f"{name}(create_graph=True) needs higher-order gradients, which kittygrad "
                                  "does not compute yet.")


def _outputs(func: Callable[..., Any], inputs: tuple[Any, ...]) -> tuple[tuple[Any, ...], bool]:
    with enable_grad():
        out = func(*inputs)
    return _as_tuple(out, "The outputs of func")


def _grads(outputs: tuple[Any, ...], inputs: tuple[Any, ...], grad_outputs: list[Any],
           strict: bool) -> list[Tensor]:
    wanting = [o for o in outputs if o.requires_grad]
    vectors = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not wanting:
        found: tuple[Any, ...] = (None,) * len(inputs)
    else:
        found = _grad(wanting, list(inputs), vectors, retain_graph=True, allow_unused=True)
    result = []
    for i, (x, g) in enumerate(zip(inputs, found)):
        if g is None:
            if strict:
                raise RuntimeError(f"The output of the user-provided function is independent of input {i}. "
                                   "This is not allowed in strict mode.")
            g = make_tensor(np.zeros_like(x._data))
        result.append(g)
    return result


def vjp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """Computes the dot product of a vector ``v`` and the Jacobian of ``func`` at ``inputs``.

    Returns ``(func_output, vjp)``; ``v`` may be omitted when ``func`` returns a one-element tensor.
    """
    _no_create_graph(create_graph, "vjp")
    xs, in_tuple = _prepare(inputs)
    outs, out_tuple = _outputs(func, xs)
    if v is None:
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the user-provided function returns a single "
                               "Tensor with a single element.")
        vs = [make_tensor(np.ones_like(outs[0]._data))]
    else:
        vs = list(_as_tuple(v, "v")[0])
        if len(vs) != len(outs) or any(a.shape != b.shape for a, b in zip(vs, outs)):
            raise RuntimeError(f"v has shapes {[tuple(a.shape) for a in vs]}, the outputs "
                               f"{[tuple(b.shape) for b in outs]}: they must match.")
    result = _grads(outs, xs, vs, strict)
    detached = tuple(make_tensor(o._data) for o in outs)
    return (detached if out_tuple else detached[0]), (tuple(result) if in_tuple else result[0])


def jacobian(func: Callable[..., Any], inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """The Jacobian of ``func`` at ``inputs``: for each output and input, a tensor of shape
    ``output.shape + input.shape`` (nested tuples when ``func`` or ``inputs`` are tuples)."""
    _no_create_graph(create_graph, "jacobian")
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError("Expected strategy to be either 'forward-mode' or 'reverse-mode', "
                         f"got {strategy!r}.")
    xs, in_tuple = _prepare(inputs)
    outs, out_tuple = _outputs(func, xs)
    rows: list[Any] = []  # tuples of blocks, then single blocks when the input is one tensor
    for out in outs:
        blocks = [np.zeros(out.shape + x.shape, dtype=np.result_type(out._data, x._data)) for x in xs]
        for flat in range(out.numel()):  # one vector-Jacobian product per output element
            one_hot = np.zeros(out.numel(), dtype=out._data.dtype)
            one_hot[flat] = 1
            vs = [make_tensor(one_hot.reshape(out.shape)) if o is out else make_tensor(np.zeros_like(o._data))
                  for o in outs]
            for block, g in zip(blocks, _grads(outs, xs, vs, strict)):
                block.reshape((out.numel(),) + g.shape)[flat] = g._data
        rows.append(tuple(make_tensor(b) for b in blocks))
    if not in_tuple:
        rows = [r[0] for r in rows]
    return tuple(rows) if out_tuple else rows[0]


def jvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """Computes the product of the Jacobian of ``func`` at ``inputs`` and a vector ``v``.

    Returns ``(func_output, jvp)``. Computed exactly from the Jacobian (one backward per output
    element); ``v`` may be omitted when ``inputs`` is a single one-element tensor.
    """
    _no_create_graph(create_graph, "jvp")
    xs, in_tuple = _prepare(inputs)
    if v is None:
        if len(xs) != 1 or xs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the input to the user-provided function "
                               "is a single Tensor with a single element.")
        vs = (make_tensor(np.ones_like(xs[0]._data)),)
    else:
        vs = _as_tuple(v, "v")[0]
        if len(vs) != len(xs) or any(a.shape != b.shape for a, b in zip(vs, xs)):
            raise RuntimeError(f"v has shapes {[tuple(a.shape) for a in vs]}, the inputs "
                               f"{[tuple(b.shape) for b in xs]}: they must match.")
    outs, out_tuple = _outputs(func, xs)
    jac = jacobian(func, tuple(xs), strict=strict)
    jac = jac if out_tuple else (jac,)
    products = []
    for out, row in zip(outs, jac):
        total = np.zeros(out.shape, dtype=out._data.dtype)
        for block, vec in zip(row, vs):
            total = total + np.tensordot(block._data, vec._data, axes=vec._data.ndim).astype(out._data.dtype)
        products.append(make_tensor(total))
    detached = tuple(make_tensor(o._data) for o in outs)
    return (detached if out_tuple else detached[0]), (tuple(products) if out_tuple else products[0])
