"""``torch.nn.functional`` for kittygrad: losses, layers and activations as functions.

The losses and layers are kittygrad-nn's registered ops (see :mod:`kittygrad_nn.ops`), wrapped here with
torch's signatures; activations call the ops of kittygrad-ops.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import kittygrad_core as _core
from kittygrad_core import Tensor
from kittygrad_core.extend import apply_inplace

from .ops import check_reduction

__all__ = [
    "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout",
    "embedding", "gelu", "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax", "mse_loss",
    "nll_loss", "relu", "sigmoid", "silu", "softmax", "softplus", "tanh",
]


def _indices(target: Any, op: str) -> Any:
    """Class-index targets: lists and integer arrays become int64 arrays; tensors pass as they are."""
    if isinstance(target, Tensor):
        return target
    array = np.asarray(target)
    if array.dtype.kind in "iub":
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "f":
        return array
    raise TypeError(f"{op}(): target must be a Tensor, a NumPy array or a list of class indices, "
                    f"not {type(target).__name__} of {array.dtype}")


def _operand(value: Any, input: Any) -> Any:
    """Targets given as lists or numbers become arrays of the input's dtype (tensors and arrays pass)."""
    if isinstance(value, (Tensor, np.ndarray)):
        return value
    return np.asarray(value, dtype=input.dtype if isinstance(input, Tensor) else np.float32)


# ---------------------------------------------------------------------------------------------- layers

def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Applies ``input @ weight.T + bias``."""
    return _core.linear(input, weight, np.zeros(weight.shape[0], dtype=weight.dtype) if bias is None else bias)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes elements with probability ``p`` and scales the rest by ``1 / (1 - p)`` while training."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if inplace:
        if not training or p == 0.0:
            return input  # torch leaves the input untouched here: no version bump, no node
        return apply_inplace(_core.registry["dropout"], (input,), (p, training))
    return _core.dropout(input, p, training)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Looks up the rows of ``weight`` at the integer indices ``input``."""
    if max_norm is not None:
        raise NotImplementedError("embedding(): max_norm is not supported")
    if padding_idx is None:
        padding_idx = -1
    elif padding_idx < 0:
        if padding_idx < -weight.shape[0]:
            raise ValueError("Padding_idx must be within num_embeddings")
        padding_idx += weight.shape[0]
    elif padding_idx >= weight.shape[0]:
        raise ValueError("Padding_idx must be within num_embeddings")
    return _core.embedding(weight, _indices(input, "embedding"), padding_idx, scale_grad_by_freq, sparse)


def layer_norm(input: Tensor, normalized_shape: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalises over the last dims given by ``normalized_shape``, then applies ``weight`` and ``bias``."""
    return _core.layer_norm(input, normalized_shape, weight, bias, eps)


def batch_norm(input: Tensor, running_mean: Any, running_var: Any, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalises each channel with batch statistics (training) or the running ones."""
    return _core.batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps)


# ---------------------------------------------------------------------------------------------- activations

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(input, 0)`` elementwise."""
    return input.relu_() if inplace else _core.relu(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``input`` where positive, ``negative_slope * input`` elsewhere."""
    if inplace:  # torch has no Tensor.leaky_relu_: the op runs in place without a method binding
        return apply_inplace(_core.registry["leaky_relu"], (input,), (negative_slope,))
    return _core.leaky_relu(input, negative_slope)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """The Gaussian error linear unit (``approximate='tanh'`` for the tanh approximation)."""
    return _core.gelu(input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``input * sigmoid(input)``."""
    if inplace:  # no Tensor.silu_ in torch either
        return apply_inplace(_core.registry["silu"], (input,))
    return _core.silu(input)


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + exp(-input))``."""
    return _core.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return _core.tanh(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * input)) / beta``."""
    return _core.softplus(input, beta, threshold)


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """Softmax along ``dim``."""
    if dtype is not None:
        input = input.to(dtype)
    return _core.softmax(input, _default_dim(input, dim))


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:
    """Log-softmax along ``dim``."""
    if dtype is not None:
        input = input.to(dtype)
    return _core.log_softmax(input, _default_dim(input, dim))


def _default_dim(input: Tensor, dim: int | None) -> int:
    # torch's legacy implicit dim: 0 for 0-, 1- and 3-D inputs, else 1
    if dim is not None:
        return dim
    return 0 if input.ndim in (0, 1, 3) else 1


# ---------------------------------------------------------------------------------------------- losses

def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """The mean (or sum, or elementwise) squared error."""
    check_reduction(reduction)
    return _core.mse_loss(input, _operand(target, input), reduction)


def l1_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """The mean (or sum, or elementwise) absolute error."""
    check_reduction(reduction)
    return _core.l1_loss(input, _operand(target, input), reduction)


def cross_entropy(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy of logits ``input`` and class indices (or class probabilities) ``target``."""
    check_reduction(reduction)
    return _core.cross_entropy(input, _indices(target, "cross_entropy"), weight, ignore_index, reduction,
                               label_smoothing)


def nll_loss(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log likelihood of log-probabilities ``input`` at class indices ``target``."""
    check_reduction(reduction)
    return _core.nll_loss(input, _indices(target, "nll_loss"), weight, ignore_index, reduction)


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:
    """Binary cross entropy of probabilities ``input`` and ``target``."""
    check_reduction(reduction)
    return _core.binary_cross_entropy(input, _operand(target, input), weight, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """Binary cross entropy of ``sigmoid(input)`` and ``target``, computed stably from logits."""
    check_reduction(reduction)
    return _core.binary_cross_entropy_with_logits(input, _operand(target, input), weight, reduction, pos_weight)
