"""The op records of kittygrad-nn: layers and losses with gradient rules of their own.

Registered through the ``kittygrad_register_ops`` hook exactly like kittygrad-ops' records. Losses are
bound as module functions of ``kittygrad_core`` under torch's ``nn.functional`` names (``mse_loss``,
``cross_entropy``, ...); ``kittygrad_nn.functional`` wraps them with torch's signatures (target
conversion, argument checks). Ops whose torch module-level signature differs from
``torch.nn.functional``'s (``embedding``, ``batch_norm``) have no module binding.
"""
from __future__ import annotations

import numpy as np

import kittygrad_core
from kittygrad_core import Composite, Conformance, Op, Tensor, is_grad_enabled, set_grad_enabled
from kittygrad_core.extend import derived, write_

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _reduce(xp, loss, reduction, denominator=None):
    if reduction == "none":
        return loss
    total = loss.sum(dtype=loss.dtype)
    if reduction == "sum":
        return total
    count = loss.size if denominator is None else denominator
    if count:  # the errstate context costs more than the division of a scalar
        return (total / count).astype(loss.dtype)
    with xp.errstate(divide="ignore", invalid="ignore"):
        return (total / count).astype(loss.dtype)


def _grad_of_reduction(xp, grad, shape, dtype, reduction, denominator, weighted=False):
    """The upstream gradient broadcast to the unreduced loss's shape (``weighted``: ``denominator`` is
    the total weight of nll_loss / cross_entropy's targets)."""
    if reduction == "none":
        return grad
    if reduction == "mean":
        # nothing counted (every target ignored): the loss is nan, but no gradient flows, as in torch
        if denominator:
            grad = grad / dtype.type(denominator)
        elif xp is np or not weighted:
            grad = xp.zeros_like(grad)
        else:  # recorded as torch's nll kernel divides: the value is zero, its derivative grad / 0 (nan)
            with xp.errstate(divide="ignore", invalid="ignore"):
                grad = xp.where(np.zeros(grad.shape, bool), grad / dtype.type(0), 0)
    return xp.broadcast_to(grad, shape)


def _check_arguments(op, tensors, optional=(), numbers=()):
    """Raises torch's TypeError for an argument of the wrong type (composites call no dispatcher first)."""
    for name, value in tensors:
        if not isinstance(value, Tensor):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(value).__name__}")
    for name, value in optional:
        if value is not None and not isinstance(value, (Tensor, np.ndarray)):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor or None, not {type(value).__name__}")
    for name, value in numbers:
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            raise TypeError(f"{op}(): argument '{name}' must be a number, not {type(value).__name__}")


def _as_tensor(value):
    """A NumPy array option as a tensor (whose dtype checks apply), a tensor as it is."""
    return value if isinstance(value, Tensor) else kittygrad_core.tensor(value)


def _raw(value):
    return value.numpy() if isinstance(value, Tensor) else value


def _array(value):
    """The array of a tensor or array argument, for a use that ``derived`` reports to kitty.compile."""
    return value._data if isinstance(value, Tensor) else value


def _constant(op, name, value):
    """A weight-like option as an array; torch refuses one that requires grad rather than ignore it."""
    if isinstance(value, Tensor):
        if value.requires_grad and is_grad_enabled():
            raise RuntimeError(f"The function '{op}' is not differentiable with respect to argument "
                               f"'{name}'. This input cannot have requires_grad True.")
        return value.numpy()
    return value


