"""Linear algebra: dot, matmul (every torch case: 1-D, 2-D and broadcast batches), mm, mv, bmm, outer.

Mixed float dtypes are promoted (float32 @ float64 -> float64), as the original kittygrad does; torch
raises instead. Each gradient is returned in its input's dtype.
"""
from __future__ import annotations

from kittygrad_core import Conformance, Op, unbroadcast


class _Promoting(Op):
    """Base of the products: promotes mixed dtypes in forward, casts gradients back in backward."""

    cast = None  # the inputs' dtypes, set only when forward promoted them

    def _promote(self, a, b):
        if a.dtype == b.dtype:
            return a, b
        self.cast = a.dtype, b.dtype
        dtype = a.dtype if a.dtype.itemsize > b.dtype.itemsize else b.dtype
        return a.astype(dtype), b.astype(dtype)

    def _cast_back(self, grads):
        if self.cast is None:
            return grads
        return tuple(None if g is None else g.astype(dt, copy=False) for g, dt in zip(grads, self.cast))


class Dot(_Promoting):
    """dot(input, other) -> Tensor

    Returns the inner product of two 1-D tensors of the same size."""

    name = "dot"
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.dot", shapes="dot")

    def forward(self, xp, input, other):
        _check_dot(input, other)
        input, other = self._promote(input, other)
        self.input, self.other = input, other
        return xp.dot(input, other)

    def backward(self, xp, grad):
        return self._cast_back((grad * self.other, grad * self.input))


class Matmul(_Promoting):
    """matmul(input, other) -> Tensor

    Matrix product of two tensors: the dot product of 1-D tensors, matrix-vector and
    vector-matrix products, and batched products with broadcast batch dims."""

    name = "matmul"
    operators, reflected = ("__matmul__",), ("__rmatmul__",)
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.matmul", shapes="matmul")

    def forward(self, xp, input, other):
        if input.ndim == 0 or other.ndim == 0:
            raise RuntimeError("Input tensors must not be scalars.")
        inner = other.shape[0] if other.ndim == 1 else other.shape[-2]
        if input.shape[-1] != inner:
            _matmul_mismatch(input, other)
        input, other = self._promote(input, other)
        self.input, self.other = input, other
        return xp.matmul(input, other)

    def backward(self, xp, grad):
        a, b = self.input, self.other
        # Treat vectors as matrices so that one rule covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        grad_a = grad_b = None
        if self.needs_input_grad[0]:
            grad_a = unbroadcast(xp.matmul(g2, xp.swapaxes(b2, -1, -2)), a2.shape)
            grad_a = grad_a.reshape(a.shape) if a.ndim == 1 else grad_a
        if self.needs_input_grad[1]:
            grad_b = unbroadcast(xp.matmul(xp.swapaxes(a2, -1, -2), g2), b2.shape)
            grad_b = grad_b.reshape(b.shape) if b.ndim == 1 else grad_b
        return self._cast_back((grad_a, grad_b))



# The shape checks of the products, with the original kittygrad's texts and in its order.


def _check_dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D tensors.")
    if input.size != other.size:
        raise RuntimeError("Inconsistent tensor size, expected tensor input and other to have the same "
                           f"number of elements, but got {input.size} and {other.size} elements respectively.")


def _check_mm(input, mat2):
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"2D tensors expected, but got {input.ndim}D and {mat2.ndim}D tensors.")
    if input.shape[-1] != mat2.shape[0]:
        raise RuntimeError("input and mat2 shapes cannot be multiplied ({}x{} and {}x{}).".format(
            *input.shape, *mat2.shape))


def _check_mv(input, vec):
    if input.ndim != 2:
        raise RuntimeError(f"input must be a matrix, not a {input.ndim}D tensor.")
    if vec.ndim != 1:
        raise RuntimeError(f"vec must be a vector, not a {vec.ndim}D tensor.")
    if input.shape[-1] != vec.size:
        raise RuntimeError("input and vec shapes cannot be multiplied ({}x{} and {}).".format(
            *input.shape, vec.size))


def _check_bmm(input, mat2):
    batch, batch2 = input.shape[:-2], mat2.shape[:-2]
    if batch != batch2:
        raise RuntimeError("Batch dimensions of both tensors must be equal, but got "
                           f"{batch} and {batch2} respectively.")
    if not batch:
        raise RuntimeError("The batch matrix-matrix product requires the "
                           "tensors to have at least 3 dimensions each.")
    if input.shape[-1] != mat2.shape[-2]:
        raise RuntimeError("input and mat2 matrix shapes cannot be multiplied ({}x{} and {}x{}).".format(
            *input.shape[-2:], *mat2.shape[-2:]))


