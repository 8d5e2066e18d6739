"""Tracers: observers told about every op run while they are active (kittygrad_viz is one).

A tracer belongs to the context that started it (a ``ContextVar``): a graph recorded in one thread or
asyncio task never sees another's ops. ``ACTIVE`` counts the tracers started anywhere, so that with
none, the op path pays one truthiness check of a module global.

An op never fails because of an observer: a tracer that raises is stopped and its error is raised
again by the :func:`stop_tracing` that ends it, after the op (whose result stands) has completed.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

Tracer = Callable[[type, tuple[Any, ...], Any], None]

#: How many tracers are started, in any context: the op path's fast check. A ``kitty.compile``
#: recording counts as one while it runs.
ACTIVE = 0
#: The ``kitty.compile`` recorder while a compiled function records (``_compile.Recorder``), else None.
#: Told about every op (with its options), value reads, backward passes and replayable calls.
RECORDER: Any = None
EMPTY: dict[str, Any] = {}
_COUNT_LOCK = threading.Lock()
# The tracers of this context, and (one per failed tracer) the error it raised.
_TRACERS: ContextVar[tuple[Any, ...]] = ContextVar("kittygrad_tracers", default=())
_FAILED: ContextVar[tuple[Any, ...]] = ContextVar("kittygrad_failed_tracers", default=())


def start_tracing(tracer: Tracer) -> None:
    """Calls ``tracer(op, operands, output)`` after every op of this context until :func:`stop_tracing`."""
    global ACTIVE
    if not callable(tracer):
        raise TypeError(f"start_tracing(): the tracer must be callable, not {type(tracer).__name__}.")
    _TRACERS.set(_TRACERS.get() + (tracer,))
    with _COUNT_LOCK:
        ACTIVE += 1


def stop_tracing(tracer: Tracer) -> None:
    """Stops calling ``tracer``; raises the error the tracer raised while it was active, if any."""
    global ACTIVE
    tracers, failed = _TRACERS.get(), _FAILED.get()
    error = next((e for t, e in failed if t is tracer or t == tracer), None)
    if error is not None:
        _FAILED.set(tuple(item for item in failed if item[1] is not error))
    elif tracer in tracers:
        index = len(tracers) - 1 - tracers[::-1].index(tracer)  # the innermost start
        _TRACERS.set(tracers[:index] + tracers[index + 1:])
    else:
        raise ValueError(f"stop_tracing(): {tracer!r} is not tracing in this context (it was never "
                           "started here, or was already stopped).")
    with _COUNT_LOCK:
        ACTIVE -= 1
    if error is not None:
        raise error


def active_tracers() -> tuple[Any, ...]:
    """The tracers started in the current context, outermost first."""
    return _TRACERS.get()


def notify(op: type, operands: tuple[Any, ...], output: Any, args: tuple[Any, ...] = (),
           kwargs: dict[str, Any] = EMPTY, kind: str = "op") -> None:
    """Reports an op call to this context's tracers; a tracer that raises is stopped (see above)."""
    if RECORDER is not None:
        RECORDER.op(op, operands, output, args, kwargs, kind)
    for tracer in _TRACERS.get():
        try:
            tracer(op, operands, output)
        except Exception as error:
            tracers = _TRACERS.get()
            if tracer in tracers:
                index = tracers.index(tracer)
                _TRACERS.set(tracers[:index] + tracers[index + 1:])
                _FAILED.set(_FAILED.get() + ((tracer, error),))
