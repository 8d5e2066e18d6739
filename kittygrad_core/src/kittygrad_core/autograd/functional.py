"""``kitty.autograd.functional``: derivatives of functions of tensors (torch's names and signatures).

``vjp``, ``jvp`` and ``jacobian`` need first derivatives only, unless ``create_graph=True`` asks for
results that can be differentiated again; ``hessian``, ``hvp`` and ``vhp`` differentiate gradients
(``create_graph`` passes: every op on the way must declare ``differentiable_backward``). With
``create_graph=True`` the results are recorded (through the array namespace of kittygrad-ops, so core
names no op) and have a history back to ``inputs`` that require grad, as in torch.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _higher_order
from .._autograd import grad as _grad
from .._grad_mode import enable_grad
from .._tensor import Tensor, make_tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


def _as_tuple(value: Any, what: str) -> tuple[tuple[Any, ...], bool]:
    if isinstance(value, Tensor):
        return (value,), False
    if isinstance(value, (tuple, list)) and all(isinstance(v, Tensor) for v in value):
        return tuple(value), True
    raise TypeError(f"{what} must be a Tensor or a tuple of Tensors, not {type(value).__name__}.")


def _prepare(inputs: Any, create_graph: bool = False) -> tuple[tuple[Any, ...], bool]:
    """The inputs func is evaluated at: fresh leaves, or (``create_graph``) the inputs themselves when
    they require grad, so that the results have a history back to them (torch's rule)."""
    values, is_tuple = _as_tuple(inputs, "inputs")
    return tuple(v if create_graph and v._requires_grad else make_tensor(v._data.copy(), True)
                 for v in values), is_tuple


def _outputs(func: Callable[..., Any], inputs: tuple[Any, ...]) -> tuple[tuple[Any, ...], bool]:
    with enable_grad():
        out = func(*inputs)
    return _as_tuple(out, "The outputs of func")


def _grads(outputs: tuple[Any, ...], inputs: tuple[Any, ...], grad_outputs: list[Any],
           strict: bool, create_graph: bool = False, what: str = "output") -> list[Tensor]:
    wanting = [o for o in outputs if o.requires_grad]
    vectors = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    if not wanting:
        found: tuple[Any, ...] = (None,) * len(inputs)
    else:
        found = _grad(wanting, list(inputs), vectors, retain_graph=True, create_graph=create_graph,
                      allow_unused=True)
    result = []
    for i, (x, g) in enumerate(zip(inputs, found)):
        if g is None:
            if strict:
                raise RuntimeError(f"The {what} of the user-provided function is independent of input {i}. "
                                   "This is not allowed in strict mode.")
            g = make_tensor(np.zeros_like(x._data))
        result.append(g)
    return result


def _input_vectors(v: Any, xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The vector ``v`` of a product with the inputs' side (jvp, hvp, vhp), checked against ``xs``."""
    if v is None:
        if len(xs) != 1 or xs[0].numel() != 1:
            raise RuntimeError("The vector v can only be None if the input to the user-provided function "
                               "is a single Tensor with a single element.")
        return (make_tensor(np.ones_like(xs[0]._data)),)
    vs = _as_tuple(v, "v")[0]
    if len(vs) != len(xs) or any(a.shape != b.shape for a, b in zip(vs, xs)):
        raise RuntimeError(f"v has shapes {[tuple(a.shape) for a in vs]}, the inputs "
                           f"{[tuple(b.shape) for b in xs]}: they must match.")
    return vs


def _results(outputs: tuple[Any, ...], create_graph: bool) -> tuple[Any, ...]:
    """func's outputs as returned: detached, unless ``create_graph`` keeps their history."""
    return outputs if create_graph else tuple(make_tensor(o._data) for o in outputs)


def vjp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """Computes the dot product of a vector ``v`` and the Jacobian of ``func`` at ``inputs``.

    Returns ``(func_output, vjp)``; ``v`` may be omitted when ``func`` returns a one-element tensor.
    """
    xs, in_tuple = _prepare(inputs, create_graph)
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
    result = _grads(outs, xs, vs, strict, create_graph)
    returned = _results(outs, create_graph)
    return (returned if out_tuple else returned[0]), (tuple(result) if in_tuple else result[0])


def jacobian(func: Callable[..., Any], inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """The Jacobian of ``func`` at ``inputs``: for each output and input, a tensor of shape
    ``output.shape + input.shape`` (nested tuples when ``func`` or ``inputs`` are tuples)."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError("Expected strategy to be either 'forward-mode' or 'reverse-mode', "
                         f"got {strategy!r}.")
    xs, in_tuple = _prepare(inputs, create_graph)
    outs, out_tuple = _outputs(func, xs)
    rows: list[Any] = []  # tuples of blocks, then single blocks when the input is one tensor
    for out in outs:
        products = []  # one vector-Jacobian product per output element
        for flat in range(out.numel()):
            one_hot = np.zeros(out.numel(), dtype=out._data.dtype)
            one_hot[flat] = 1
            vs = [make_tensor(one_hot.reshape(out.shape)) if o is out else make_tensor(np.zeros_like(o._data))
                  for o in outs]
            products.append(_grads(outs, xs, vs, strict, create_graph))
        rows.append(tuple(_block(out, x, [p[j] for p in products], create_graph) for j, x in enumerate(xs)))
    if not in_tuple:
        rows = [r[0] for r in rows]
    return tuple(rows) if out_tuple else rows[0]


def _block(out: Tensor, x: Tensor, products: list[Tensor], create_graph: bool) -> Tensor:
    """The block d out / d x of a Jacobian from its rows (one per element of ``out``)."""
    shape = tuple(out.shape) + tuple(x.shape)
    if not create_graph or not any(p._requires_grad for p in products):
        block = np.zeros(shape, dtype=np.result_type(out._data, x._data))
        rows = block.reshape((out.numel(),) + tuple(x.shape))
        for flat, g in enumerate(products):
            rows[flat] = g._data
        return make_tensor(block)
    ns = _higher_order.namespace()
    recorded: Tensor = ns.unwrap(ns.stack([ns.wrap(g) for g in products]).reshape(shape))
    return recorded


def jvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """Computes the product of the Jacobian of ``func`` at ``inputs`` and a vector ``v``.

    Returns ``(func_output, jvp)``; ``v`` may be omitted when ``inputs`` is a single one-element tensor.
    Computed exactly from the Jacobian (one backward per output element); with ``create_graph=True``,
    by torch's double-vjp trick (the gradient of a vector-Jacobian product with respect to its vector).
    """
    xs, in_tuple = _prepare(inputs, create_graph)
    vs = _input_vectors(v, xs)
    outs, out_tuple = _outputs(func, xs)
    if create_graph:
        # J v = d/du <J^T u, v>: the vjp is linear in u, so its gradient in u is J v, recorded
        us = [make_tensor(np.zeros_like(o._data), True) for o in outs]
        firsts = _grads(outs, xs, us, strict, create_graph=True)
        pairs = [(f, vec) for f, vec in zip(firsts, vs) if f._requires_grad]
        found = _grad([f for f, _ in pairs], us, [vec for _, vec in pairs], create_graph=True,
                      allow_unused=True) if pairs else (None,) * len(us)
        products = [g if g is not None else make_tensor(np.zeros_like(o._data)) for g, o in zip(found, outs)]
        return (outs if out_tuple else outs[0]), (tuple(products) if out_tuple else products[0])
    jac = jacobian(func, tuple(xs), strict=strict)
    jac = jac if out_tuple else (jac,)
    results = []
    for out, row in zip(outs, jac):
        total = np.zeros(out.shape, dtype=out._data.dtype)
        for block, vec in zip(row, vs):
            total = total + np.tensordot(block._data, vec._data, axes=vec._data.ndim).astype(out._data.dtype)
        results.append(make_tensor(total))
    detached = _results(outs, False)
    return (detached if out_tuple else detached[0]), (tuple(results) if out_tuple else results[0])


def _scalar_function(func: Callable[..., Any], name: str) -> Callable[..., Tensor]:
    def checked(*inputs: Any) -> Tensor:
        out = func(*inputs)
        if not isinstance(out, Tensor):
            raise RuntimeError(f"The function given to {name} should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError(f"The Tensor returned by the function given to {name} should contain a "
                               "single element")
        return out
    return checked


def hessian(func: Callable[..., Any], inputs: Any, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a scalar function ``func`` at ``inputs``: for each pair of inputs a tensor of
    shape ``input_i.shape + input_j.shape`` (nested tuples when ``inputs`` is a tuple)."""
    scalar = _scalar_function(func, "hessian")
    _, in_tuple = _as_tuple(inputs, "inputs")

    def gradient(*xs: Tensor) -> Any:
        out = scalar(*xs)
        grads = _grads((out,), xs, [make_tensor(np.ones_like(out._data))], strict, create_graph=True)
        return tuple(grads) if in_tuple else grads[0]

    return jacobian(gradient, inputs, create_graph=create_graph, strict=strict,
                    strategy=outer_jacobian_strategy)


def vhp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """Computes ``v^T H`` for the Hessian ``H`` of a scalar function ``func`` at ``inputs``.

    Returns ``(func_output, vhp)``.
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func: Callable[..., Any], inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:
    """Computes ``H v`` for the Hessian ``H`` of a scalar function ``func`` at ``inputs``.

    Returns ``(func_output, hvp)``. For twice continuously differentiable functions ``H`` is
    symmetric and this equals :func:`vhp`, which is how it is computed.
    """
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func: Callable[..., Any], inputs: Any, v: Any, create_graph: bool, strict: bool,
                     name: str) -> tuple[Any, Any]:
    xs, in_tuple = _prepare(inputs, create_graph)
    vs = _input_vectors(v, xs)
    with enable_grad():
        out = _scalar_function(func, name)(*xs)
    firsts = _grads((out,), xs, [make_tensor(np.ones_like(out._data))], strict, create_graph=True)
    # v^T H = d<grad, v>/dx: the gradient of the first gradients with v as their "vector"
    products = _grads(tuple(firsts), xs, list(vs), strict, create_graph, what="hessian")
    returned = _results((out,), create_graph)[0]
    return returned, (tuple(products) if in_tuple else products[0])
