"""Composite ops: functions built from other ops, bound and tested like ops."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ._op import Conformance


class Composite:
    """Base class of a composite op: a function of other ops that needs no backward rule of its own.

    Use it for ops whose gradient follows from the ops they call, and for those with several outputs
    (``split``, ``max(dim)``, ``broadcast_tensors``): autograd records the ops inside. A subclass sets
    ``name`` and defines ``call`` as a ``staticmethod`` with the public signature; ``functions``,
    ``methods`` and ``properties`` (e.g. ``("mT",)``) say how it is bound, ``conformance`` how it is
    tested. Like :class:`Op`, ``override`` replaces an op of the same name.
    """

    name: ClassVar[str]
    functions: ClassVar[tuple[str, ...] | None] = None
    methods: ClassVar[tuple[str, ...] | None] = None
    properties: ClassVar[tuple[str, ...]] = ()
    override: ClassVar[bool] = False
    conformance: ClassVar[Conformance | None] = None
    plugin: ClassVar[str | None] = None
    distribution: ClassVar[str | None] = None
    differentiable: ClassVar[bool] = True
    inplace: ClassVar[tuple[str, ...]] = ()
    view: ClassVar[bool] = False
    input_names: ClassVar[tuple[str, ...]] = ()

    call: ClassVar[Callable[..., Any]]
