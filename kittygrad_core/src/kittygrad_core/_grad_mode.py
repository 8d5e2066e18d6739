"""Grad mode: whether ops record a backward graph, held per thread and per asyncio task."""
from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# A ContextVar (not a global) so that no_grad in one thread or task never leaks into another.
GRAD_ENABLED: ContextVar[bool] = ContextVar("kittygrad_grad_enabled", default=True)


def is_grad_enabled() -> bool:
    """Returns True if grad mode is currently enabled."""
    return GRAD_ENABLED.get()


class _GradModeContext:
    """Base of the grad-mode context managers; usable as ``with``, ``@ctx`` and ``@ctx()``."""

    _mode: bool

    def __new__(cls, func: Callable[..., Any] | None = None, *args: Any, **kwargs: Any) -> Any:
        self = super().__new__(cls)
        if callable(func) and not args and not kwargs:  # bare decorator: @no_grad
            self.__init__()  # type: ignore[misc]  # __new__ of this very class
            return self(func)
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._tokens: list[Any] = []

    def __enter__(self) -> None:
        self._tokens.append(GRAD_ENABLED.set(self._mode))

    def __exit__(self, *exc_info: Any) -> None:
        GRAD_ENABLED.reset(self._tokens.pop())

    def __call__(self, func: F) -> F:
        return _decorate(func, self._mode, warn_nested=type(self) is no_grad)


_NESTED = "Calling no_grad more then once has no additional effect."  # (sic) the original's text


def _decorate(func: F, mode: bool, warn_nested: bool = False) -> F:
    """Wraps ``func`` to run in grad mode ``mode``; a generator runs in it each time it resumes.

    ``warn_nested`` (``@no_grad``): a call where grad is already disabled warns, as the original does.
    """
    if inspect.isgeneratorfunction(func):
        wrapper = functools.wraps(func)(lambda *args, **kwargs: _in_mode(func(*args, **kwargs), mode))
    else:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if warn_nested and not GRAD_ENABLED.get():
                warnings.warn(_NESTED, UserWarning, stacklevel=2)
            token = GRAD_ENABLED.set(mode)
            try:
                return func(*args, **kwargs)
            finally:
                GRAD_ENABLED.reset(token)

    wrapper._kittygrad_grad_mode = mode  # type: ignore[attr-defined]  # lets Function detect a permanently disabled forward
    return wrapper  # type: ignore[return-value]


def _in_mode(generator: Any, mode: bool) -> Any:
    """Drives ``generator`` so that its body (not its consumer) runs in grad mode ``mode``."""
    method, value = generator.send, None
    while True:
        token = GRAD_ENABLED.set(mode)
        try:
            item = method(value)
        except StopIteration as stop:
            return stop.value
        finally:
            GRAD_ENABLED.reset(token)
        try:
            method, value = generator.send, (yield item)
        except GeneratorExit:
            token = GRAD_ENABLED.set(mode)
            try:
                generator.close()
            finally:
                GRAD_ENABLED.reset(token)
            raise
        except BaseException as error:  # thrown in by the consumer: the body sees it in its mode
            method, value = generator.throw, error


class no_grad(_GradModeContext):
    """Context manager and decorator that disables gradient calculation.

    Inside it, every op's result has ``requires_grad=False`` and no backward graph is built, even when
    the inputs require grad. Works as ``with no_grad():``, ``@no_grad`` and ``@no_grad()`` (also on
    generator functions); the setting is local to the current thread (or asyncio task). Entering it
    where grad is already disabled warns, as the original kittygrad does.
    """

    _mode = False

    def __enter__(self) -> None:
        if not GRAD_ENABLED.get():
            warnings.warn(_NESTED, UserWarning, stacklevel=2)
        super().__enter__()


class enable_grad(_GradModeContext):
    """Context manager and decorator that enables gradient calculation, e.g. inside ``no_grad``."""

    _mode = True


class set_grad_enabled:
    """Sets gradient calculation on or off; a function call, a context manager or a decorator.

    Args:
        mode (bool): whether to enable grad (``True``) or disable it (``False``).
    """

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._token = GRAD_ENABLED.set(self._mode)  # takes effect at once, like torch's

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info: Any) -> None:
        GRAD_ENABLED.reset(self._token)

    def __call__(self, func: F) -> F:
        GRAD_ENABLED.reset(self._token)
        return _decorate(func, self._mode)


class inference_mode(_GradModeContext):
    """Context manager and decorator like :class:`no_grad` (kittygrad has no separate inference
    tensors): inside it no graph is recorded. ``inference_mode(False)`` does nothing."""

    _mode = False

    def __new__(cls, mode: Any = True, *args: Any, **kwargs: Any) -> Any:
        if callable(mode) and not args and not kwargs:  # bare decorator: @inference_mode
            self = super().__new__(cls)
            self.__init__()
            return self(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        super().__init__()
        self._mode = not mode

    def __call__(self, func: F) -> F:
        return _decorate(func, self._mode) if not self._mode else func
