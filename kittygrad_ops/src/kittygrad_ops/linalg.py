"""Linear algebra: dot, matmul (every torch case: 1-D, 2-D and broadcast batches), mm, mv, bmm, outer,
einsum; the triangles tril and triu.

Mixed float dtypes are promoted (float32 @ float64 -> float64), as the original kittygrad does; torch
raises instead. Each gradient is returned in its input's dtype.
"""
from __future__ import annotations

import operator
import string
from typing import Any

import numpy as np

import kittygrad_core
from kittygrad_core import Composite, Conformance, Op, Tensor, unbroadcast
from kittygrad_core.extend import apply

from ._strategies import bmm_shapes, case_index, shapes


class _Promoting(Op):
    """Base of the products: promotes mixed dtypes, casts gradients back to each input's dtype.

    The slots named after the inputs keep the inputs as received; ``cast`` (their dtypes) is set only
    when they were promoted, and backward then promotes them again."""

    __slots__ = ("cast",)

    def _promote(self, a, b):
        if a.dtype == b.dtype:
            self.cast = None
            return a, b
        self.cast = a.dtype, b.dtype
        dtype = a.dtype if a.dtype.itemsize > b.dtype.itemsize else b.dtype
        return a.astype(dtype), b.astype(dtype)

    def _promoted(self, a, b):
        """The saved inputs as forward computed with them."""
        if self.cast is None:
            return a, b
        dtype = a.dtype if a.dtype.itemsize > b.dtype.itemsize else b.dtype
        return a.astype(dtype, copy=False), b.astype(dtype, copy=False)

    def _cast_back(self, grads):
        if self.cast is None:
            return grads
        return tuple(None if g is None else g.astype(dt, copy=False) for g, dt in zip(grads, self.cast))


class Dot(_Promoting):
    """dot(input, other) -> Tensor

    Returns the inner product of two 1-D tensors of the same size."""

    __slots__ = ("input", "other")

    name = "dot"
    differentiable_backward = True
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.dot", shapes="dot")

    def forward(self, xp, input, other):
        _check_dot(input, other)
        self.input, self.other = input, other
        input, other = self._promote(input, other)
        return xp.dot(input, other)

    def backward(self, xp, grad):
        a, b = self._promoted(self.input, self.other)
        return self._cast_back((grad * b, grad * a))


class Matmul(_Promoting):
    """matmul(input, other) -> Tensor

    Matrix product of two tensors: the dot product of 1-D tensors, matrix-vector and
    vector-matrix products, and batched products with broadcast batch dims."""

    __slots__ = ("input", "other")

    name = "matmul"
    differentiable_backward = True
    operators, reflected = ("__matmul__",), ("__rmatmul__",)
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.matmul", shapes="matmul")

    def forward(self, xp, input, other):
        if input.ndim == 0 or other.ndim == 0:
            raise RuntimeError("Input tensors must not be scalars.")
        inner = other.shape[0] if other.ndim == 1 else other.shape[-2]
        if input.shape[-1] != inner:
            _matmul_mismatch(input, other)
        self.input, self.other = input, other
        input, other = self._promote(input, other)
        return xp.matmul(input, other)

    def backward(self, xp, grad):
        a, b = self._promoted(self.input, self.other)
        needs_a, needs_b = self.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the layers' case, without the general case's reshaping
            return self._cast_back((xp.matmul(grad, b.T) if needs_a else None,
                                    xp.matmul(a.T, grad) if needs_b else None))
        # Treat vectors as matrices so that one rule covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        grad_a = grad_b = None
        if needs_a:
            grad_a = unbroadcast(xp.matmul(g2, xp.swapaxes(b2, -1, -2)), a2.shape)
            grad_a = grad_a.reshape(a.shape) if a.ndim == 1 else grad_a
        if needs_b:
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


class Mm(_Promoting):
    """mm(input, mat2) -> Tensor

    Matrix product of two 2-D tensors, (n, m) @ (m, p) -> (n, p); no broadcasting."""

    __slots__ = ("input", "mat2")

    name = "mm"
    differentiable_backward = True
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.mm", shapes="mm")

    def forward(self, xp, input, mat2):
        _check_mm(input, mat2)
        self.input, self.mat2 = input, mat2
        input, mat2 = self._promote(input, mat2)
        return xp.matmul(input, mat2)

    def backward(self, xp, grad):
        a, b = self._promoted(self.input, self.mat2)
        return self._cast_back((xp.matmul(grad, b.T) if self.needs_input_grad[0] else None,
                                xp.matmul(a.T, grad) if self.needs_input_grad[1] else None))