def _elementwise_weight(xp, op, name, value, input):
    """``weight`` / ``pos_weight`` of the binary losses: cast to the input's dtype, broadcast to its shape."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):  # a weight has a shape: torch wants a Tensor (NumPy arrays do too)
        raise TypeError(f"{op}(): argument '{name}' must be a Tensor, not {type(value).__name__}.")
    array = xp.asarray(_constant(op, name, value), input.dtype)
    try:
        ok = xp.broadcast_shapes(array.shape, input.shape) == input.shape
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"{op}(): {name} of shape {array.shape} cannot be broadcast to the input's "
                           f"shape {input.shape}")
    return array


# Hypothesis helpers for the conformance metadata (imported lazily: hypothesis is a test extra).

def _classification_shapes(draw):
    from hypothesis import strategies as st
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 5))
    extra = draw(st.sampled_from([(), (), (3,)]))
    return [(n, c, *extra)]


def _class_targets(draw, shapes):
    from hypothesis import strategies as st
    shape = shapes[0]
    target_shape = (shape[0], *shape[2:])
    values = draw(st.lists(st.integers(0, shape[1] - 1), min_size=int(np.prod(target_shape)),
                           max_size=int(np.prod(target_shape))))
    return np.array(values, dtype=np.int64).reshape(target_shape)


def _positive_weights(draw, shape):
    """``None`` or an array of weights in [0.5, 2] of ``shape`` (class or elementwise weights)."""
    from hypothesis import strategies as st
    if draw(st.booleans()):
        return None
    size = int(np.prod(shape))
    values = draw(st.lists(st.floats(0.5, 2.0), min_size=size, max_size=size))
    return np.array(values, dtype=np.float64).reshape(shape)


def _torch_indices(torch, target):
    return torch.as_tensor(np.asarray(target, dtype=np.int64))


# ---------------------------------------------------------------------------------------------- linear

class Linear(Op):
    """linear(input, weight, bias) -> Tensor

    Applies ``input @ weight.T + bias``; ``input`` is ``(*, in_features)``, ``weight``
    ``(out_features, in_features)`` and ``bias`` ``(out_features,)``. ``kittygrad_nn.functional.linear``
    makes ``bias`` optional."""

    __slots__ = ("input", "weight", "bias_shape")

    name = "linear"
    methods = ()
    saves = {0: (1,), 1: (0,)}  # input for the weight's gradient, weight for the input's
    differentiable_backward = True
    conformance = Conformance(
        torch="nn.functional.linear", inputs=3,
        shapes=lambda draw: _linear_shapes(draw))

    def forward(self, xp, input, weight, bias):
        if input.ndim == 0 or weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
            raise RuntimeError(f"linear(): input of shape {input.shape} and weight of shape "
                               f"{weight.shape} cannot be multiplied")
        self.bias_shape = None
        if bias.shape != (weight.shape[0],):  # torch takes any bias that expands to the output's shape
            out_shape = (*input.shape[:-1], weight.shape[0])
            if bias.ndim > len(out_shape) or any(b not in (1, o) for b, o in zip(bias.shape[::-1],
                                                                                   out_shape[::-1])):
                raise RuntimeError(f"linear(): bias of shape {bias.shape} does not match weight of shape "
                                   f"{weight.shape} (it must expand to the output's shape {out_shape})")
            self.bias_shape = bias.shape
        if input.dtype != weight.dtype or bias.dtype != weight.dtype:
            raise RuntimeError(f"linear(): expected input, weight and bias of the same dtype, but got "
                               f"{input.dtype}, {weight.dtype} and {bias.dtype}")
        self.input, self.weight = input, weight
        return input @ weight.T + bias

    def backward(self, xp, grad):
        x, w = self.input, self.weight
        grad_input = grad_weight = grad_bias = None
        if self.needs_input_grad[0]:
            grad_input = grad @ w
        flat = grad.reshape(-1, w.shape[0])
        if self.needs_input_grad[1]:
            grad_weight = flat.T @ x.reshape(-1, w.shape[1])
        if self.needs_input_grad[2]:
            if self.bias_shape is None:
                grad_bias = flat.sum(axis=0)
            else:  # sum over the dims the bias was expanded along
                shape = self.bias_shape
                grad_bias = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
                grad_bias = grad_bias.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1 and
                                                     grad_bias.shape[i] != 1), keepdims=True)
        return grad_input, grad_weight, grad_bias


def _linear_shapes(draw):
    from hypothesis import strategies as st
    batch = draw(st.sampled_from([(), (3,), (2, 3)]))
    fan_in, fan_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return [(*batch, fan_in), (fan_out, fan_in), (fan_out,)]


# ---------------------------------------------------------------------------------------------- dropout

class Dropout(Op):
    """dropout(input, p, train) -> Tensor

    Zeroes each element with probability ``p`` (drawn from ``kittygrad_core.generator()``) and scales
    the others by ``1 / (1 - p)``; the identity when not ``train``. ``kittygrad_nn.functional.dropout``
    has ``torch.nn.functional``'s signature."""

    __slots__ = ("mask",)

    name = "dropout"
    methods = ()
    n_inputs = 1
    differentiable_backward = True  # the mask is a constant: the rule is linear in grad
    conformance = Conformance(torch="torch.dropout", shapes="same",
                              options={"p": [0.0], "train": "bool"})

    def forward(self, xp, input, p, train):
        training = train
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        if not training or p == 0.0:
            self.mask = None
            return input.copy()
        from kittygrad_core import generator
        if p == 1.0:
            self.mask = xp.zeros_like(input)
        else:
            keep = generator().random(input.shape) >= p
            self.mask = keep.astype(input.dtype) * input.dtype.type(1.0 / (1.0 - p))
        return input * self.mask

    def backward(self, xp, grad):
        return grad if self.mask is None else grad * self.mask


# ---------------------------------------------------------------------------------------------- embedding

class Embedding(Op):
    """embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False) -> Tensor

    Looks up the rows of ``weight`` at the integer ``indices`` (torch's module-level argument
    order); the row ``padding_idx`` (``-1``: none) gets no gradient. ``kittygrad_nn.functional
    .embedding`` has ``torch.nn.functional``'s signature."""

    __slots__ = ("rows", "shape", "padding_idx")

    name = "embedding"
    methods = ()
    differentiable = (True, False)
    differentiable_backward = True
    conformance = Conformance(
        torch=lambda torch, weight, indices, padding_idx: torch.embedding(
            weight, _torch_indices(torch, indices), padding_idx),
        call=lambda kitty, weight, indices, padding_idx: kitty.embedding(weight, indices, padding_idx),
        inputs=1, shapes=lambda draw: _embedding_shapes(draw), empty=False,
        options={"indices": lambda draw, shapes: _class_targets(draw, [(2, shapes[0][0], 2)]),
                 "padding_idx": [-1]})  # padding_idx >= 0 zeroes a gradient on purpose (tested apart)

    def forward(self, xp, weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("embedding(): scale_grad_by_freq and sparse are not supported")
        if weight.ndim != 2:
            raise RuntimeError(f"embedding(): 'weight' must be 2-D, got shape {weight.shape}")
        if indices.dtype.kind == "f":
            if not xp.all(indices == xp.round(indices)):
                raise RuntimeError("embedding(): indices must hold integers")
            indices = indices.astype(np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= weight.shape[0]):
            raise IndexError(f"embedding(): index out of range in self (indices in "
                             f"[{indices.min()}, {indices.max()}], {weight.shape[0]} embeddings)")
        self.rows, self.shape, self.padding_idx = indices, weight.shape, padding_idx
        return weight[indices]

    def backward(self, xp, grad):
        rows = self.rows.reshape(-1)
        if xp is not np:
            # recorded: the scatter-add as a product with a constant one-hot matrix (add.at records nothing)
            onehot = np.zeros((self.shape[0], rows.size), grad.dtype)
            onehot[rows, np.arange(rows.size)] = 1
            if self.padding_idx >= 0:
                onehot[self.padding_idx] = 0
            return xp.matmul(onehot, grad.reshape(rows.size, self.shape[1])), None
        out = xp.zeros(self.shape, dtype=grad.dtype)
        xp.add.at(out, rows, grad.reshape(rows.size, self.shape[1]))  # not -1: there may be 0 columns
        if self.padding_idx >= 0:
            out[self.padding_idx] = 0
        return out, None


def _embedding_shapes(draw):
    from hypothesis import strategies as st
    return [(draw(st.integers(2, 5)), draw(st.integers(1, 3)))]


# ---------------------------------------------------------------------------------------------- normalisation

def _layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    _check_arguments("layer_norm", (("input", input),), (("weight", weight), ("bias", bias)),
                     (("eps", eps),))
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    if not isinstance(normalized_shape, (tuple, list)) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in normalized_shape):
        raise TypeError(f"layer_norm(): argument 'normalized_shape' must be an int or a sequence of ints, "
                        f"not {normalized_shape!r}")
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or input.shape[input.ndim - k:] != normalized_shape or input.ndim < k:
        raise RuntimeError(f"layer_norm(): given normalized_shape={list(normalized_shape)}, expected "
                           f"input with shape [*, {', '.join(map(str, normalized_shape))}], but got "
                           f"input of size {list(input.shape)}")
    dims = tuple(range(input.ndim - k, input.ndim))
    centered = input - input.mean(dims, keepdim=True)
    variance = (centered * centered).mean(dims, keepdim=True)
    out = centered * (variance + eps) ** -0.5
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


