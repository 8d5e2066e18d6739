"""Tracers: observers told about every op run while they are active (kittygrad_viz is one).

When no tracer is active the op path pays one truthiness check of ``TRACERS``.
"""
from __future__ import annotations

from typing import Any, Callable

Tracer = Callable[[type, tuple, Any], None]
TRACERS: list[Tracer] = []


def start_tracing(tracer: Tracer) -> None:
    """Calls ``tracer(op, operands, output)`` after every op until :func:`stop_tracing`."""
    TRACERS.append(tracer)


def stop_tracing(tracer: Tracer) -> None:
    """Stops calling ``tracer``."""
    TRACERS.remove(tracer)


def notify(op: type, operands: tuple, output: Any) -> None:
    for tracer in tuple(TRACERS):
        tracer(op, operands, output)
