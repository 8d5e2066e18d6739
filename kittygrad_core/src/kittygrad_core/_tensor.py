"""The Tensor: a NumPy array with autograd state."""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import _engine, _tracing
from ._dtypes import DEFAULT_DTYPE, DTypeLike, as_float_array, resolve_dtype

_REPR_OPTIONS: dict[str, Any] = dict(precision=4, separator=", ", prefix="tensor(", floatmode="maxprec_equal",
                     max_line_width=89)


class device:
    """The device of a tensor. kittygrad computes with NumPy on the CPU, so ``"cpu"`` is the only one;
    any other (``"cuda"``, ``"mps"``) raises ``RuntimeError`` saying so."""

    __slots__ = ("type",)
    type: str

    def __init__(self, type: str | device = "cpu", index: int | None = None) -> None:
        name = type.type if isinstance(type, device) else str(type)
        if name.split(":")[0] != "cpu" or index not in (None, 0):
            raise RuntimeError(f"kittygrad has a single device, 'cpu' (NumPy); got device {name!r}"
                               f"{'' if index is None else f' with index {index}'}.")
        self.type = "cpu"

    def __repr__(self) -> str:
        return "device(type='cpu')"

    def __str__(self) -> str:
        return "cpu"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, device) or other == "cpu"

    def __hash__(self) -> int:
        return hash("cpu")


_CPU = device()


