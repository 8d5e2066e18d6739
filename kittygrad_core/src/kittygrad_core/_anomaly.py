"""Anomaly detection: a backward rule that produces NaN raises, naming the op and where it was recorded.

While it is on (``detect_anomaly()``, ``set_detect_anomaly(True)``: per thread or asyncio task), a tracer
stores the user's stack on each node recorded, and every backward takes the general pass, which checks
each rule's gradients.
"""
from __future__ import annotations

import traceback
from contextvars import ContextVar
from typing import Any

import numpy as np

from . import _tracing

ENABLED: ContextVar[bool] = ContextVar("kittygrad_detect_anomaly", default=False)
_INTERNAL = ("kittygrad_core", "kittygrad_ops", "kittygrad_nn", "<kittygrad op")


def _record_stack(op: type, operands: tuple[Any, ...], output: Any) -> None:
    node = getattr(output, "_grad_fn", None)
    if node is not None and getattr(node, "_anomaly", None) is None:
        frames = [f for f in traceback.extract_stack()[:-1] if not any(p in f.filename for p in _INTERNAL)]
        node._anomaly = "".join(traceback.format_list(frames[-8:]))


def check(node: Any, grads: tuple[Any, ...]) -> None:
    """Raises if a rule's gradient has a NaN, naming the node and where its op was recorded."""
    for i, g in enumerate(grads):
        if g is not None and np.isnan(np.asarray(g)).any():
            error = RuntimeError(f"Function '{type(node).__name__}' returned nan values in its {i}th output.")
            stack = getattr(node, "_anomaly", None)
            error.add_note(f"{node._describe()} was recorded at (most recent call last):\n{stack}"
                           if stack else "Its forward ran before anomaly detection was enabled.")
            raise error


class set_detect_anomaly:
    """Turns anomaly detection on or off: at once, and as a context manager restoring the old state.

    Args:
        mode (bool): whether backward checks every rule's gradients for NaN.
    """

    def __init__(self, mode: bool) -> None:
        self._token = ENABLED.set(bool(mode))
        self._tracing = bool(mode)
        if self._tracing:
            _tracing.start_tracing(_record_stack)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc_info: Any) -> None:
        if self._tracing:
            _tracing.stop_tracing(_record_stack)
            self._tracing = False
        ENABLED.reset(self._token)


class detect_anomaly(set_detect_anomaly):
    """Context manager that enables anomaly detection for the block: a backward rule returning NaN
    raises a ``RuntimeError`` naming the op, with a note showing where the op was recorded."""

    def __init__(self) -> None:
        self._token = None  # type: ignore[assignment]  # __enter__ sets the token

    def __enter__(self) -> None:
        set_detect_anomaly.__init__(self, True)
