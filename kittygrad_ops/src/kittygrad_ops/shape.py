"""Shape ops: views (transpose, permute, squeeze, expand, view, narrow, ...), joins (cat, stack), flip.

View records set ``view = True``: their forward returns a NumPy view of the input, and the dispatcher
makes the output share the input's version counter (and ``_base``). ``reshape`` and ``flatten`` are
views only when NumPy can reshape without copying; otherwise they route to the copying record
``_reshape_copy``, whose output shares nothing. Ops whose torch method takes ``*sizes`` (``permute``,
``view``, ``reshape``, ``expand``) are composites that read the sizes and call an unbound record.
"""
from __future__ import annotations

import warnings

import numpy as np

import kittygrad_core as kitty
from kittygrad_core import Composite, Conformance, Op, Tensor
from kittygrad_core.extend import apply

from ._dims import check_dims, infer_shape, normalize_dim, reduction_axes, size_args
from ._strategies import (
    expanded,
    flatten_end,
    flatten_start,
    flip_dims,
    narrow_args,
    newdims,
    permutation,
    shapes,
    target_shape,
    with_ones,
)


def _tensor(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be a Tensor, not {type(x).__name__}.")
    return x


def _record(name):
    """The registered record ``name`` (looked up per call, so an override takes effect)."""
    return kitty.registry[name]


def _unsqueeze_reference(torch, x, dim):
    """torch.unsqueeze, applied once per new position (in increasing order) for a tuple of dims."""
    if isinstance(dim, int):
        return torch.unsqueeze(x, dim)
    ndim = x.ndim + len(dim)
    for axis in sorted(d % ndim for d in dim):
        x = torch.unsqueeze(x, axis)
    return x


# ---------------------------------------------------------------- views

class Transpose(Op):
    """transpose(input, dim0, dim1) -> Tensor

    Returns a view of ``input`` with dimensions ``dim0`` and ``dim1`` swapped."""

    __slots__ = ("dim0", "dim1")

    name = "transpose"
    differentiable_backward = True
    functions = methods = ("transpose", "swapaxes", "swapdims")
    n_inputs = 1
    view = True
    # The original kittygrad refuses 0-d tensors (torch returns them unchanged): so does the reference.
    # Shapes start at 1-d: drawn 0-d cases would all be refused, and a suite that sees most cases
    # refused fails the op (tests/test_original_compat.py covers the 0-d refusal).
    conformance = Conformance(torch=lambda torch, x, dim0, dim1: _scalar_transpose() if x.ndim == 0
                              else torch.transpose(x, dim0, dim1),
                              shapes=shapes(1), inputs=1, options={"dim0": "dim", "dim1": "dim"})

    def forward(self, xp, input, dim0, dim1):
        if input.ndim == 0:
            _scalar_transpose()
        self.dim0 = normalize_dim("transpose", dim0, input.ndim)
        self.dim1 = normalize_dim("transpose", dim1, input.ndim)
        return xp.swapaxes(input, self.dim0, self.dim1)

    def backward(self, xp, grad):
        return xp.swapaxes(grad, self.dim0, self.dim1)


def _scalar_transpose():
    raise RuntimeError("Scalar cannot be transposed.")


class PermuteView(Op):
    """_permute(input, dims) -> Tensor

    The record behind ``permute``: a view of ``input`` with its dimensions reordered as ``dims``."""

    __slots__ = ("axes",)

    name = "_permute"
    differentiable_backward = True
    functions = methods = ()
    n_inputs = 1
    view = True
    conformance = Conformance(torch="torch.permute", shapes=shapes(0), inputs=1,
                              options={"dims": permutation},
                              call=lambda kitty, x, dims: kitty.permute(x, dims))

    def forward(self, xp, input, dims):
        if len(dims) != input.ndim:  # the original's checks and texts, in its order
            raise RuntimeError("Number of dimensions in the tensor input does not match the length of the "
                               f"desired ordering of dimensions i.e. input.dim() = {input.ndim} is not "
                               f"equal to len(dims) = {len(dims)}.")
        check_dims(tuple(dims), input.ndim)
        self.axes = axes = [d % max(input.ndim, 1) for d in dims]
        return xp.transpose(input, axes)

    def backward(self, xp, grad):
        return xp.transpose(grad, xp.argsort(self.axes))


class Permute(Composite):
    """permute(input, *dims) -> Tensor

    Returns a view with the dimensions reordered: ``x.permute(1, 0)``, ``x.permute((1, 0))`` or
    ``permute(x, (1, 0))``."""

    name = "permute"
    conformance = Conformance(torch=lambda torch, x, dims: x.permute(*dims) if dims else x.permute(()),
                              shapes=shapes(0),
                              inputs=1, options={"dims": permutation},
                              call=lambda kitty, x, dims: x.permute(*dims))

    @staticmethod
    def call(input, *dims):
        return apply(_record("_permute"), (_tensor("permute", input),), (size_args("permute", dims),))


class MatrixTranspose(Composite):
    """Tensor.mT -> Tensor

    A view of a (batch of) matri(ces) with the last two dimensions swapped."""

    name = "mT"
    functions = methods = ()
    properties = ("mT",)
    conformance = Conformance(torch=lambda torch, x: x.mT, shapes=shapes(2), inputs=1,
                              call=lambda kitty, x: x.mT)

    @staticmethod
    def call(input):
        if input.ndim < 2:
            raise RuntimeError("tensor.mT is only supported on matrices or batches of matrices. "
                               f"Got {input.ndim}D tensor.")
        return input.transpose(-2, -1)


class T(Composite):
    """Tensor.T -> Tensor

    The transpose of a matrix; for other ranks the dimensions are reversed with a deprecation
    warning, as torch does."""

    name = "T"
    functions = methods = ()
    properties = ("T",)
    conformance = Conformance(torch=lambda torch, x: x.T, shapes=shapes(2, 2), inputs=1,
                              call=lambda kitty, x: x.T)

    @staticmethod
    def call(input):
        if input.ndim == 2:
            return input.transpose(0, 1)
        warnings.warn("The use of `x.T` on tensors of dimension other than 2 to reverse their shape "
                      "is deprecated and it will throw an error in a future release. Consider `x.mT` "
                      "to transpose batches of matrices or `x.permute(*range(x.ndim - 1, -1, -1))` "
                      "to reverse the dimensions of a tensor.", UserWarning, stacklevel=2)
        return input.permute(*range(input.ndim - 1, -1, -1))


class Squeeze(Op):
    """squeeze(input, dim=None) -> Tensor

    Returns a view with the size-1 dimensions removed: all of them, or those among ``dim``
    (an int or a tuple); other dims named are kept."""

    __slots__ = ("shape",)

    name = "squeeze"
    differentiable_backward = True
    view = True

    conformance = Conformance(  # torch.squeeze takes no dim=None: call it without one
        torch=lambda torch, x, dim: torch.squeeze(x) if dim is None else torch.squeeze(x, dim),
        shapes=with_ones, inputs=1, options={"dim": "dims"})

    def forward(self, xp, input, dim=None):
        axes = reduction_axes("squeeze", dim, input.ndim, empty_is_all=False)
        if isinstance(dim, (tuple, list)) and not dim:
            axes = ()
        self.shape = input.shape
        return xp.squeeze(input, axis=tuple(a for a in axes if input.shape[a] == 1))

    def backward(self, xp, grad):
        return grad.reshape(self.shape)


class Unsqueeze(Op):
    """unsqueeze(input, dim) -> Tensor

    Returns a view with a size-1 dimension inserted at ``dim``. As in the original kittygrad (and
    NumPy's ``expand_dims``), ``dim`` may be a tuple: the positions of the new dims in the result."""

    __slots__ = ("axis",)

    name = "unsqueeze"
    differentiable_backward = True
    n_inputs = 1
    view = True
    conformance = Conformance(torch=_unsqueeze_reference, shapes="same", inputs=1,
                              options={"dim": newdims})

    def forward(self, xp, input, dim):
        if isinstance(dim, (tuple, list)):
            if not all(isinstance(d, int) and not isinstance(d, bool) for d in dim):
                raise TypeError(f"unsqueeze(): dims must be ints, got {tuple(dim)}.")
            ndim = input.ndim + len(dim)
            check_dims(tuple(dim), ndim)
            self.axis: int | tuple[int, ...] = tuple(d % ndim for d in dim)
        else:
            self.axis = normalize_dim("unsqueeze", dim, input.ndim, insert=True)
        return xp.expand_dims(input, self.axis)

    def backward(self, xp, grad):
        return xp.squeeze(grad, axis=self.axis)


class BroadcastTo(Op):
    """broadcast_to(input, shape) -> Tensor

    Returns a read-only view of ``input`` broadcast to ``shape``; ``-1`` keeps a dimension's size.
    The argument is named ``shape``, as in the original kittygrad (torch calls it ``size``)."""

    __slots__ = ("input_shape",)

    name = "broadcast_to"
    differentiable_backward = True
    n_inputs = 1
    view = True
    conformance = Conformance(torch=lambda torch, x, shape: torch.broadcast_to(x, size=shape),
                              shapes=shapes(0), inputs=1, options={"shape": expanded})

    def forward(self, xp, input, shape):
        size, shape = size_args("broadcast_to", (shape,)), input.shape
        lead = len(size) - len(shape)
        if lead < 0:
            raise RuntimeError(f"expand(): the number of sizes provided ({len(size)}) must be greater "
                               f"or equal to the number of dimensions in the tensor ({len(shape)})")
        # The original's checks and texts; a size of 0 stays allowed where torch allows it (to expand a
        # size-1 or empty dim, or as a new leading dim), which the original refused everywhere.
        for i, s in enumerate(size):
            n = shape[i - lead] if i >= lead else None
            if s < -1 or s == 0 and n not in (None, 0, 1):
                raise RuntimeError(f"The expanded size of the tensor ({s}) isn't allowed.")
        target = []
        for i, s in enumerate(size):
            n = shape[i - lead] if i >= lead else None
            if n is None and s == -1:
                raise RuntimeError("The expanded size of the tensor (-1) isn't allowed "
                                   f"in a leading, non-existing dimension {i}.")
            if s == -1 and n is not None:
                s = n
            elif n is not None and n != 1 and n != s:
                raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing size "
                                   f"({n}) at non-singleton dimension {i}. Target sizes: {tuple(size)}. "
                                   f"Tensor sizes: {tuple(shape)}.")
            target.append(s)
        self.input_shape = shape
        return xp.broadcast_to(input, tuple(target))

    def backward(self, xp, grad):
        return kitty.unbroadcast(grad, self.input_shape)


