"""Tensor creation functions, with PyTorch's signatures."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _tensor, _tracing
from ._dtypes import DEFAULT_DTYPE, SUPPORTED_DTYPES, DTypeLike, resolve_dtype
from ._tensor import Tensor, _flag, make_tensor

# Made at first use: numpy.random is a lazy submodule of NumPy whose import is a tenth of
# `import kittygrad`, and a program that draws nothing need not pay it.
_generator: np.random.Generator | None = None


def manual_seed(seed: int) -> None:
    """Sets the seed of kittygrad's random number generator (used by ``rand``, ``randn``, ...)."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The NumPy generator behind kittygrad's random functions (reseeded by ``manual_seed``)."""
    global _generator
    if _generator is None:
        _generator = np.random.default_rng()
    return _generator


def _draw(name: str) -> np.random.Generator:
    """The generator, for a random creation function: inside a function kitty.compile records, its
    result would be a constant of the record (stale at every replay), so the signature runs eagerly."""
    if _tracing.RECORDER is not None:
        _tracing.RECORDER.read(f"kitty.{name}() (a random tensor created inside the function)")
    return _generator if _generator is not None else generator()


def _created(*args: Any) -> Tensor:
    """``make_tensor`` for the creation functions: the first tensor made loads the plugins whose package
    was still importing at autoload (``import kittygrad_ops`` first), as ``Tensor(...)`` does."""
    if _tensor.DEFERRED_PLUGINS:
        _tensor.load_deferred_plugins()
    return make_tensor(*args)


def _size(sizes: tuple[Any, ...]) -> tuple[int, ...]:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    for n in sizes:
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"size must be a sequence of ints, got an element of type {type(n).__name__}.")
        if n < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {n}: {list(sizes)}.")
    return tuple(int(n) for n in sizes)


def _fill_dtype(dtype: DTypeLike | None) -> DTypeLike | None:
    """The original kittygrad's rule for ``ones``/``zeros``/``empty`` (and their ``_like``): a numeric
    NumPy dtype that tensors cannot hold gives a warning and the default dtype (other functions raise)."""
    if dtype is None or not isinstance(dtype, (type, str, np.dtype)):
        return dtype  # resolve_dtype refuses what is not a dtype
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        return dtype  # resolve_dtype raises the error
    if resolved in SUPPORTED_DTYPES:
        return resolved  # also for Python's float, which the original's NumPy array turned into float64
    if resolved.kind not in "biu":
        return dtype
    warnings.warn(f"Passed NumPy array has an unsupported data type '{resolved}'. "
                  f"Created a copy based on '{DEFAULT_DTYPE}' dtype.", UserWarning, stacklevel=3)
    return DEFAULT_DTYPE


def _make(data: np.ndarray, dtype: DTypeLike | None, requires_grad: bool) -> Tensor:
    dtype = DEFAULT_DTYPE if dtype is None else resolve_dtype(dtype)
    return _created(data.astype(dtype, copy=False), _flag("requires_grad", requires_grad))


def rand(*size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor of numbers drawn uniformly from ``[0, 1)``."""
    return _make(_draw("rand").random(_size(size)), dtype, requires_grad)


def randn(*size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor of numbers drawn from the standard normal distribution."""
    return _make(_draw("randn").standard_normal(_size(size)), dtype, requires_grad)


def ones(*size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor filled with ones."""
    return _make(np.ones(_size(size)), _fill_dtype(dtype), requires_grad)


def zeros(*size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor filled with zeros."""
    return _make(np.zeros(_size(size)), _fill_dtype(dtype), requires_grad)


def empty(*size: Any, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor of uninitialised data."""
    dtype = DEFAULT_DTYPE if dtype is None else resolve_dtype(_fill_dtype(dtype))
    return _created(np.empty(_size(size), dtype), _flag("requires_grad", requires_grad))


def full(size: Sequence[int], fill_value: float, *, dtype: DTypeLike | None = None,
         requires_grad: bool = False) -> Tensor:
    """Returns a tensor of shape ``size`` filled with ``fill_value``."""
    shape = _size((size,))
    if not isinstance(fill_value, (int, float, np.integer, np.floating)):
        raise TypeError(f"full(): fill_value must be a number, not {type(fill_value).__name__}.")
    return _make(np.full(shape, fill_value, dtype=np.float64), dtype, requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: DTypeLike | None = None,
           requires_grad: bool = False) -> Tensor:
    """Returns a 1-D tensor of values from ``start`` to ``end`` (exclusive) taken with ``step``."""
    if end is None:
        start, end = 0, start
    for name, value in (("start", start), ("end", end), ("step", step)):
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            raise TypeError(f"arange(): {name} must be a number, not {type(value).__name__}.")
        if not np.isfinite(value):
            raise RuntimeError(f"arange(): unsupported range: {name} must be finite, got {value}.")
    if step == 0:
        raise RuntimeError("arange(): step must be nonzero.")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange(): upper bound and larger bound inconsistent with step sign "
                           f"(start={start}, end={end}, step={step}).")
    try:
        values = np.arange(start, end, step, dtype=np.float64)
    except (ValueError, MemoryError):  # NumPy's "Maximum allowed size exceeded"
        raise RuntimeError(f"arange(): invalid size, possible overflow? (start={start}, end={end}, "
                           f"step={step})") from None
    return _make(values, dtype, requires_grad)


def eye(n: int, m: int | None = None, *, dtype: DTypeLike | None = None,
        requires_grad: bool = False) -> Tensor:
    """Returns a 2-D tensor with ones on the diagonal and zeros elsewhere."""
    for name, value in (("n", n), ("m", m)):
        if value is not None and (not isinstance(value, (int, np.integer)) or isinstance(value, bool)):
            raise TypeError(f"eye(): argument '{name}' must be an int, not {type(value).__name__}.")
    return _make(np.eye(*_size((n,) if m is None else (n, m))),  # type: ignore[call-overload]  # (n,) or (n, m)
                 dtype, requires_grad)


def _like(fill: Callable[..., Tensor], input: Tensor, dtype: DTypeLike | None, requires_grad: bool) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"expected a Tensor as input, got {type(input).__name__}.")
    return fill(input.shape, dtype=input.dtype if dtype is None else dtype, requires_grad=requires_grad)