class Tensor:
    """A multi-dimensional array of floats that can record the operations applied to it.

    Args:
        data: a number, a (nested) list of numbers or a NumPy array; it is copied.
        dtype: ``kitty.float16``, ``float32`` (the default for Python data) or ``float64``.
        requires_grad (bool): whether autograd should record operations on the tensor.
    """

    # The hot attributes are slots; rarely set ones live in the (lazily created) __dict__ and fall back
    # to the class defaults below, so creating a tensor on the op path sets only four attributes.
    __slots__ = ("_data", "_requires_grad", "_grad_fn", "_version", "__dict__", "__weakref__")
    _data: np.ndarray
    _requires_grad: bool
    _grad_fn: _engine.Node | None
    _version: list[int]  # one counter shared by a base and its views
    _grad: Tensor | None = None
    _retains_grad: bool = False
    _accumulator: Any = None
    _base: Tensor | None = None
    _view_chain: tuple[Any, ...] | None = None  # how a view derives from its base: ((op, args, kwargs), ...)
    _hooks: tuple[dict[int, Any], dict[int, Any]] | None = None  # a leaf's (gradient, post-accumulate) hooks

    # NumPy must defer to our reflected operators instead of treating a Tensor as an array.
    __array_ufunc__ = None

    def __init__(self, data: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> None:
        if DEFERRED_PLUGINS:  # the first tensor after `import kittygrad_ops`: its ops load now
            load_deferred_plugins()
        if isinstance(data, Tensor):
            raise RuntimeError("If you want to create a new tensor from another, use "
                               "source_tensor.detach() and then specify the requires_grad attribute.")
        self._data = as_float_array(data, dtype)
        self._requires_grad = requires_grad if requires_grad is False else _flag("requires_grad",
                                                                                 requires_grad)
        self._grad_fn = None
        self._version = [0]

    # ------------------------------------------------------------------ representation

    def __repr__(self) -> str:
        if _tracing.RECORDER is not None:  # a value read into Python: kitty.compile cannot replay it
            _tracing.RECORDER.read('print or repr of a tensor')
        suffix = ""
        if self._data.dtype != DEFAULT_DTYPE:
            suffix += f", dtype={self._data.dtype}"
        if self._grad_fn is not None:
            suffix += f", grad_fn={self._grad_fn}"
        elif self._requires_grad:
            suffix += ", requires_grad=True"
        suffix += ")"
        return "tensor(" + np.array2string(self._data, suffix=suffix, **_REPR_OPTIONS) + suffix

    __str__ = __repr__

    # ------------------------------------------------------------------ attributes

    @property
    def data(self) -> Tensor:
        """A detached tensor sharing this tensor's memory (but not its version counter).

        Assigning a tensor to it (``t.data = other``) makes this tensor hold ``other``'s array, whatever
        its shape and dtype, without recording anything (torch's rule; for modules' ``.double()``)."""
        if _tracing.RECORDER is not None:  # an unrecorded alias: kitty.compile would replay it stale
            _tracing.RECORDER.read("Tensor.data")
        return make_tensor(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be set to a Tensor, not {type(value).__name__}.")
        self._data = value._data

    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dimension, as a tuple."""
        return self._data.shape

    @property
    def ndim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The floating data type of the elements."""
        return self._data.dtype

    @property
    def device(self) -> device:
        """Where the data lives: always ``device(type='cpu')`` (kittygrad has one device)."""
        return _CPU

    @property
    def is_cuda(self) -> bool:
        """Always False: kittygrad has one device, the CPU."""
        return False

    def cpu(self) -> Tensor:
        """Returns this tensor (it is on the CPU, kittygrad's only device)."""
        return self

    def cuda(self, device: Any = None) -> Tensor:
        """Raises ``RuntimeError``: kittygrad has one device, the CPU."""
        raise RuntimeError("kittygrad has a single device, 'cpu' (NumPy); .cuda() is not available.")

    @property
    def requires_grad(self) -> bool:
        """Whether gradients need to be computed for this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        flag = _flag("requires_grad", value)  # first: the message below reads it as a bool
        if self._grad_fn is not None:
            raise RuntimeError(
                "You can only change requires_grad flags of leaf variables." + (  # (sic) the original's
                    "" if flag else
                    "If you want to use a computed variable in a subgraph that doesn't "
                    "require differentiation use var_no_grad = var.detach()."))
        self._requires_grad = flag

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Sets ``requires_grad`` in place and returns this tensor."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by ``backward()``; ``None`` until one arrives."""
        if _tracing.RECORDER is not None:  # a value read into Python: kitty.compile cannot replay it
            _tracing.RECORDER.read('reading .grad')
        if self._grad_fn is not None and not self._retains_grad:
            warnings.warn(
                "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
                "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
                "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
                "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
                "instead.", UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if _tracing.RECORDER is not None:  # kitty.compile replays `t.grad = None`, not other values
            _tracing.RECORDER.set_grad(self, value)
        if value is None:
            self._grad = None
            return
        if not isinstance(value, Tensor):
            raise TypeError("Assigned grad expected to be a Tensor or None "
                            f"but got grad of '{type(value).__name__}'.")
        if value is self:
            raise RuntimeError("Can't assign Variable as its own grad.")
        if value.dtype != self.dtype:  # the original's texts
            raise TypeError("Assigned grad has data of a different type.")
        if value.shape != self.shape:
            raise RuntimeError("Assigned grad has data of a different size.")
        self._grad = value
        if not self._requires_grad:
            warnings.warn("Trying to assign a gradient to a tensor that doesn't need it. "
                          "The requires_grad attribute is set to True.", UserWarning, stacklevel=2)
            self._requires_grad = True

    @property
    def grad_fn(self) -> _engine.Node | None:
        """The backward node that created this tensor, or ``None`` for a leaf."""
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded operation."""
        return self._grad_fn is None

    @property
    def retains_grad(self) -> bool:
        """True if this non-leaf tensor keeps its ``.grad`` during backward."""
        return self._retains_grad

    @property
    def version(self) -> int:
        """How many times the tensor (or a view sharing its memory) was modified in place."""
        return self._version[0]

    def retain_grad(self) -> None:
        """Makes this non-leaf tensor keep its ``.grad`` during ``backward()``."""
        if not self._requires_grad:
            raise RuntimeError("Can't retain_grad on Tensor that has requires_grad=False.")
        if self._grad_fn is not None and not self._retains_grad:
            self._retains_grad = True
            self._grad_fn._retain(self)

    # ------------------------------------------------------------------ conversions

    def item(self) -> float:
        """Returns the value of a one-element tensor as a Python float."""
        if _tracing.RECORDER is not None:  # a value read into Python: kitty.compile cannot replay it
            _tracing.RECORDER.read('Tensor.item()')
        if self._data.size != 1:
            raise RuntimeError(f"A Tensor with {self._data.size} elements cannot be converted to Scalar.")
        return self._data.item()  # type: ignore[no-any-return]  # NumPy types it Any

    def numpy(self, copy: bool = False) -> np.ndarray:
        """Returns the tensor's data as a NumPy array sharing its memory, or a copy if ``copy=True``."""
        if _tracing.RECORDER is not None:  # a value read into Python: kitty.compile cannot replay it
            _tracing.RECORDER.read('Tensor.numpy()')
        return self._data.copy() if copy else self._data

    def tolist(self) -> Any:
        """Returns the data as a (nested) list of Python floats."""
        if _tracing.RECORDER is not None:  # a value read into Python: kitty.compile cannot replay it
            _tracing.RECORDER.read('Tensor.tolist()')
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if _tracing.RECORDER is not None:  # a value read into Python: kitty.compile cannot replay it
            _tracing.RECORDER.read('np.asarray(tensor)')
        if dtype is not None and np.dtype(dtype) != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def detach(self) -> Tensor:
        """Returns a new leaf tensor with a copy of the data, detached from the graph.

        Unlike torch, the copy shares neither memory nor version counter with this tensor (the original
        kittygrad's rule); ``.data`` shares the memory."""
        if _tracing.RECORDER is not None:  # an unrecorded copy: kitty.compile would replay it stale
            _tracing.RECORDER.read("Tensor.detach()")
        return make_tensor(self._data.copy())

    def detach_(self) -> Tensor:
        """Detaches this tensor from the graph in place, making it a leaf."""
        if _tracing.RECORDER is not None:  # not an op: kitty.compile cannot replay it
            _tracing.RECORDER.read("Tensor.detach_()")
        if self._base is not None and self._base._requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._requires_grad = False
        return self

    def type(self, dtype: DTypeLike | None = None) -> Tensor | str:
        """Returns the tensor cast to ``dtype`` (itself if it already has it), or the type name."""
        if dtype is None:
            return f"kittygrad.{self._data.dtype.name}"
        if resolve_dtype(dtype) == self._data.dtype:
            return self
        return self.to(dtype)  # type: ignore[no-any-return]  # `to` is an op, bound at registration

    def nelement(self) -> int:
        """The total number of elements."""
        return self._data.size

    numel = nelement

    def dim(self) -> int:
        """The number of dimensions."""
        return self._data.ndim

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape, or the size of dimension ``dim``."""
        if dim is None:
            return self._data.shape
        try:
            return self._data.shape[dim]  # type: ignore[no-any-return]  # NumPy types it Any
        except (IndexError, TypeError):
            raise _dim_error("size", dim, self._data.ndim) from None

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]  # type: ignore[no-any-return]  # NumPy types it Any

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))  # type: ignore[index]  # __getitem__ is an op

    def __bool__(self) -> bool:
        if _tracing.RECORDER is not None:  # a value read into Python: kitty.compile cannot replay it
            _tracing.RECORDER.read('bool(tensor)')
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data)

    def __float__(self) -> float:
        if _tracing.RECORDER is not None:  # a value read into Python: kitty.compile cannot replay it
            _tracing.RECORDER.read('float(tensor)')
        return float(self.item())

    def __int__(self) -> int:
        if _tracing.RECORDER is not None:  # a value read into Python: kitty.compile cannot replay it
            _tracing.RECORDER.read('int(tensor)')
        return int(self.item())

    # Comparisons give boolean NumPy arrays and never take part in autograd (as the original's).
    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        try:
            return self._data == _raw(other)  # type: ignore[no-any-return]  # NumPy types it Any
        except Exception as error:  # noqa: BLE001 - NumPy's broadcast and type errors, retyped
            raise _comparison_error("eq", self, other, error) from None

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        try:
            return self._data != _raw(other)  # type: ignore[no-any-return]  # NumPy types it Any
        except Exception as error:  # noqa: BLE001
            raise _comparison_error("ne", self, other, error) from None

    def __lt__(self, other: Any) -> np.ndarray:
        try:
            return self._data < _raw(other)  # type: ignore[no-any-return]  # NumPy types it Any
        except Exception as error:  # noqa: BLE001
            raise _comparison_error("lt", self, other, error) from None

    def __le__(self, other: Any) -> np.ndarray:
        try:
            return self._data <= _raw(other)  # type: ignore[no-any-return]  # NumPy types it Any
        except Exception as error:  # noqa: BLE001
            raise _comparison_error("le", self, other, error) from None

    def __gt__(self, other: Any) -> np.ndarray:
        try:
            return self._data > _raw(other)  # type: ignore[no-any-return]  # NumPy types it Any
        except Exception as error:  # noqa: BLE001
            raise _comparison_error("gt", self, other, error) from None

    def __ge__(self, other: Any) -> np.ndarray:
        try:
            return self._data >= _raw(other)  # type: ignore[no-any-return]  # NumPy types it Any
        except Exception as error:  # noqa: BLE001
            raise _comparison_error("ge", self, other, error) from None

    __hash__ = object.__hash__

    def __pos__(self) -> Tensor:
        return self

    def __imatmul__(self, other: Any) -> Tensor:
        # The original refuses `@=` (Python would otherwise rebind the name to `self @ other`).
        raise NotImplementedError("Inplace matrix multiplication is not implemented.")

    # ------------------------------------------------------------------ autograd

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Any = None) -> None:
        """Computes the gradient of this tensor with respect to the graph leaves.

        Args:
            gradient: the gradient of the final objective with respect to this tensor; may be
                omitted for a 0-d tensor (it is then ``1``).
            retain_graph: keep the graph (saved values and counts) so that backward can run through it
                again; defaults to ``create_graph``.
            create_graph: not supported yet (raises ``NotImplementedError``).
            inputs: tensors whose ``.grad`` receives the gradient; by default every leaf.
        """
        _engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def register_hook(self, hook: Any) -> _engine.RemovableHandle:
        """Registers a backward hook, called as ``hook(grad)`` each time the gradient of this tensor is
        computed; it may return a new gradient (a Tensor of the same shape and dtype) to use instead.

        Hooks run in registration order, before a leaf accumulates into ``.grad`` and before a non-leaf
        that retains its gradient fills ``.grad``. Returns a handle whose ``remove()`` unregisters it.
        """
        if not callable(hook):
            raise TypeError(f"register_hook(): hook must be callable, not {type(hook).__name__}.")
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node = self._grad_fn
        if node is None:
            hooks = self._leaf_hooks()[0]
        else:
            if node._retained is None:
                node._retained = _engine.Observer(self, self._version[0])
            hooks = node._retained.hooks
        handle = _engine.RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def register_post_accumulate_grad_hook(self, hook: Any) -> _engine.RemovableHandle:
        """Registers a hook called as ``hook(tensor)`` after a gradient was accumulated into the
        ``.grad`` of this leaf tensor. Returns a handle whose ``remove()`` unregisters it."""
        if not callable(hook):
            raise TypeError("register_post_accumulate_grad_hook(): hook must be callable, not "
                            f"{type(hook).__name__}.")
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        hooks = self._leaf_hooks()[1]
        handle = _engine.RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def _leaf_hooks(self) -> tuple[dict[Any, Any], dict[Any, Any]]:
        if self._hooks is None:
            self._hooks = ({}, {})
        return self._hooks

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: says which plugin provides a missing method.
        if DEFERRED_PLUGINS and load_deferred_plugins() and hasattr(type(self), name):
            return getattr(self, name)
        raise missing_op_error(name, f"'Tensor' object has no attribute '{name}'", method=True)


def _raw(value: Any) -> Any:
    return value._data if isinstance(value, Tensor) else value


def _flag(name: str, value: Any) -> bool:
    """A bool argument (``None`` is False, as torch); arrays and other objects are a TypeError."""
    if value is None or isinstance(value, (bool, int, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool, not {type(value).__name__}.")


def _dim_error(op: str, dim: Any, ndim: int) -> Exception:
    """torch's error for a dim that is out of range (IndexError) or not an int (TypeError)."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        return TypeError(f"{op}(): dim must be an int, not {type(dim).__name__}.")
    low, high = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    return IndexError(f"Dimension out of range (expected to be in range of [{low}, {high}], but got {dim})")


def _comparison_error(op: str, tensor: Tensor, other: Any, error: Exception) -> Exception:
    if isinstance(other, (Tensor, np.ndarray)) and "broadcast" in str(error):
        return RuntimeError(f"{op}(): the size of tensor a {list(tensor.shape)} must match the size of "
                            f"tensor b {list(other.shape)} (they cannot be broadcast together).")
    return TypeError(f"{op}(): cannot compare a Tensor of dtype {tensor.dtype} and shape "
                     f"{tuple(tensor.shape)} with {type(other).__name__}"
                     f"{f' of dtype {other.dtype}' if isinstance(other, np.ndarray) else ''}: {error}")


def make_tensor(data: np.ndarray, requires_grad: bool = False, grad_fn: Any = None) -> Tensor:
    """Wraps an array the caller owns as a Tensor, without copying or validation (the op fast path)."""
    t = _new_tensor(Tensor)
    t._data = data
    t._requires_grad = requires_grad
    t._grad_fn = grad_fn
    t._version = [0]
    return t


_new_tensor = object.__new__
# _registry's, bound by ``bind`` at package import (_registry imports this module through _dispatch).
missing_op_error: Any = None


def bind(missing: Any) -> None:
    """Gives Tensor the registry's ``missing_op_error`` (called once by the package's import)."""
    global missing_op_error
    missing_op_error = missing


def bind_plugins(deferred: list[Any], load_deferred: Any) -> None:
    """Gives Tensor the plugin host's deferred entry points and their loader (called once)."""
    global DEFERRED_PLUGINS, load_deferred_plugins
    DEFERRED_PLUGINS, load_deferred_plugins = deferred, load_deferred


# Bound by ``bind``: plugins whose package was still importing when kittygrad_core autoloaded them
# (the plugin host's list, never rebound), and the host's loader of them.
DEFERRED_PLUGINS: list[Any] = []
load_deferred_plugins: Any = None
tensor = Tensor