class Expand(Composite):
    """Tensor.expand(*sizes) -> Tensor

    Returns a read-only view broadcast to ``sizes`` (``-1`` keeps a size); no memory is allocated."""

    name = "expand"
    functions = ()
    conformance = Conformance(torch=lambda torch, x, size: x.expand(*size), shapes=shapes(0),
                              inputs=1, options={"size": expanded},
                              call=lambda kitty, x, size: x.expand(*size))

    @staticmethod
    def call(input, *sizes):
        sizes = size_args("expand", sizes)
        if len(sizes) == input.ndim and all(s in (-1, n) for s, n in zip(sizes, input.shape)):
            return input  # the original returns the tensor itself when nothing is expanded
        return input.broadcast_to(sizes)


class BroadcastTensors(Composite):
    """broadcast_tensors(*tensors) -> tuple of Tensors

    Broadcasts the tensors against each other; each result is a read-only view of its input."""

    name = "broadcast_tensors"
    methods = ()
    conformance = Conformance(torch="torch.broadcast_tensors", shapes="broadcast", inputs=2)

    @staticmethod
    def call(*tensors):
        try:
            shape = np.broadcast_shapes(*(_tensor("broadcast_tensors", t).shape for t in tensors))
        except ValueError:
            raise RuntimeError("broadcast_tensors(): shapes "
                               f"{', '.join(str(t.shape) for t in tensors)} cannot be broadcast "
                               "together.") from None
        return tuple(t.broadcast_to(shape) for t in tensors)


