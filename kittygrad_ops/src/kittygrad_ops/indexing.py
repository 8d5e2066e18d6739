"""Indexing: ``x[key]`` and ``x[key] = value``.

``__getitem__`` is a composite that normalises the key and routes it: basic keys (ints, slices,
``...``, ``None``) go to the view record ``_index_view`` (memory and version shared with ``x``),
advanced keys (integer arrays, lists or int-valued tensors, boolean masks) to the copying record
``_index``, whose backward accumulates repeated indices. ``__setitem__`` is torch's ``index_put_``: an
in-place op on ``x`` (leaf rule, version bump) through the record ``_index_put``.
"""
from __future__ import annotations

import numpy as np

import kittygrad_core as kitty
from kittygrad_core import Composite, Conformance, Op, Tensor
from kittygrad_core._dispatch import apply, apply_inplace


def normalize_key(key):
    """Splits ``key`` into ``(basic, advanced)`` NumPy keys applied one after the other.

    A basic key (ints, slices, ``...``, ``None``) gives ``basic`` ending with ``...`` (so that NumPy
    returns a view even for all-int keys) and ``advanced = None``. A key with an index array (list,
    int-valued tensor, boolean mask) gives ``basic = (...,)`` and the whole key as ``advanced``, indexed
    by NumPy's rules, as in the original kittygrad: ints then count as advanced indices, so
    ``x[1, ..., [0, 0, 2]]`` of an ``x`` of shape ``(4, 5, 6)`` has shape ``(3, 5)`` (torch: ``(5, 3)``).
    """
    items = key if isinstance(key, tuple) else (key,)
    basic, advanced, is_basic = [], [], True
    for k in items:
        if k is None or k is Ellipsis or isinstance(k, slice):
            basic.append(k)
            advanced.append(k)
        elif isinstance(k, (bool, np.bool_)):
            advanced.append(bool(k))
            is_basic = False
        elif isinstance(k, (int, np.integer)):
            basic.append(int(k))
            advanced.append(int(k))
        elif isinstance(k, Tensor) and k.ndim == 0 and float(k._data).is_integer():
            basic.append(int(k._data))  # a 0-d integer tensor indexes like an int
            advanced.append(int(k._data))
        else:
            advanced.append(_index_array(k))
            is_basic = False
    if is_basic:
        if not any(k is Ellipsis for k in basic):
            basic.append(Ellipsis)
        return tuple(basic), None
    return (Ellipsis,), tuple(advanced)


def _select(array, key):
    """``array`` indexed by a ``normalize_key`` result: a view for basic keys."""
    basic, advanced = key
    return array[basic] if advanced is None else array[basic][advanced]


def _index_array(k):
    array = k._data if isinstance(k, Tensor) else np.asarray(
        [_index_array(i) if isinstance(i, Tensor) else i for i in k] if isinstance(k, list) else k)
    if array.dtype.kind in "bi":
        return array
    if array.dtype.kind in "uf" and np.all(np.mod(array, 1) == 0):
        return array.astype(np.intp)  # kittygrad tensors are floats: integer values index
    raise IndexError(f"tensors used as indices must be integer-valued or boolean, got "
                     f"{type(k).__name__} of dtype {array.dtype}")


def _take(name, input, key):
    try:
        return _select(input, key)
    except IndexError as error:
        raise IndexError(f"{name}(): {error} (tensor of shape {input.shape})") from None


def _draw_key(draw, shape, advanced):
    """A key valid for ``shape``: per dim an int, a slice (positive step) or, if ``advanced``, one index
    list or boolean mask at a drawn position; ``None`` is sometimes inserted."""
    from hypothesis import strategies as st
    at = draw(st.integers(0, len(shape) - 1)) if advanced else -1
    key = []
    for d, n in enumerate(shape[:max(at + 1, draw(st.integers(0, len(shape))))]):
        kind = draw(st.sampled_from(["list", "mask"] if n else ["mask"])) if d == at else \
            draw(st.sampled_from(["slice", "int"] if n else ["slice"]))
        if kind == "int":
            key.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            bound = st.none() | st.integers(-n - 1, n + 1)
            key.append(slice(draw(bound), draw(bound), draw(st.none() | st.integers(1, 3))))
        elif kind == "list":
            key.append(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4)))
        else:
            key.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool))
        if draw(st.integers(0, 5)) == 0:
            key.append(None)
    return tuple(key)


def _any_key(draw, shapes):
    from hypothesis import strategies as st
    return _draw_key(draw, shapes[0], draw(st.booleans()))


def _put_shapes(draw):
    from hypothesis import strategies as st
    return [(3, draw(st.integers(2, 4))), draw(st.sampled_from([(1,), ()]))]


def _numpy_rule(torch, x, key):
    """Flat positions of ``x[key]`` under NumPy's indexing rules, as a torch index tensor."""
    items = key if isinstance(key, tuple) else (key,)
    key = tuple(k.numpy() if isinstance(k, torch.Tensor) else k for k in items)  # the checker's tensors
    return torch.as_tensor(np.arange(x.numel()).reshape(tuple(x.shape))[key])


def _numpy_getitem(torch, x, key):
    """The reference of kittygrad's indexing: NumPy's rules (the original's), built from torch ops."""
    return x.reshape(-1)[_numpy_rule(torch, x, key)]


def _numpy_put(torch, x, values, key):
    y = x * 1
    y.view(-1)[_numpy_rule(torch, x, key)] = values
    return y