class Mv(_Promoting):
    """mv(input, vec) -> Tensor

    Product of a 2-D matrix and a 1-D vector, (n, m) @ (m,) -> (n,)."""

    __slots__ = ("input", "vec")

    name = "mv"
    differentiable_backward = True
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.mv", shapes="mv")

    def forward(self, xp, input, vec):
        _check_mv(input, vec)
        self.input, self.vec = input, vec
        input, vec = self._promote(input, vec)
        return xp.matmul(input, vec)

    def backward(self, xp, grad):
        a, b = self._promoted(self.input, self.vec)
        return self._cast_back((xp.multiply.outer(grad, b) if self.needs_input_grad[0] else None,
                                xp.matmul(a.T, grad) if self.needs_input_grad[1] else None))


class Bmm(_Promoting):
    """bmm(input, mat2) -> Tensor

    Batched matrix product of tensors with equal batch dims, (b, n, m) @ (b, m, p) -> (b, n, p); no
    broadcasting. As in the original kittygrad, any number of batch dims (at least one) is accepted;
    torch takes 3-D tensors only."""

    __slots__ = ("input", "mat2")

    name = "bmm"
    differentiable_backward = True
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch=lambda torch, a, b: torch.bmm(a, b) if a.ndim == 3 else torch.matmul(a, b),
                              shapes=bmm_shapes)

    def forward(self, xp, input, mat2):
        _check_bmm(input, mat2)
        self.input, self.mat2 = input, mat2
        input, mat2 = self._promote(input, mat2)
        return xp.matmul(input, mat2)

    def backward(self, xp, grad):
        a, b = self._promoted(self.input, self.mat2)
        return self._cast_back((xp.matmul(grad, xp.swapaxes(b, -1, -2)) if self.needs_input_grad[0] else None,
                                xp.matmul(xp.swapaxes(a, -1, -2), grad) if self.needs_input_grad[1] else None))


class Outer(_Promoting):
    """outer(input, vec2) -> Tensor

    Outer product of two 1-D tensors, (n,) x (m,) -> (n, m). ``ger`` is an alias."""

    __slots__ = ("input", "vec2")

    name = "outer"
    differentiable_backward = True
    functions = methods = ("outer", "ger")
    saves = {0: (1,), 1: (0,)}
    conformance = Conformance(torch="torch.outer", shapes="outer")

    def forward(self, xp, input, vec2):
        if input.ndim != 1 or vec2.ndim != 1:
            raise RuntimeError(f"outer(): expected 1-D tensors, but got {input.ndim}-D and {vec2.ndim}-D tensors")
        self.input, self.vec2 = input, vec2
        input, vec2 = self._promote(input, vec2)
        return xp.multiply.outer(input, vec2)

    def backward(self, xp, grad):
        a, b = self._promoted(self.input, self.vec2)
        return self._cast_back((xp.matmul(grad, b) if self.needs_input_grad[0] else None,
                                xp.matmul(grad.T, a) if self.needs_input_grad[1] else None))


def _parse_einsum(equation, shapes):
    """Subscripts of each operand and of the output, with ``...`` spelled out as letters.

    Ellipsis dims are right-aligned across operands (NumPy's and torch's broadcasting); an implicit
    output is the ellipsis dims followed by the letters used once, in alphabetical order.
    """
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): equation must be a str, got {type(equation).__name__}.")
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise RuntimeError(f"einsum(): the equation '{equation}' names {len(terms)} operands, but "
                           f"{len(shapes)} were given")
    used = set(equation) - set(".,->")
    if not all(c in string.ascii_letters for c in used):
        raise RuntimeError(f"einsum(): subscripts must be letters, got '{equation}'")
    spare = [c for c in string.ascii_letters if c not in used]
    widths = []
    for term, shape in zip(terms, shapes):
        width = len(shape) - len(term.replace("...", ""))
        if ("..." in term and width < 0) or ("..." not in term and width != 0):
            raise RuntimeError(f"einsum(): subscript '{term}' does not match an operand of shape {shape}")
        widths.append(max(width, 0))
    ellipsis = "".join(spare[:max(widths, default=0)])
    inputs = [t.replace("...", ellipsis[len(ellipsis) - w:]) for t, w in zip(terms, widths)]
    if arrow:
        output = rhs.replace("...", ellipsis)
    else:
        letters = "".join(inputs)
        output = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                           and c not in ellipsis))
    return inputs, output