class View(Op):
    """_view(input, shape) -> Tensor

    The record behind ``view`` and viewable ``reshape``: ``input`` reshaped without copying.

    Raises ``RuntimeError`` when the strides do not allow it (``reshape`` then copies instead)."""

    __slots__ = ("input_shape",)

    name = "_view"
    differentiable_backward = True
    functions = methods = ()
    n_inputs = 1
    view = True
    conformance = Conformance(torch=lambda torch, x, shape: x.view(shape), shapes=shapes(0),
                              inputs=1, options={"shape": target_shape},
                              call=lambda kitty, x, shape: x.view(shape))

    def forward(self, xp, input, shape):
        shape = infer_shape("view", shape, input.shape)
        try:
            out = xp.reshape(input, shape, copy=False)
        except ValueError:
            raise RuntimeError(f"view(): view size {list(shape)} is not compatible with the strides of "
                               f"the input of shape {input.shape} (at least one dimension spans across "
                               "two contiguous subspaces). Use .reshape(...) instead.") from None
        self.input_shape = input.shape
        return out

    def backward(self, xp, grad):
        return grad.reshape(self.input_shape)


class ReshapeCopy(Op):
    """_reshape_copy(input, shape) -> Tensor

    The record behind ``reshape`` of data that cannot be viewed: a reshaped copy."""

    __slots__ = ("input_shape",)

    name = "_reshape_copy"
    differentiable_backward = True
    functions = methods = ()
    n_inputs = 1
    conformance = Conformance(torch="torch.reshape", shapes=shapes(0), inputs=1,
                              options={"shape": target_shape},
                              call=lambda kitty, x, shape: apply(_record("_reshape_copy"), (x,), (shape,)))

    def forward(self, xp, input, shape):
        self.input_shape = input.shape
        return xp.reshape(input, infer_shape("reshape", shape, input.shape), copy=True)

    def backward(self, xp, grad):
        return grad.reshape(self.input_shape)