class LayerNorm(Composite):
    """layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05, cudnn_enable=True) -> Tensor

    Normalises over the last ``len(normalized_shape)`` dims to zero mean and unit (biased) variance,
    then scales by ``weight`` and shifts by ``bias``."""

    name = "layer_norm"
    methods = ()
    call = staticmethod(_layer_norm)
    conformance = Conformance(
        torch=lambda torch, x, w, b, eps: torch.nn.functional.layer_norm(x, w.shape, w, b, eps),
        call=lambda kitty, x, w, b, eps: kitty.layer_norm(x, w.shape, w, b, eps),
        inputs=3, empty=False, rtol=1e-3, atol=1e-4,
        shapes=lambda draw: _norm_shapes(draw), options={"eps": [1e-5, 1e-2]})


def _norm_shapes(draw):
    from hypothesis import strategies as st
    batch = draw(st.sampled_from([(2,), (3, 2)]))
    features = draw(st.sampled_from([(3,), (2, 3)]))
    return [(*batch, *features), features, features]


def _batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
                cudnn_enabled=True):
    _check_arguments("batch_norm", (("input", input),),
                     (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                      ("running_var", running_var)), (("momentum", momentum), ("eps", eps)))
    if input.numel() == 0:  # torch's shortcut, which checks neither shapes nor statistics
        out = input * 1
        if weight is not None:
            out = out * _as_tensor(weight)[0]
        if bias is not None:
            out = out + _as_tensor(bias)[0]
        return out
    if input.ndim < 2:
        raise ValueError(f"batch_norm(): expected 2D or more input (got {input.ndim}D input)")
    channels = input.shape[1]
    dims = (0, *range(2, input.ndim))
    count = input.numel() // max(channels, 1)
    stat_shape = (1, channels) + (1,) * (input.ndim - 2)
    # Everything is validated before the running statistics change: a failed call leaves them intact.
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must either both be None or neither be None")
    for label, value in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                         ("bias", bias)):
        if value is None:
            continue
        if not isinstance(value, (Tensor, np.ndarray)):
            raise TypeError(f"batch_norm(): {label} must be a Tensor or a NumPy array, not "
                            f"{type(value).__name__}")
        if value.ndim != 1 or value.shape[0] != channels:
            raise RuntimeError(f"{label} should contain {channels} elements not "
                               f"{int(np.prod(value.shape))}" + ("" if value.ndim == 1 else
                                                                  f" (got shape {tuple(value.shape)})"))
    use_batch = training or running_mean is None
    if use_batch:
        if training and count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{list(input.shape)}")
        if training and running_mean is not None:
            for label, value in (("running_mean", running_mean), ("running_var", running_var)):
                data = _raw(value)
                if not data.flags.writeable or data.dtype.kind != "f":
                    raise RuntimeError(f"batch_norm(): {label} must be a writable float buffer to be "
                                       f"updated in training (got dtype {data.dtype}, "
                                       f"writeable={data.flags.writeable})")
        mean = input.mean(dims, keepdim=True)
        centered = input - mean
        variance = (centered * centered).mean(dims, keepdim=True)
        if training and running_mean is not None:
            with set_grad_enabled(False):  # no "nested no_grad" warning inside the library
                batch_mean = mean.numpy().reshape(-1)
                unbiased = variance.numpy().reshape(-1) * (count / max(count - 1, 1))
                for buffer, value in ((running_mean, batch_mean), (running_var, unbiased)):
                    data = _raw(buffer)
                    data = data * (1.0 - momentum) + momentum * value.astype(data.dtype)
                    if isinstance(buffer, Tensor):
                        write_(buffer, data)  # the version moves: a graph that saved it notices
                    else:
                        buffer[...] = data
        out = centered * (variance + eps) ** -0.5
    else:
        # derived: kitty.compile computes them again from the running statistics' current values
        as_mean, as_inv_std = _Stat(stat_shape, input.dtype, None), _Stat(stat_shape, input.dtype, eps)
        mean = derived(as_mean(_array(running_mean)), as_mean, running_mean)
        inv_std = derived(as_inv_std(_array(running_var)), as_inv_std, running_var)
        out = (input - mean) * inv_std
    if weight is not None:
        out = out * (weight if input.ndim == 2 else weight[(slice(None),) + (None,) * (input.ndim - 2)])
    if bias is not None:
        out = out + (bias if input.ndim == 2 else bias[(slice(None),) + (None,) * (input.ndim - 2)])
    return out