def _onto_diagonal(xp: Any, partial: Any, letters: str, term: str, shape: tuple[int, ...]) -> Any:
    """``partial`` (over the unique ``letters``) spread onto the diagonal of an operand ``term`` with
    repeated letters: zero off it. One einsum with a constant mask, so it records under create_graph
    (a write through an einsum view would not). Without recording, that write: exact zeros off the
    diagonal, as torch's, where the mask's product would turn an inf or nan of ``partial`` into nan."""
    if xp is np:
        out = np.zeros(shape, partial.dtype)
        np.einsum(f"{term}->{letters}", out)[...] = partial  # a writable view of the diagonal
        return out
    free = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in term)
    seen: set[str] = set()
    spread = ""  # term with each repeat renamed, so that the output has no repeated letter
    for c in term:
        spread += next(free) if c in seen else c
        seen.add(c)
    index = np.indices(shape, sparse=True)
    mask = np.ones(shape, dtype=partial.dtype)
    for c in set(term):
        positions = [p for p, d in enumerate(term) if d == c]
        for p in positions[1:]:
            mask = mask * (index[positions[0]] == index[p])
    return xp.einsum(f"{letters},{spread}->{spread}", partial, mask)


class Einsum(Op):
    """_einsum(*operands, equation) -> Tensor

    The record behind ``einsum``: sums the products of ``operands`` over the letters of ``equation``
    missing from its output. The gradient of each operand is the einsum of the output gradient with
    the other operands; letters repeated in one operand (diagonals) get it on their diagonal only."""

    # `operands`: promoted copies, one per input (a slot named after the variadic input: under
    # create_graph each element reads as that input, attached to the graph)
    __slots__ = ("terms", "output", "dtypes", "operands")

    name = "_einsum"
    differentiable_backward = True
    functions = methods = ()
    conformance = Conformance(torch=lambda torch, *xs, equation: torch.einsum(equation, *xs),
                              shapes=lambda draw: _EINSUM_CASES[draw(case_index(len(_EINSUM_CASES)))][1], inputs=2,
                              options={"equation": lambda draw, shapes: _einsum_equation(shapes)},
                              call=lambda kitty, *xs, equation: kitty.einsum(equation, *xs))

    def forward(self, xp, *operands, equation):
        self.terms, self.output = _parse_einsum(equation, [x.shape for x in operands])
        dtype = np.result_type(*operands)  # mixed float dtypes promote, as in the other products
        self.dtypes = [x.dtype for x in operands]
        # copies: a sequence input has no version check (saves indexes fixed inputs), so backward
        # must not see the operands change in place after this forward
        self.operands = copies = [x.astype(dtype, copy=True) for x in operands]
        spec = ",".join(self.terms) + "->" + self.output
        try:
            return xp.asarray(xp.einsum(spec, *copies), dtype=dtype)
        except ValueError as error:
            raise RuntimeError(f"einsum(): '{equation}' cannot be applied to operands of shapes "
                               f"{', '.join(str(x.shape) for x in copies)}: {error}") from None

    def backward(self, xp, grad):
        grads: list[Any] = []
        operands, inputs = self.operands, self.terms
        for k, (x, term) in enumerate(zip(operands, inputs)):
            if not self.needs_input_grad[k]:
                grads.append(None)
                continue
            letters = "".join(dict.fromkeys(term))  # unique, in order
            others = [(t, y) for j, (t, y) in enumerate(zip(inputs, operands)) if j != k]
            known = set(self.output).union(*(t for t, _ in others))
            kept = "".join(c for c in letters if c in known)
            spec = ",".join([self.output] + [t for t, _ in others]) + "->" + kept
            partial = xp.einsum(spec, grad, *(y for _, y in others))
            # letters summed only within this operand: the gradient is constant along them
            sizes = {c: n for t, y in zip(inputs, operands) for c, n in zip(t, y.shape) if n != 1}
            full = tuple(sizes.get(c, 1) for c in letters)
            partial = partial.reshape(tuple(sizes.get(c, 1) if c in kept else 1 for c in letters))
            partial = xp.broadcast_to(partial, full)
            # size-1 dims of this operand that other operands broadcast
            shape_u = tuple(x.shape[term.index(c)] for c in letters)
            partial = unbroadcast(partial, shape_u)
            if len(letters) != len(term):  # repeated letters: the gradient lives on the diagonal
                partial = _onto_diagonal(xp, partial, letters, term, x.shape)
            # asarray, not ascontiguousarray, which makes a 0-d operand's gradient 1-d
            grads.append(xp.asarray(partial, dtype=self.dtypes[k]))
        return tuple(grads)