class ViewMethod(Composite):
    """Tensor.view(*shape) -> Tensor

    Returns a view with the same data in ``shape`` (one ``-1`` is inferred); raises ``RuntimeError``
    when the tensor's strides do not allow it."""

    name = "view"
    functions = ()
    conformance = Conformance(torch=lambda torch, x, shape: x.view(*shape), shapes=shapes(0),
                              inputs=1, options={"shape": target_shape},
                              call=lambda kitty, x, shape: x.view(*shape))

    @staticmethod
    def call(input, *shape):
        return apply(_record("_view"), (_tensor("view", input),), (size_args("view", shape),))


class Reshape(Composite):
    """reshape(input, *shape) -> Tensor

    Returns ``input`` in ``shape`` (one ``-1`` is inferred): a view sharing memory and version when the
    strides allow it, otherwise a copy."""

    name = "reshape"
    conformance = Conformance(torch="torch.reshape", shapes=shapes(0), inputs=1,
                              options={"shape": target_shape},
                              call=lambda kitty, x, shape: kitty.reshape(x, shape))

    @staticmethod
    def call(input, *shape):
        shape = infer_shape("reshape", size_args("reshape", shape), _tensor("reshape", input).shape)
        view = _viewable(input._data, shape)
        return apply(_record("_view" if view else "_reshape_copy"), (input,), (shape,))


def _viewable(array, shape):
    try:
        np.reshape(array, shape, copy=False)
    except ValueError:
        return False
    return True


class Flatten(Composite):
    """flatten(input, start_dim=0, end_dim=-1) -> Tensor

    Merges dimensions ``start_dim`` to ``end_dim`` into one (a view when possible, as ``reshape``)."""

    name = "flatten"
    conformance = Conformance(torch="torch.flatten", shapes=shapes(0), inputs=1,
                              options={"start_dim": flatten_start, "end_dim": flatten_end})

    @staticmethod
    def call(input, start_dim=0, end_dim=-1):
        shape = _tensor("flatten", input).shape
        start = normalize_dim("flatten", start_dim, len(shape))
        end = normalize_dim("flatten", end_dim, len(shape))
        if start > end:
            raise RuntimeError(f"flatten(): start_dim {start_dim} cannot come after end_dim {end_dim} "
                               f"(tensor of shape {shape})")
        if input.ndim and start == end:
            return input
        return input.reshape(shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:])