class _Stat:
    """A running statistic as batch_norm's evaluation uses it: the mean, or (with ``eps``) the inverse
    standard deviation, shaped to broadcast over the channels."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, eps: float | None) -> None:
        self.shape, self.dtype, self.eps = shape, dtype, eps

    def __call__(self, array: np.ndarray) -> np.ndarray:
        if self.eps is None:
            return array.reshape(self.shape).astype(self.dtype)
        return (1.0 / np.sqrt(array.reshape(self.shape) + self.eps)).astype(self.dtype)


class BatchNorm(Composite):
    """batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps,
    cudnn_enabled=True) -> Tensor

    Normalises each channel (dim 1) with the batch's statistics when ``training`` (updating the
    running ones in place with ``momentum``) and with the running statistics otherwise (torch's
    module-level argument order; ``kittygrad_nn.functional.batch_norm`` has ``torch.nn.functional``'s)."""

    name = "batch_norm"
    methods = ()
    call = staticmethod(_batch_norm)
    conformance = Conformance(
        torch=lambda torch, x, w, b, training: torch.nn.functional.batch_norm(
            x, torch.zeros(x.shape[1], dtype=x.dtype), torch.ones(x.shape[1], dtype=x.dtype), w, b,
            training),
        call=lambda kitty, x, w, b, training: kitty.batch_norm(
            x, w, b, np.zeros(x.shape[1], x.dtype), np.ones(x.shape[1], x.dtype), training, 0.1, 1e-5),
        inputs=3, empty=False, rtol=1e-3, atol=1e-4, options={"training": "bool"},
        shapes=lambda draw: _batch_norm_shapes(draw))


def _batch_norm_shapes(draw):
    from hypothesis import strategies as st
    n, c = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    extra = draw(st.sampled_from([(), (3,)]))
    return [(n, c, *extra), (c,), (c,)]


# ---------------------------------------------------------------------------------------------- regression losses

class MseLoss(Op):
    """mse_loss(input, target, reduction='mean') -> Tensor

    The mean (or sum, or elementwise) squared difference between ``input`` and ``target``."""

    __slots__ = ("input", "target", "diff", "reduction")

    name = "mse_loss"
    methods = ()
    broadcast = True
    differentiable_backward = True
    weak_0d = False  # torch's losses broadcast, then promote: a 0-d float64 target wins
    conformance = Conformance(torch="nn.functional.mse_loss", shapes="same",
                              options={"reduction": list(REDUCTIONS)})

    def forward(self, xp, input, target, reduction="mean"):
        check_reduction(reduction)
        self.input, self.target = input, target
        self.diff = diff = input - target
        self.reduction = reduction
        return _reduce(xp, diff * diff, reduction)

    def backward(self, xp, grad):
        # recorded: the difference of the (differentiable) inputs, not the constant copy
        diff = self.diff if xp is np else xp.asarray(self.input - self.target, self.diff.dtype)
        grad = _grad_of_reduction(xp, grad, diff.shape, diff.dtype, self.reduction, diff.size)
        grad_input = 2 * diff * grad
        if not self.needs_input_grad[1]:
            return grad_input, None
        # torch's: the target's own 2 * (target - input) * grad, not -grad_input (+0, not -0, at equal
        # values; nan, not inf, for the upstream gradient's second derivative at an infinite difference)
        target = self.target - self.input
        return grad_input, 2 * xp.asarray(target, diff.dtype) * grad


class L1Loss(Op):
    """l1_loss(input, target, reduction='mean') -> Tensor

    The mean (or sum, or elementwise) absolute difference between ``input`` and ``target``."""

    __slots__ = ("sign", "dtype", "reduction")

    name = "l1_loss"
    methods = ()
    broadcast = True
    weak_0d = False  # torch's losses broadcast, then promote: a 0-d float64 target wins
    differentiable_backward = True  # the sign is a constant (its derivative is zero almost everywhere)
    conformance = Conformance(torch="nn.functional.l1_loss", shapes="same", kinks=(0.0,),
                              options={"reduction": list(REDUCTIONS)},
                              domain=((-3.0, -0.1), (0.1, 3.0)))

    def forward(self, xp, input, target, reduction="mean"):
        check_reduction(reduction)
        diff = input - target
        # torch's sgn: 0 (not nan) where the difference is nan; int8 masks cost no more than np.sign
        self.sign = (diff > 0).view(np.int8) - (diff < 0).view(np.int8)
        self.dtype, self.reduction = diff.dtype, reduction
        return _reduce(xp, xp.abs(diff), reduction)

    def backward(self, xp, grad):
        sign = self.sign
        grad_input = sign * _grad_of_reduction(xp, grad, sign.shape, self.dtype, self.reduction, sign.size)
        return grad_input, -grad_input


# ---------------------------------------------------------------------------------------------- classification losses

def _as_rows(input, target, op):
    """Moves the class dim last: (M, C) logits and (M,) targets, plus the per-sample shape."""
    if input.ndim == 0:
        raise RuntimeError(f"{op}(): input must have at least 1 dimension (got a 0-d tensor)")
    if input.ndim == 1:
        return input[None, :], target, ()
    if input.ndim == 2:  # already (M, C) rows
        return input, target, input.shape[:1]
    sample_shape = (input.shape[0], *input.shape[2:])
    rows = np.moveaxis(input, 1, -1).reshape(int(np.prod(sample_shape)), input.shape[1])  # -1: 0 classes
    return rows, target, sample_shape


def _restore(xp, rows, shape):
    """The inverse of ``_as_rows`` for a gradient of the rows."""
    if len(shape) == 1:
        return rows.reshape(shape)
    if len(shape) == 2:
        return rows
    c = shape[1]
    moved = rows.reshape(shape[0], *shape[2:], c)
    return xp.moveaxis(moved, -1, 1)


def _as_rows_of(xp, input):
    """``_as_rows``' (M, C) rows of an input that passed it once, through ``xp``."""
    if input.ndim == 1:
        return input.reshape(1, -1)
    return xp.moveaxis(input, 1, -1).reshape(-1, input.shape[1])


def _class_weights(xp, target, weight, ignore_index, classes, dtype, sample_shape, op):
    """Per-row weight of the target class (0 where ignored), and the class indices (0 where ignored)."""
    indices = xp.asarray(target)
    if indices.dtype.kind == "f":
        if not xp.all(indices == xp.round(indices)):
            raise RuntimeError(f"{op}(): class-index targets must hold integers")
        indices = indices.astype(np.int64)
    if indices.shape != sample_shape:
        raise RuntimeError(f"{op}(): expected target of shape {sample_shape} for input with "
                           f"{classes} classes, but got target of shape {indices.shape}")
    indices = indices.reshape(-1)
    if xp is np and indices.size and weight is None:
        low, high = indices.min(), indices.max()
        if low >= 0 and high < classes and not low <= ignore_index <= high:  # every index in range, none ignored
            count = indices.shape[0]
            return xp.ones(count, dtype), indices, xp.ones(classes, dtype), xp.ones(count, bool)
    valid = indices != ignore_index
    safe = xp.where(valid, indices, 0)
    if safe.size and (safe.min() < 0 or safe.max() >= classes):
        bad = indices[valid & ((indices < 0) | (indices >= classes))][0]
        raise IndexError(f"{op}(): target {bad} is out of bounds for {classes} classes")
    class_weight = xp.ones(classes, dtype) if weight is None else xp.asarray(
        _constant("nll_loss_forward", "weight", weight), dtype)  # torch names its kernel
    if class_weight.shape != (classes,):
        raise RuntimeError(f"{op}(): weight tensor should be defined either for all {classes} classes "
                           f"or no classes but got weight tensor of shape: {class_weight.shape}")
    return class_weight[safe] * valid, safe, class_weight, valid


def _log_softmax_rows(xp, rows):
    if not rows.shape[-1]:
        return rows.copy()  # no classes: nothing to normalise (and no maximum to subtract)
    top = rows.max(axis=-1, keepdims=True) if xp is np else xp.amax(rows, axis=-1, keepdims=True)
    shifted = rows - top
    return shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))


