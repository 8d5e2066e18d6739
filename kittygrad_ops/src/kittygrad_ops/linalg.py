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
        if input.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"dot(): 1D tensors expected, but got {input.ndim}D and {other.ndim}D "
                               "tensors")
        if input.shape != other.shape:
            raise RuntimeError("dot(): inconsistent tensor size, expected tensor [{}] and src [{}] to "
                               "have the same number of elements".format(*input.shape, *other.shape))
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
            raise RuntimeError("matmul(): both arguments to matmul need to be at least 1D, but they are "
                               f"{input.ndim}D and {other.ndim}D")
        inner = other.shape[0] if other.ndim == 1 else other.shape[-2]
        if input.shape[-1] != inner:
            raise RuntimeError(f"matmul(): shapes {input.shape} and {other.shape} cannot be multiplied "
                               f"({input.shape[-1]} != {inner})")
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



def _dims(op, tensors, ndims):
    """RuntimeError unless each argument (name, array) has its expected number of dims."""
    for (name, a), n in zip(tensors, ndims):
        if a.ndim != n:
            raise RuntimeError(f"{op}(): expected {name} to be a {n}-D tensor, but got a {a.ndim}-D "
                               f"tensor of shape {tuple(a.shape)}")


class Mm(_Promoting):
    """mm(input, mat2) -> Tensor

    Matrix product of two 2-D tensors, (n, m) @ (m, p) -> (n, p); no broadcasting."""

    name = "mm"
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.mm", shapes="mm")

    def forward(self, xp, input, mat2):
        _dims("mm", (("input", input), ("mat2", mat2)), (2, 2))
        if input.shape[1] != mat2.shape[0]:
            raise RuntimeError("mm(): mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})".format(
                *input.shape, *mat2.shape))
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
        _dims("mv", (("input", input), ("vec", vec)), (2, 1))
        if input.shape[1] != vec.shape[0]:
            raise RuntimeError(f"mv(): size mismatch, got input {tuple(input.shape)}, vec {tuple(vec.shape)}")
        input, vec = self._promote(input, vec)
        self.input, self.vec = input, vec
        return xp.matmul(input, vec)

    def backward(self, xp, grad):
        return self._cast_back((xp.multiply.outer(grad, self.vec) if self.needs_input_grad[0] else None,
                                xp.matmul(self.input.T, grad) if self.needs_input_grad[1] else None))


class Bmm(_Promoting):
    """bmm(input, mat2) -> Tensor

    Batched matrix product of 3-D tensors with equal batch sizes, (b, n, m) @ (b, m, p) -> (b, n, p);
    no broadcasting."""

    name = "bmm"
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.bmm", shapes="bmm")

    def forward(self, xp, input, mat2):
        _dims("bmm", (("input", input), ("mat2", mat2)), (3, 3))
        if input.shape[0] != mat2.shape[0] or input.shape[2] != mat2.shape[1]:
            raise RuntimeError(f"bmm(): expected mat2 of shape ({input.shape[0]}, {input.shape[2]}, *) "
                               f"for input of shape {tuple(input.shape)}, but got {tuple(mat2.shape)}")
        input, mat2 = self._promote(input, mat2)
        self.input, self.mat2 = input, mat2
        return xp.matmul(input, mat2)

    def backward(self, xp, grad):
        return self._cast_back((xp.matmul(grad, xp.swapaxes(self.mat2, 1, 2)) if self.needs_input_grad[0] else None,
                                xp.matmul(xp.swapaxes(self.input, 1, 2), grad) if self.needs_input_grad[1] else None))


class Outer(_Promoting):
    """outer(input, vec2) -> Tensor

    Outer product of two 1-D tensors, (n,) x (m,) -> (n, m). ``ger`` is an alias."""

    name = "outer"
    functions = methods = ("outer", "ger")
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.outer", shapes="outer")

    def forward(self, xp, input, vec2):
        _dims("outer", (("input", input), ("vec2", vec2)), (1, 1))
        input, vec2 = self._promote(input, vec2)
        self.input, self.vec2 = input, vec2
        return xp.multiply.outer(input, vec2)

    def backward(self, xp, grad):
        return self._cast_back((xp.matmul(grad, self.vec2) if self.needs_input_grad[0] else None,
                                xp.matmul(grad.T, self.input) if self.needs_input_grad[1] else None))


OPS = (Dot, Matmul, Mm, Mv, Bmm, Outer)