class Narrow(Op):
    """narrow(input, dim, start, length) -> Tensor

    Returns a view of ``length`` elements of dimension ``dim`` from ``start``."""

    __slots__ = ("shape", "key")

    name = "narrow"
    differentiable_backward = True
    n_inputs = 1
    view = True
    conformance = Conformance(torch=lambda torch, x, args: torch.narrow(x, *args), shapes=shapes(1),
                              inputs=1, options={"args": narrow_args},
                              call=lambda kitty, x, args: kitty.narrow(x, *args))

    def forward(self, xp, input, dim, start, length):
        if input.ndim == 0:
            raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
        axis = normalize_dim("narrow", dim, input.ndim)
        size = input.shape[axis]
        if not -size <= start <= size:
            raise IndexError(f"narrow(): start out of range (expected to be in range of [{-size}, "
                             f"{size}], but got {start}) (tensor of shape {input.shape})")
        start = start + size if start < 0 else start
        if length < 0 or start + length > size:
            raise RuntimeError(f"narrow(): start ({start}) + length ({length}) exceeds dimension size "
                               f"({size}) of dim {dim} (tensor of shape {input.shape})")
        self.shape, self.key = input.shape, (slice(None),) * axis + (slice(start, start + length),)
        return input[self.key]

    def backward(self, xp, grad):
        out = xp.zeros(self.shape, dtype=grad.dtype)
        out[self.key] = grad
        return out


class Split(Composite):
    """split(tensor, split_size_or_sections, dim=0) -> tuple of Tensors

    Splits into views of ``split_size`` elements along ``dim`` (the last may be smaller), or of the
    sizes listed in ``split_size_or_sections``."""

    name = "split"
    conformance = Conformance(torch="torch.split", shapes=shapes(1), inputs=1,
                              options={"split_size_or_sections": [1, 2, 3], "dim": "dim"})

    @staticmethod
    def call(tensor, split_size_or_sections, dim=0):
        axis = normalize_dim("split", dim, _tensor("split", tensor).ndim)
        size = tensor.shape[axis] if tensor.ndim else 0
        sections = split_size_or_sections
        if isinstance(sections, int) and not isinstance(sections, bool):
            if sections < 0 or sections == 0 and size:
                raise RuntimeError(f"split(): split_size must be positive, got {sections}")
            whole, rest = divmod(size, sections) if size else (0, 0)
            sections = [sections] * whole + [rest] * bool(rest) or [size]
        elif not isinstance(sections, (list, tuple)) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in sections):
            raise TypeError(f"split(): split_size_or_sections must be an int or a list of ints, "
                            f"not {sections!r}")
        elif sum(sections) != size or any(s < 0 for s in sections):
            raise RuntimeError(f"split(): split sizes {list(sections)} do not sum to the size {size} "
                               f"of dim {dim} (tensor of shape {tensor.shape})")
        starts = np.cumsum([0, *sections[:-1]])
        return tuple(tensor.narrow(axis, int(a), int(n)) for a, n in zip(starts, sections))


