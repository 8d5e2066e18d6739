"""Copies, dtype conversion and indexing."""
from __future__ import annotations

from kittygrad_core import Conformance, Op, Tensor
from kittygrad_core._dtypes import resolve_dtype


class Clone(Op):
    """clone(input) -> Tensor

    Returns a copy of ``input``; gradients flow back to it unchanged."""

    name = "clone"
    conformance = Conformance(torch="torch.clone")

    def forward(self, xp, input):
        return input.copy()

    def backward(self, xp, grad):
        return grad


class To(Op):
    """Tensor.to(dtype) -> Tensor

    Returns a copy of the tensor converted to ``dtype``; the gradient is converted back."""

    name = "to"
    functions = ()
    n_inputs = 1
    conformance = Conformance(torch=lambda torch, x, dtype: x.to(getattr(torch, dtype)),
                              options={"dtype": ["float32", "float64"]})

    def forward(self, xp, input, dtype):
        self.dtype = input.dtype
        return input.astype(resolve_dtype(dtype))

    def backward(self, xp, grad):
        return grad.astype(self.dtype)


def _index_key(key):
    """Index tensors become integer arrays (for masks, boolean ones)."""
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, Tensor):
        return key._data.astype(int)
    return key


class Getitem(Op):
    """Tensor[key] -> Tensor

    Indexing with ints, slices, ``...``, ``None``, integer arrays and boolean masks. The result is a
    copy (views come with the full indexing support); gradients of repeated indices accumulate."""

    name = "getitem"
    functions, methods = (), ("__getitem__",)
    n_inputs = 1
    conformance = Conformance(torch=lambda torch, x, key: x[key], shapes="same", empty=False,
                              options={"key": [0, -1, (slice(None), 0), Ellipsis, (None, 0)]})

    def forward(self, xp, input, key):
        key = _index_key(key)
        self.shape, self.dtype, self.key = input.shape, input.dtype, key
        try:
            return xp.array(input[key])
        except IndexError as error:
            raise IndexError(f"__getitem__(): {error} (tensor of shape {input.shape})") from None

    def backward(self, xp, grad):
        out = xp.zeros(self.shape, dtype=self.dtype)
        xp.add.at(out, self.key, grad)
        return out


OPS = (Clone, To, Getitem)