def _shape(draw):
    from hypothesis import strategies as st
    return [tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))]


def _getitem_conformance(advanced):
    return Conformance(torch=_numpy_getitem, shapes=_shape, inputs=1,
                       options={"key": lambda draw, shapes: _draw_key(draw, shapes[0], advanced)},
                       call=lambda kitty, x, key: x[key])


class IndexView(Op):
    """_index_view(input, key) -> Tensor

    The record of basic indexing (``key`` from ``normalize_key``): a view of ``input``."""

    name = "_index_view"
    functions = methods = ()
    n_inputs = 1
    view = True
    conformance = _getitem_conformance(advanced=False)

    def forward(self, xp, input, key):
        self.shape, self.key = input.shape, key
        return _take("__getitem__", input, key)

    def backward(self, xp, grad):
        out = xp.zeros(self.shape, dtype=grad.dtype)
        out[self.key[0]] = grad
        return out


class Index(Op):
    """_index(input, key) -> Tensor

    The record of advanced indexing (``key`` from ``normalize_key``): a copy; gradients of repeated
    indices accumulate."""

    name = "_index"
    functions = methods = ()
    n_inputs = 1
    conformance = _getitem_conformance(advanced=True)

    def forward(self, xp, input, key):
        self.shape, self.key = input.shape, key
        return _take("__getitem__", input, key)

    def backward(self, xp, grad):
        out = xp.zeros(self.shape, dtype=grad.dtype)
        basic, advanced = self.key
        if any(isinstance(k, np.ndarray) and k.dtype.kind != "b" for k in advanced):
            xp.add.at(out[basic], advanced, grad)  # out[basic] is a view: repeated indices add up
        else:
            out[basic][advanced] = grad  # masks select each element at most once
        return out


class Getitem(Composite):
    """Tensor[key] -> Tensor

    Basic indexing (ints, slices, ``...``, ``None``) returns a view sharing memory and version with the
    tensor; advanced indexing (integer arrays, lists or tensors, boolean masks) returns a copy."""

    name = "getitem"
    functions, methods = (), ("__getitem__",)
    conformance = Conformance(torch=_numpy_getitem, shapes=_shape, inputs=1, options={"key": _any_key},
                              call=lambda kitty, x, key: x[key])

    @staticmethod
    def call(input, key):
        key = normalize_key(key)
        return apply(kitty.registry["_index_view" if key[1] is None else "_index"], (input,), (key,))


def _put(x, key, value):
    x[key] = value
    return x


class IndexPut(Op):
    """_index_put(input, values, key) -> Tensor

    The record of ``x[key] = values`` (``key`` from ``normalize_key``), applied in place on ``x``.

    The gradient to ``x`` is zero at the written positions; ``values`` gets the gradient of its
    positions, summed over the dimensions it was broadcast along."""

    name = "_index_put"
    functions = methods = ()
    n_inputs = 2
    writes_input = True  # writes only the indexed region, in the target's own buffer

    conformance = Conformance(
        torch=_numpy_put,
        shapes=_put_shapes, inputs=2,
        options={"key": [0, (slice(None), 1), (slice(0, 2),), ([0, 2],), (Ellipsis, -1),
                         (np.array([True, False, True]),)]},
        call=lambda kitty, x, values, key: _put(x * 1, key, values))

    def forward(self, xp, input, values, key):
        self.key, self.values_shape, self.values_dtype = key, values.shape, values.dtype
        basic, advanced = key
        try:
            if advanced is None:
                input[basic] = values  # apply_inplace passes the target's own buffer
            else:
                input[basic][advanced] = values
        except IndexError as error:
            raise IndexError(f"__setitem__(): {error} (tensor of shape {input.shape})") from None
        except ValueError as error:
            raise RuntimeError(f"__setitem__(): shape mismatch: {error} (tensor of shape "
                               f"{input.shape}, value of shape {values.shape})") from None
        return input

    def backward(self, xp, grad):
        grad_input = grad_values = None
        if self.needs_input_grad[0]:
            grad_input = grad.copy()
            basic, advanced = self.key
            if advanced is None:
                grad_input[basic] = 0
            else:
                grad_input[basic][advanced] = 0
        if self.needs_input_grad[1]:
            selected = _select(grad, self.key)
            extra = len(self.values_shape) - selected.ndim
            if extra > 0:  # values may carry leading size-1 dims
                selected = selected.reshape((1,) * extra + selected.shape)
            grad_values = kitty.unbroadcast(selected, self.values_shape).astype(self.values_dtype)
        return grad_input, grad_values


class Setitem(Composite):
    """Tensor[key] = value

    Writes ``value`` (a tensor, number or array, broadcast) into the indexed positions in place, as
    torch's ``index_put_``: the tensor's version is bumped and gradients flow to it (zero at the
    written positions) and to ``value``."""

    name = "setitem"
    functions, methods = (), ("__setitem__",)
    conformance = IndexPut.conformance

    @staticmethod
    def call(input, key, value):
        key = normalize_key(key)
        if not isinstance(value, Tensor):
            value = np.asarray(value)
            if value.dtype.kind not in "biuf":
                raise TypeError(f"__setitem__(): can't assign a {type(value).__name__} of dtype "
                                f"{value.dtype} to a tensor")
            value = value.astype(input.dtype)
        apply_inplace(kitty.registry["_index_put"], (input, value), (key,))


OPS = (IndexView, Index, Getitem, IndexPut, Setitem)