class EinsumCall(Composite):
    """einsum(equation, *operands) -> Tensor

    Sums the product of the elements of ``operands`` over the dimensions named by the letters of
    ``equation`` (NumPy's and torch's notation, e.g. ``"ij,jk->ik"``, ``"bii->bi"``, ``"...ij->...ji"``)
    that do not appear in its output. ``operands`` may also be given as one list."""

    name = "einsum"
    methods = ()
    conformance = Conformance(torch=lambda torch, *xs, equation: torch.einsum(equation, *xs),
                              shapes=lambda draw: _EINSUM_CASES[draw(case_index(len(_EINSUM_CASES)))][1], inputs=2,
                              options={"equation": lambda draw, shapes: _einsum_equation(shapes)},
                              call=lambda kitty, *xs, equation: kitty.einsum(equation, xs))

    @staticmethod
    def call(equation, *operands):
        if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
            operands = tuple(operands[0])
        for i, x in enumerate(operands):
            if not isinstance(x, Tensor):
                raise TypeError(f"einsum(): operand {i} must be a Tensor, not {type(x).__name__}.")
        return apply(kittygrad_core.registry["_einsum"], operands, (), {"equation": equation})


# Two-operand conformance cases, told apart by the ranks of their shapes.
_EINSUM_CASES: list[Any] = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 1)]),
    ("i,i->", [(4,), (4,)]),
    ("i,ij->j", [(3,), (3, 2)]),
    ("ij,j", [(3, 4), (4,)]),
    ("...ij,...jk->...ik", [(1, 2, 2, 3), (4, 1, 3, 2)]),
    ("iij,j->i", [(3, 3, 2), (2,)]),
    ("ijk,ij->ik", [(2, 3, 4), (2, 3)]),
]


def _einsum_equation(shapes):
    for equation, case in _EINSUM_CASES:
        if [len(s) for s in case] == [len(s) for s in shapes] and list(map(tuple, shapes)) == case:
            return equation
    raise AssertionError(f"no einsum conformance case for shapes {shapes}")


# ---------------------------------------------------------------- triangles


def _triangle_conformance(name):
    return Conformance(torch=f"torch.{name}", shapes=shapes(2, 4, 3), inputs=1,
                       options={"diagonal": [0, 1, -1, 2, -3]})


def _diagonal(op, diagonal):
    """``diagonal`` as an int; torch also takes NumPy integers (and 0-d integer arrays), nothing else."""
    if isinstance(diagonal, (bool, np.bool_, Tensor)) or not hasattr(diagonal, "__index__"):
        raise TypeError(f"{op}(): argument 'diagonal' must be int, not {type(diagonal).__name__}.")
    try:
        return operator.index(diagonal)
    except TypeError:  # an integer array of more than one dim or element
        raise TypeError(f"{op}(): argument 'diagonal' must be int, not {type(diagonal).__name__}.") from None


def _matrices(op, input):
    if input.ndim < 2:
        raise RuntimeError(f"{op}(): input tensor must have at least 2 dimensions, got {input.ndim}")


class Tril(Op):
    """tril(input, diagonal=0) -> Tensor

    Returns the lower triangle of the matrices of ``input`` (its last two dims): the elements on and
    below the ``diagonal``-th diagonal, the others zero."""

    __slots__ = ("diagonal",)

    name = "tril"
    differentiable_backward = True
    conformance = _triangle_conformance("tril")

    def forward(self, xp, input, diagonal=0):
        _matrices("tril", input)
        if diagonal.__class__ is not int:
            diagonal = _diagonal("tril", diagonal)
        self.diagonal = diagonal
        return xp.tril(input, diagonal)

    def backward(self, xp, grad):
        return xp.tril(grad, self.diagonal)


class Triu(Op):
    """triu(input, diagonal=0) -> Tensor

    Returns the upper triangle of the matrices of ``input`` (its last two dims): the elements on and
    above the ``diagonal``-th diagonal, the others zero."""

    __slots__ = ("diagonal",)

    name = "triu"
    differentiable_backward = True
    conformance = _triangle_conformance("triu")

    def forward(self, xp, input, diagonal=0):
        _matrices("triu", input)
        if diagonal.__class__ is not int:
            diagonal = _diagonal("triu", diagonal)
        self.diagonal = diagonal
        return xp.triu(input, diagonal)

    def backward(self, xp, grad):
        return xp.triu(grad, self.diagonal)


OPS = (Dot, Matmul, Mm, Mv, Bmm, Outer, Einsum, EinsumCall, Tril, Triu)
