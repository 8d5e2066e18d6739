"""The plugin API of kittygrad: the hooks a plugin may implement.

A plugin is a module (or object) with functions marked ``@kittygrad_core.hookimpl`` and named after a
hook below, published under the entry-point group ``kittygrad``::

    [project.entry-points.kittygrad]
    myops = "my_package.plugin"

``import kittygrad_core`` loads every such plugin (unless ``KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD`` is set),
calls ``kittygrad_register_ops`` once per plugin and binds what it returns. After that no hook is
called on the op path, except ``kittygrad_trace_op`` while tracing is switched on.
"""
from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("kittygrad")
hookimpl = pluggy.HookimplMarker("kittygrad")


@hookspec
def kittygrad_register_ops() -> list[type]:  # type: ignore[empty-body]  # a hookspec has no body
    """Return the op records this plugin provides: ``Op`` or ``Function`` subclasses.

    Each is bound as module functions of ``kittygrad_core`` and as ``Tensor`` methods and operators,
    as the record declares. A name another plugin already registered is skipped with a warning
    naming both distributions, unless the record sets ``override = True``.
    """


@hookspec
def kittygrad_trace_op(op: type, inputs: tuple[Any, ...], output: Any) -> None:
    """Observe one op call while tracing is on (see ``kittygrad_core.start_tracing``).

    ``op`` is the registered node class, ``inputs`` the operands as passed (tensors, numbers,
    arrays) and ``output`` the result tensor, whose ``grad_fn`` is the new backward node if one was
    recorded. In-place ops report the modified tensor as ``output``. kittygrad_viz draws from it.
    """


@hookspec(firstresult=True)
def kittygrad_array_namespace() -> Any:
    """Return the array namespace that backward rules receive as ``xp`` under ``create_graph=True``.

    The namespace offers the NumPy names that rules use (``where``, ``exp``, ``matmul``, ...) on
    values that record a graph, and two conversions: ``wrap(tensor)`` (a tensor as such a value) and
    ``unwrap(value)`` (a value, an array or a number as a tensor). Called once, when the plugin is
    registered; the first plugin to answer provides it (kittygrad-ops does).
    """