def rand_like(input: Tensor, *, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns ``rand`` with the shape (and, by default, dtype) of ``input``."""
    return _like(rand, input, dtype, requires_grad)


def randn_like(input: Tensor, *, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns ``randn`` with the shape (and, by default, dtype) of ``input``."""
    return _like(randn, input, dtype, requires_grad)


def ones_like(input: Tensor, *, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns ``ones`` with the shape (and, by default, dtype) of ``input``."""
    return _like(ones, input, _fill_dtype(dtype), requires_grad)


def zeros_like(input: Tensor, *, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns ``zeros`` with the shape (and, by default, dtype) of ``input``."""
    return _like(zeros, input, _fill_dtype(dtype), requires_grad)


def empty_like(input: Tensor, *, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns ``empty`` with the shape (and, by default, dtype) of ``input``."""
    return _like(empty, input, _fill_dtype(dtype), requires_grad)


def full_like(input: Tensor, fill_value: float, *, dtype: DTypeLike | None = None,
              requires_grad: bool = False) -> Tensor:
    """Returns ``full`` with the shape (and, by default, dtype) of ``input``."""
    return _like(lambda size, **kw: full(size, fill_value, **kw), input, dtype, requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: DTypeLike | None = None,
             requires_grad: bool = False) -> Tensor:
    """Returns a 1-D tensor of ``steps`` values evenly spaced from ``start`` to ``end`` (inclusive)."""
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool):
        raise TypeError(f"linspace(): steps must be an int, got {type(steps).__name__}.")
    if steps < 0:
        raise RuntimeError(f"linspace(): number of steps must be non-negative, got {steps}.")
    return _make(np.linspace(start, end, int(steps), dtype=np.float64), dtype, requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype: DTypeLike | None = None,
             requires_grad: bool = False) -> Tensor:
    """Returns a 1-D tensor of ``steps`` values ``base ** x`` for ``x`` evenly spaced from ``start`` to
    ``end`` (inclusive)."""
    exponents = linspace(start, end, steps, dtype=np.float64)._data
    return _make(np.power(float(base), exponents), dtype, requires_grad)


def randint(low: int, high: int | None = None, size: Sequence[int] | None = None, *,
            dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns a tensor of integers drawn uniformly from ``[low, high)`` (``randint(high, size)`` starts
    at 0). kittygrad tensors hold floats, so the integers are stored in ``dtype`` (default float32);
    such a tensor can index another one."""
    if size is None:  # randint(high, size)
        if high is None:
            raise TypeError("randint(): missing the size argument.")
        low, high, size = 0, low, high  # type: ignore[assignment]  # the arguments shift left
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"randint(): random_ expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}.")
    return _make(_draw("randint").integers(low, high, _size((size,))).astype(np.float64), dtype, requires_grad)


def randperm(n: int, *, dtype: DTypeLike | None = None, requires_grad: bool = False) -> Tensor:
    """Returns a random permutation of ``0 .. n - 1`` (as floats of ``dtype``; it can index a tensor)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise RuntimeError(f"randperm(): n must be a non-negative int, got {n!r}.")
    return _make(_draw("randperm").permutation(int(n)).astype(np.float64), dtype, requires_grad)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """Returns a tensor sharing memory with the float NumPy array ``ndarray`` (changes to one show in
    the other). Arrays of other dtypes are converted (a copy) with a ``UserWarning``, since kittygrad
    tensors hold floats."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy(): expected np.ndarray (got {type(ndarray).__name__}).")
    return Tensor(ndarray)


def is_tensor(obj: Any) -> bool:
    """Returns True if ``obj`` is a kittygrad Tensor."""
    return isinstance(obj, Tensor)