class Chunk(Composite):
    """chunk(input, chunks, dim=0) -> tuple of Tensors

    Splits into at most ``chunks`` views of equal size along ``dim`` (the last may be smaller)."""

    name = "chunk"
    conformance = Conformance(torch="torch.chunk", shapes=shapes(1), inputs=1,
                              options={"chunks": [1, 2, 3, 5], "dim": "dim"})

    @staticmethod
    def call(input, chunks, dim=0):
        if not isinstance(chunks, int) or chunks <= 0:
            raise RuntimeError(f"chunk(): chunks must be a positive int, got {chunks!r}")
        axis = normalize_dim("chunk", dim, _tensor("chunk", input).ndim)
        size = input.shape[axis] if input.ndim else 0
        step = -(-size // chunks)
        if step == 0:
            return tuple(input.narrow(axis, 0, 0) for _ in range(chunks))
        return input.split(step, axis)


class Cat(Op):
    """cat(tensors, dim=0) -> Tensor

    Concatenates tensors of equal shapes (except along ``dim``) into a new tensor."""

    __slots__ = ("axis", "dtypes", "bounds")

    name = "cat"
    differentiable_backward = True
    functions, methods = ("cat", "concat", "concatenate"), ()
    conformance = Conformance(torch=lambda torch, *xs, dim: torch.cat(xs, dim=dim), shapes="cat",
                              inputs=3, options={"dim": "dim"},
                              call=lambda kitty, *xs, dim: kitty.cat(xs, dim=dim))

    def forward(self, xp, *tensors, dim=0):
        if not tensors:
            raise RuntimeError("cat(): expected a non-empty list of Tensors")
        first = tensors[0]
        axis = normalize_dim("cat", dim, first.ndim)
        for i, t in enumerate(tensors):
            if t.ndim != first.ndim or any(a != b for d, (a, b) in enumerate(zip(t.shape, first.shape))
                                           if d != axis) or t.ndim == 0:
                raise RuntimeError(f"cat(): sizes of tensors must match except in dimension {dim}; "
                                   f"got shapes {', '.join(str(t.shape) for t in tensors)} "
                                   f"(tensor {i} differs)")
        self.axis, self.dtypes = axis, [t.dtype for t in tensors]
        self.bounds = np.cumsum([t.shape[axis] for t in tensors])[:-1]
        return xp.concatenate(tensors, axis=axis)

    def backward(self, xp, grad):
        return tuple(g.astype(d, copy=False)
                     for g, d in zip(xp.split(grad, self.bounds, axis=self.axis), self.dtypes))


class Stack(Op):
    """stack(tensors, dim=0) -> Tensor

    Stacks tensors of equal shapes along a new dimension ``dim``."""

    __slots__ = ("axis", "dtypes")

    name = "stack"
    differentiable_backward = True
    functions, methods = ("stack",), ()
    conformance = Conformance(torch=lambda torch, *xs, dim: torch.stack(xs, dim=dim), shapes="stack",
                              inputs=3, options={"dim": "newdim"},
                              call=lambda kitty, *xs, dim: kitty.stack(xs, dim=dim))

    def forward(self, xp, *tensors, dim=0):
        if not tensors:
            raise RuntimeError("stack(): expected a non-empty list of Tensors")
        if any(t.shape != tensors[0].shape for t in tensors):
            raise RuntimeError("stack(): expects each tensor to be equal size, but got shapes "
                               f"{', '.join(str(t.shape) for t in tensors)}")
        self.axis = normalize_dim("stack", dim, tensors[0].ndim, insert=True)
        self.dtypes = [t.dtype for t in tensors]
        return xp.stack(tensors, axis=self.axis)

    def backward(self, xp, grad):
        return tuple(xp.take(grad, i, axis=self.axis).astype(d, copy=False)
                     for i, d in enumerate(self.dtypes))


class Flip(Op):
    """flip(input, dims) -> Tensor

    Returns a copy of ``input`` with the order of elements reversed along each dim of ``dims``."""

    __slots__ = ("axes",)

    name = "flip"
    differentiable_backward = True
    n_inputs = 1
    conformance = Conformance(torch="torch.flip", shapes="same", inputs=1, options={"dims": flip_dims})

    def forward(self, xp, input, dims):
        if isinstance(dims, int) and not isinstance(dims, bool):
            dims = (dims,)
        elif isinstance(dims, (tuple, list)):
            dims = tuple(dims)
        else:  # torch takes an int or a sequence of ints here, not a NumPy integer or array
            raise TypeError(f"flip(): dims must be an int or a tuple of ints, got {type(dims).__name__}.")
        axes = tuple(normalize_dim("flip", d, input.ndim) for d in dims)
        if len(set(axes)) != len(axes):
            raise RuntimeError(f"flip(): dims {dims} has a dim appearing multiple times")
        self.axes = axes if input.ndim else ()
        return xp.flip(input, self.axes).copy()

    def backward(self, xp, grad):
        return xp.flip(grad, self.axes).copy()


OPS = (Transpose, PermuteView, Permute, MatrixTranspose, T, Squeeze, Unsqueeze, BroadcastTo, Expand,
       BroadcastTensors, View, ViewMethod, ReshapeCopy, Reshape, Flatten, Narrow, Split, Chunk, Cat,
       Stack, Flip)