def _matmul_mismatch(input, other):
    """Raises the error the original's matmul gives for mismatched inner sizes (it routes to dot, mm,
    mv or bmm and their texts)."""
    if input.ndim == other.ndim == 1:
        _check_dot(input, other)
    if input.ndim <= 2 and other.ndim == 2:
        _check_mm(input.reshape(1, -1) if input.ndim == 1 else input, other)
    if input.ndim == 2 and other.ndim == 1:
        _check_mv(input, other)
    a = input.reshape(1, -1) if input.ndim == 1 else input
    b = other.reshape(-1, 1) if other.ndim == 1 else other
    raise RuntimeError("input and mat2 matrix shapes cannot be multiplied ({}x{} and {}x{}).".format(
        *a.shape[-2:], *b.shape[-2:]))


def _bmm_shapes(draw):
    """Shapes for bmm: one or two equal batch dims (torch checks the 3-D case with bmm, else matmul)."""
    from hypothesis import strategies as st
    side = st.integers(0, 3)
    batch = tuple(draw(st.lists(side, min_size=1, max_size=2)))
    n, m, p = draw(side), draw(side), draw(side)
    return [batch + (n, m), batch + (m, p)]


class Mm(_Promoting):
    """mm(input, mat2) -> Tensor

    Matrix product of two 2-D tensors, (n, m) @ (m, p) -> (n, p); no broadcasting."""

    name = "mm"
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.mm", shapes="mm")

    def forward(self, xp, input, mat2):
        _check_mm(input, mat2)
        input, mat2 = self._promote(input, mat2)
        self.input, self.mat2 = input, mat2
        return xp.matmul(input, mat2)

    def backward(self, xp, grad):
        return self._cast_back((xp.matmul(grad, self.mat2.T) if self.needs_input_grad[0] else None,
                                xp.matmul(self.input.T, grad) if self.needs_input_grad[1] else None))


class Mv(_Promoting):
    """mv(input, vec) -> Tensor

    Product of a 2-D matrix and a 1-D vector, (n, m) @ (m,) -> (n,)."""

    name = "mv"
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.mv", shapes="mv")

    def forward(self, xp, input, vec):
        _check_mv(input, vec)
        input, vec = self._promote(input, vec)
        self.input, self.vec = input, vec
        return xp.matmul(input, vec)

    def backward(self, xp, grad):
        return self._cast_back((xp.multiply.outer(grad, self.vec) if self.needs_input_grad[0] else None,
                                xp.matmul(self.input.T, grad) if self.needs_input_grad[1] else None))


class Bmm(_Promoting):
    """bmm(input, mat2) -> Tensor

    Batched matrix product of tensors with equal batch dims, (b, n, m) @ (b, m, p) -> (b, n, p); no
    broadcasting. As in the original kittygrad, any number of batch dims (at least one) is accepted;
    torch takes 3-D tensors only."""

    name = "bmm"
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch=lambda torch, a, b: torch.bmm(a, b) if a.ndim == 3 else torch.matmul(a, b),
                              shapes=_bmm_shapes)

    def forward(self, xp, input, mat2):
        _check_bmm(input, mat2)
        input, mat2 = self._promote(input, mat2)
        self.input, self.mat2 = input, mat2
        return xp.matmul(input, mat2)

    def backward(self, xp, grad):
        return self._cast_back((xp.matmul(grad, xp.swapaxes(self.mat2, -1, -2)) if self.needs_input_grad[0] else None,
                                xp.matmul(xp.swapaxes(self.input, -1, -2), grad) if self.needs_input_grad[1] else None))


class Outer(_Promoting):
    """outer(input, vec2) -> Tensor

    Outer product of two 1-D tensors, (n,) x (m,) -> (n, m). ``ger`` is an alias."""

    name = "outer"
    functions = methods = ("outer", "ger")
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.outer", shapes="outer")

    def forward(self, xp, input, vec2):
        if input.ndim != 1 or vec2.ndim != 1:
            raise RuntimeError(f"outer(): expected 1-D tensors, but got {input.ndim}-D and {vec2.ndim}-D tensors")
        input, vec2 = self._promote(input, vec2)
        self.input, self.vec2 = input, vec2
        return xp.multiply.outer(input, vec2)

    def backward(self, xp, grad):
        return self._cast_back((xp.matmul(grad, self.vec2) if self.needs_input_grad[0] else None,
                                xp.matmul(grad.T, self.input) if self.needs_input_grad[1] else None))


OPS = (Dot, Matmul, Mm, Mv, Bmm, Outer)