class CrossEntropy(Op):
    """cross_entropy(input, target, weight=None, ignore_index=-100, reduction='mean',
    label_smoothing=0.0) -> Tensor

    Cross entropy between the logits ``input`` (classes along dim 1, or dim 0 for a 1-D input) and
    ``target``: class indices (an integer array, or a tensor holding integers) of the input's shape
    without the class dim, or class probabilities of the input's shape. ``kittygrad_nn.functional
    .cross_entropy`` also takes lists."""

    # input and target: read (recorded) by a create_graph pass only; q_offset: q's part without target
    __slots__ = ("input", "target", "target_scale", "logp", "target_dtype", "q", "q_offset", "softmax", "shape",
                 "reduction", "denominator", "sample_shape", "input_dtype", "picked", "ignored")

    name = "cross_entropy"
    methods = ()
    differentiable = (True, True)  # class probabilities get a gradient, as in torch; indices never do
    differentiable_backward = True
    conformance = Conformance(
        torch=lambda torch, x, target, **options: torch.nn.functional.cross_entropy(
            x, _torch_indices(torch, target), **options),
        call=lambda kitty, x, target, **options: kitty.cross_entropy(x, target, **options),
        inputs=1, shapes=_classification_shapes, empty=False,
        options={"target": _class_targets, "reduction": list(REDUCTIONS),
                 "label_smoothing": [0.0, 0.1], "ignore_index": [-100, 0]},
        variants=(
            # class probabilities: a second input, differentiable too
            Conformance(
                torch=lambda torch, x, target, weight, **options: torch.nn.functional.cross_entropy(
                    x, target, None if weight is None else torch.as_tensor(weight, dtype=x.dtype), **options),
                call=lambda kitty, x, target, **options: kitty.cross_entropy(x, target, **options),
                inputs=2, shapes=lambda draw: _classification_shapes(draw) * 2, empty=False,
                domain=("any", (0.0, 1.0)),
                options={"reduction": list(REDUCTIONS), "label_smoothing": [0.0, 0.1],
                         "weight": lambda draw, shapes: _positive_weights(draw, shapes[0][1:2])}),))

    def forward(self, xp, input, target, weight=None, ignore_index=-100, reduction="mean",
                label_smoothing=0.0):
        check_reduction(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
        self.input, self.target = input, target
        rows, target, sample_shape = _as_rows(input, target, "cross_entropy")
        classes, dtype = rows.shape[1], input.dtype
        logp = _log_softmax_rows(xp, rows)
        self.target_scale = self.ignored = None
        if xp is np and input.ndim == 2 and weight is None and not label_smoothing and rows.size \
                and target.__class__ is np.ndarray and target.shape == sample_shape:
            # the dispatcher hands integer targets over as floats (the default dtype)
            whole = target.dtype.kind == "f" and (target == np.round(target)).all()
            indices = target.astype(np.int64) if whole else target
            low, high = indices.min(), indices.max()
            if indices.dtype.kind in "iu" and low >= 0 and high < classes and not low <= ignore_index <= high:
                return self._forward_indices(logp, indices, reduction)
        if target.shape == input.shape and target.dtype.kind == "f":  # class probabilities
            # torch promotes float32 logits with float64 probabilities or a float64 weight
            dtype = xp.result_type(dtype, target.dtype, *(() if not isinstance(weight, Tensor) else (weight.dtype,)))
            probs = _as_rows(target, target, "cross_entropy")[0].astype(dtype)
            if isinstance(weight, Tensor) and weight.requires_grad and is_grad_enabled():
                # torch differentiates the weight here; an option cannot receive a gradient
                raise NotImplementedError("cross_entropy(): a weight that requires grad is not supported "
                                          "with class-probability targets")
            class_weight = xp.ones(classes, dtype) if weight is None else xp.asarray(_raw(weight), dtype)
            if class_weight.shape != (classes,):
                raise RuntimeError(f"cross_entropy(): weight tensor should be defined either for all "
                                   f"{classes} classes or no classes but got weight tensor of shape: "
                                   f"{class_weight.shape}")
            self.q_offset = (label_smoothing / classes if classes else 0.0) * class_weight
            if label_smoothing and classes:  # no classes: nothing to smooth
                probs = probs * (1 - label_smoothing) + label_smoothing / classes
            q = probs * class_weight
            denominator = rows.shape[0] if classes else np.nan  # torch divides by numel / classes
            # d loss / d target = -(1 - label_smoothing) * weight * log_softmax(input)
            self.target_scale = (1 - label_smoothing) * class_weight
            self.logp, self.target_dtype = logp, target.dtype
        else:
            row_weight, indices, class_weight, valid = _class_weights(
                xp, target, weight, ignore_index, classes, dtype, sample_shape, "cross_entropy")
            q = xp.zeros_like(rows)
            picked = xp.arange(rows.shape[0]), indices
            q[picked] = (1 - label_smoothing) * row_weight if label_smoothing else row_weight
            # torch's terms: -logp at the target only (a -inf logit elsewhere gives no 0 * -inf), the
            # smoothing term over every class; ignored targets give 0, not 0 * nan
            loss = -logp[picked] * q[picked]
            if label_smoothing and classes:
                q += (label_smoothing / classes) * class_weight * valid[:, None]
                loss = loss - (label_smoothing / classes) * (logp * class_weight).sum(axis=-1)
            if not valid.all():
                loss = xp.where(valid, loss, 0)
                self.ignored = ~valid[:, None]
            loss = loss.reshape(sample_shape)
            denominator = row_weight.sum(dtype=dtype)
        if self.target_scale is not None:
            loss = -(q * logp).sum(axis=-1).reshape(sample_shape)
        self.q, self.softmax, self.shape = q, xp.exp(logp), input.shape
        self.reduction, self.denominator, self.sample_shape = reduction, denominator, sample_shape
        self.input_dtype = input.dtype
        return _reduce(xp, loss, reduction, denominator)

    def _forward_indices(self, logp, indices, reduction):
        """The common case (a batch of logits, class indices in range, no weight, no smoothing, none
        ignored) without the one-hot targets: the same numbers as the general path, each loss term
        being ``-logp`` at the target (the other terms of a row's sum are zeros)."""
        rows = np.arange(logp.shape[0])
        loss = -logp[rows, indices]
        self.q, self.softmax, self.shape, self.picked = None, np.exp(logp), logp.shape, (rows, indices)
        self.reduction, self.sample_shape, self.input_dtype = reduction, logp.shape[:1], logp.dtype
        self.denominator = logp.dtype.type(logp.shape[0])
        return _reduce(np, loss, reduction, self.denominator)

    def backward(self, xp, grad):
        q, softmax = self.q, self.softmax
        if q is None:  # the class-index fast path: q is one-hot, so q.sum(-1) is 1
            if xp is np:
                if self.reduction == "none":
                    grad = grad.reshape(-1, 1)
                elif self.reduction == "mean":
                    grad = grad / self.denominator
                rows = softmax.copy()  # softmax * 1 - q, as the general rule computes it
                rows[self.picked] -= 1
                rows *= grad
                return rows, None
            q = xp.zeros_like(softmax)  # recorded (create_graph): the general rule with its q
            q[self.picked] = 1
        logp = self.logp if self.target_scale is not None else None  # only probabilities save it
        if xp is not np:  # recorded: log-softmax (and q, for probabilities) recomputed from the inputs
            logp = _log_softmax_rows(xp, _as_rows_of(xp, self.input))
            softmax = xp.exp(logp)
            if self.target_scale is not None:
                probs = _as_rows_of(xp, self.target).astype(q.dtype)
                q = probs * self.target_scale + self.q_offset
        if xp is np and self.reduction != "none" and (self.denominator or self.reduction == "sum"):
            # a 0-d gradient scales every row alike: the multiplications below broadcast it
            grad = grad / q.dtype.type(self.denominator) if self.reduction == "mean" else grad
        else:
            grad = _grad_of_reduction(xp, grad, self.sample_shape, q.dtype, self.reduction, self.denominator,
                                      weighted=True)
            grad = grad.reshape(-1, 1)
        grad_input = grad_target = None
        if self.needs_input_grad[0] and xp is not np:
            # recorded as torch composes it, nll's gradient then log_softmax's: the upstream gradient's
            # derivative skips ignored rows (nan logits there) and keeps -q * inf for infinite targets
            upstream = -(q * grad)
            if self.ignored is not None:
                upstream = xp.where(self.ignored, 0, upstream)
            rows = upstream - softmax * upstream.sum(axis=-1, keepdims=True)
            grad_input = _restore(xp, rows, self.shape).astype(self.input_dtype, copy=False)
        elif self.needs_input_grad[0]:
            rows = (softmax * q.sum(axis=-1, keepdims=True) - q) * grad
            grad_input = _restore(xp, rows, self.shape).astype(self.input_dtype, copy=False)
        if self.target_scale is not None and self.needs_input_grad[1]:
            rows = -(self.target_scale * logp) * grad
            grad_target = _restore(xp, rows, self.shape).astype(self.target_dtype, copy=False)
        return grad_input, grad_target


class NllLoss(Op):
    """nll_loss(input, target, weight=None, ignore_index=-100, reduction='mean') -> Tensor

    The negative log likelihood loss of log-probabilities ``input`` (classes along dim 1) at the
    class indices ``target``."""

    __slots__ = ("picked", "row_weight", "shape", "reduction", "denominator", "sample_shape")

    name = "nll_loss"
    methods = ()
    differentiable = (True, False)
    differentiable_backward = True  # the rule is linear in grad and reads no input
    conformance = Conformance(
        torch=lambda torch, x, target, **options: torch.nn.functional.nll_loss(
            x, _torch_indices(torch, target), **options),
        call=lambda kitty, x, target, **options: kitty.nll_loss(x, target, **options),
        inputs=1, shapes=_classification_shapes, empty=False,
        options={"target": _class_targets, "reduction": list(REDUCTIONS), "ignore_index": [-100, 1]})

    def forward(self, xp, input, target, weight=None, ignore_index=-100, reduction="mean"):
        check_reduction(reduction)
        rows, target, sample_shape = _as_rows(input, target, "nll_loss")
        classes, dtype = rows.shape[1], input.dtype
        row_weight, indices, _, valid = _class_weights(xp, target, weight, ignore_index, classes, dtype,
                                                    sample_shape, "nll_loss")
        self.picked = (xp.arange(rows.shape[0]), indices)
        self.row_weight, self.shape, self.reduction = row_weight, input.shape, reduction
        self.denominator, self.sample_shape = row_weight.sum(dtype=dtype), sample_shape
        loss = -rows[self.picked] * row_weight
        if not valid.all():  # ignored targets give 0, not 0 * nan (torch masks them)
            loss = xp.where(valid, loss, 0)
        return _reduce(xp, loss.reshape(sample_shape), reduction, self.denominator)

    def backward(self, xp, grad):
        w = self.row_weight
        grad = _grad_of_reduction(xp, grad, self.sample_shape, w.dtype, self.reduction, self.denominator,
                                  weighted=True)
        rows = xp.zeros((w.shape[0], self.shape[1] if len(self.shape) > 1 else self.shape[0]), w.dtype)
        rows[self.picked] = -w * grad.reshape(-1)
        return _restore(xp, rows, self.shape), None


class BinaryCrossEntropy(Op):
    """binary_cross_entropy(input, target, weight=None, reduction='mean') -> Tensor

    Binary cross entropy between probabilities ``input`` and ``target`` of the same shape; the logs
    are clamped at -100 as in torch."""

    __slots__ = ("weight", "input", "target", "reduction")

    name = "binary_cross_entropy"
    methods = ()
    differentiable_backward = True
    # targets checked against finite differences keep inside (0, 1): torch (and kittygrad) reject a
    # target perturbed below 0; the variant puts exact 0 and 1 targets in, checked against torch only
    conformance = Conformance(torch="nn.functional.binary_cross_entropy", shapes="same",
                              domain=((0.05, 0.95), (0.01, 0.99)), options={"reduction": list(REDUCTIONS)},
                              variants=(Conformance(torch="nn.functional.binary_cross_entropy", shapes="same",
                                                    domain=((0.05, 0.95), (0.0, 1.0)), fd=False,
                                                    options={"reduction": list(REDUCTIONS)}),))

    def forward(self, xp, input, target, weight=None, reduction="mean"):
        check_reduction(reduction)
        if input.shape != target.shape:
            raise ValueError(f"Using a target size ({target.shape}) that is different to the input "
                             f"size ({input.shape}) is deprecated. Please ensure they have the same size.")
        if input.dtype != target.dtype:  # torch refuses too ("Found dtype Double but expected Float")
            raise RuntimeError(f"binary_cross_entropy(): expected target of the input's dtype {input.dtype}, "
                               f"but got target of dtype {target.dtype}; convert one with .to()")
        # written so that nan fails, as torch's checks; torch checks the target too
        if input.size and not (input.min() >= 0 and input.max() <= 1):
            raise RuntimeError("all elements of input should be between 0 and 1")
        if target.size and not (target.min() >= 0 and target.max() <= 1):
            raise RuntimeError("all elements of target should be between 0 and 1")
        self.weight = _elementwise_weight(xp, "binary_cross_entropy", "weight", weight, input)
        with xp.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(input), -100)
            log_1mx = xp.maximum(xp.log1p(-input), -100)
        loss = (target - 1) * log_1mx - target * log_x  # torch's form: +0, not -0, at input 0, target 0
        if self.weight is not None:
            loss = loss * self.weight
        self.input, self.target, self.reduction = input, target, reduction
        return _reduce(xp, loss, reduction)

    def backward(self, xp, grad):
        x, t = self.input, self.target
        grad = _grad_of_reduction(xp, grad, x.shape, x.dtype, self.reduction, x.size)
        if self.weight is not None:
            grad = grad * self.weight
        grad_input = grad_target = None
        if self.needs_input_grad[0]:
            grad_input = grad * (x - t) / xp.maximum((1 - x) * x, 1e-12)
        if self.needs_input_grad[1]:
            if xp is not np:  # torch's logit derivative at x == 0 is +inf, also at -0.0 (1 / -0.0 is -inf)
                x = x + 0.0
            with xp.errstate(divide="ignore"):
                grad_target = -grad * (xp.log(x) - xp.log1p(-x))
        return grad_input, grad_target


