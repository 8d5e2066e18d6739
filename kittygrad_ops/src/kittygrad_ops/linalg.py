"""Linear algebra: dot and matmul (every torch case: 1-D, 2-D and broadcast batches)."""
from __future__ import annotations

from kittygrad_core import Conformance, Op, unbroadcast


def _check_dtypes(op, a, b):
    if a.dtype != b.dtype:
        raise RuntimeError(f"{op}(): expected both arguments to have the same dtype, "
                           f"but got {a.dtype} and {b.dtype}")


class Dot(Op):
    """dot(input, other) -> Tensor

    Returns the inner product of two 1-D tensors of the same size."""

    name = "dot"
    saves = (0, 1)
    conformance = Conformance(torch="torch.dot", shapes="dot")

    def forward(self, xp, input, other):
        if input.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"dot(): 1D tensors expected, but got {input.ndim}D and {other.ndim}D "
                               "tensors")
        if input.shape != other.shape:
            raise RuntimeError("dot(): inconsistent tensor size, expected tensor [{}] and src [{}] to "
                               "have the same number of elements".format(*input.shape, *other.shape))
        _check_dtypes("dot", input, other)
        self.input, self.other = input, other
        return xp.dot(input, other)

    def backward(self, xp, grad):
        return grad * self.other, grad * self.input


class Matmul(Op):
    """matmul(input, other) -> Tensor

    Matrix product of two tensors: the dot product of 1-D tensors, matrix-vector and
    vector-matrix products, and batched products with broadcast batch dims."""

    name = "matmul"
    operators, reflected = ("__matmul__",), ("__rmatmul__",)
    saves = (0, 1)
    conformance = Conformance(torch="torch.matmul", shapes="matmul")

    def forward(self, xp, input, other):
        if input.ndim == 0 or other.ndim == 0:
            raise RuntimeError("matmul(): both arguments to matmul need to be at least 1D, but they are "
                               f"{input.ndim}D and {other.ndim}D")
        inner = other.shape[0] if other.ndim == 1 else other.shape[-2]
        if input.shape[-1] != inner:
            raise RuntimeError(f"matmul(): shapes {input.shape} and {other.shape} cannot be multiplied "
                               f"({input.shape[-1]} != {inner})")
        _check_dtypes("matmul", input, other)
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
            grad_a = unbroadcast(xp.matmul(g2, xp.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if self.needs_input_grad[1]:
            grad_b = unbroadcast(xp.matmul(xp.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return grad_a, grad_b


OPS = (Dot, Matmul)