class BinaryCrossEntropyWithLogits(Op):
    """binary_cross_entropy_with_logits(input, target, weight=None, reduction='mean', pos_weight=None)
    -> Tensor

    Binary cross entropy of ``sigmoid(input)`` and ``target``, computed stably from the logits."""

    # input and target: the inputs promoted to one dtype (a create_graph pass records the cast)
    __slots__ = ("dtypes", "pos_weight", "weight", "input", "target", "softplus_neg", "reduction")

    name = "binary_cross_entropy_with_logits"
    methods = ()
    differentiable_backward = True
    conformance = Conformance(torch="nn.functional.binary_cross_entropy_with_logits", shapes="same",
                              domain=("any", (0.0, 1.0)), options={"reduction": list(REDUCTIONS)}, variants=(
        # weight and pos_weight (over the last dim), as arrays
        Conformance(
            torch=lambda torch, x, t, weight, pos_weight, **options:
                torch.nn.functional.binary_cross_entropy_with_logits(
                    x, t, None if weight is None else torch.as_tensor(weight, dtype=x.dtype),
                    pos_weight=None if pos_weight is None else torch.as_tensor(pos_weight, dtype=x.dtype),
                    **options),
            call=lambda kitty, x, t, **options: kitty.binary_cross_entropy_with_logits(x, t, **options),
            shapes="same", domain=("any", (0.0, 1.0)),
            options={"reduction": list(REDUCTIONS),
                     "weight": lambda draw, shapes: _positive_weights(draw, shapes[0][-1:]),
                     "pos_weight": lambda draw, shapes: _positive_weights(draw, shapes[0][-1:])}),))

    def forward(self, xp, input, target, weight=None, reduction="mean", pos_weight=None):
        check_reduction(reduction)
        if input.shape != target.shape:
            raise ValueError(f"Target size ({target.shape}) must be the same as input size "
                             f"({input.shape})")
        # Mixed dtypes: computed in the promoted dtype; the loss takes the target's dtype, as torch's does
        self.dtypes = input.dtype, target.dtype
        dtype = xp.result_type(input.dtype, target.dtype)
        input, target = input.astype(dtype, copy=False), target.astype(dtype, copy=False)
        self.pos_weight = _elementwise_weight(xp, "binary_cross_entropy_with_logits", "pos_weight",
                                              pos_weight, input)
        self.weight = _elementwise_weight(xp, "binary_cross_entropy_with_logits", "weight", weight, input)
        softplus_neg = xp.logaddexp(0, -input).astype(dtype)  # log(1 + exp(-x)), stable
        if self.pos_weight is None:
            loss = (1 - target) * input + softplus_neg
        else:
            log_weight = (self.pos_weight - 1) * target + 1
            loss = (1 - target) * input + log_weight * softplus_neg
        if self.weight is not None:
            loss = loss * self.weight
        self.input, self.target, self.softplus_neg, self.reduction = input, target, softplus_neg, reduction
        return _reduce(xp, loss, reduction).astype(self.dtypes[1], copy=False)

    def backward(self, xp, grad):
        x, t = self.input, self.target
        grad = _grad_of_reduction(xp, grad.astype(x.dtype, copy=False), x.shape, x.dtype, self.reduction,
                                  x.size)
        if self.weight is not None:
            grad = grad * self.weight
        if xp is np:
            sigmoid = (1 / (1 + xp.exp(-xp.clip(x, -88, 88)))).astype(x.dtype)
        else:  # recorded as torch's sigmoid: clip's derivative 0 beyond +-88 would hide a nan factor
            sigmoid = xp.sigmoid(x)
        grad_input = grad_target = None
        if self.pos_weight is None:
            if self.needs_input_grad[0]:
                grad_input = grad * (sigmoid - t)
            if self.needs_input_grad[1]:
                grad_target = -grad * x
        else:
            # torch's formulas term by term: equal in exact arithmetic to shorter ones, but not at inf
            # logits, where (1 - t) - lw * (1 - sigmoid) or softplus(-x) - x differ in inf and nan
            if self.needs_input_grad[0]:
                weighted = self.pos_weight * t
                grad_input = grad * ((weighted + 1 - t) * sigmoid - weighted)
            if self.needs_input_grad[1]:
                # log_sigmoid(-x) - pos_weight * log_sigmoid(x), each a softplus (recorded: recomputed
                # from the differentiable input)
                softplus_neg = self.softplus_neg if xp is np else xp.logaddexp(0, -x).astype(x.dtype)
                softplus = xp.logaddexp(0, x).astype(x.dtype)
                grad_target = grad * (self.pos_weight * softplus_neg - softplus)
        input_dtype, target_dtype = self.dtypes
        return (None if grad_input is None else grad_input.astype(input_dtype, copy=False),
                None if grad_target is None else grad_target.astype(target_dtype, copy=False))


#: Every op record this distribution registers.
OPS = (Linear, Dropout, Embedding, LayerNorm, BatchNorm, MseLoss, L1Loss, CrossEntropy, NllLoss,
       BinaryCrossEntropy, BinaryCrossEntropyWithLogits)
