"""Plugin discovery and registration: entry points in, ops in the registry out."""
from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import _entry_points, hookspecs
from ._registry import OpRegistry

ENTRY_POINT_GROUP = "kittygrad"
# The project's own plugin distributions load first, in this order: without ``override=True`` a
# later plugin never displaces an op registered earlier, so no third party can displace them by name.
STANDARD_DISTRIBUTIONS = ("kittygrad-ops", "kittygrad-nn", "kittygrad-viz")


class PluginWarning(UserWarning):
    """A plugin could not be loaded, or one of its ops could not be registered."""


@dataclass
class PluginInfo:
    """What kittygrad knows about one plugin."""

    name: str
    distribution: str | None = None
    version: str | None = None
    ops: list[str] = field(default_factory=list)
    error: str | None = None


def _importing(ep: Any) -> bool:
    """Whether the top-level package of an entry point's module is in the middle of its import."""
    package = str(getattr(ep, "value", "")).partition(":")[0].partition(".")[0]
    spec = getattr(sys.modules.get(package), "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


class PluginHost:
    """The plugin manager of kittygrad and the registry it feeds.

    Args:
        registry: where the plugins' ops are registered.
    """

    def __init__(self, registry: OpRegistry) -> None:
        self.registry = registry
        self.manager = pluggy.PluginManager("kittygrad")
        self.manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        #: The array namespace of ``create_graph`` passes (``kittygrad_array_namespace``) and its
        #: distribution; the first plugin to offer one provides it.
        self.namespace: Any = None
        self.namespace_owner: str | None = None
        #: Entry points whose package was still being imported at autoload (``import kittygrad_ops``
        #: imports kittygrad_core, which autoloads ``kittygrad_ops.plugin`` while ``kittygrad_ops`` is
        #: half-initialised): loaded by :meth:`load_deferred` once that import is over. The list is
        #: never rebound (Tensor's constructor checks the same object).
        self.deferred: list[Any] = []
        self._deferred_lock = threading.RLock()  # reentrant: a plugin being loaded may make a tensor

    def load_entry_points(self, entry_points: Iterable[Any] | None = None) -> None:
        """Loads the plugins of the ``kittygrad`` entry-point group, in a deterministic order.

        ``KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD`` turns autoloading off except for the entry-point names
        listed in ``KITTYGRAD_PLUGINS``; ``KITTYGRAD_BLOCK_PLUGINS`` lists names never loaded.
        """
        if entry_points is None:
            entry_points = _entry_points.entry_points(ENTRY_POINT_GROUP)
        only = set(_env_list("KITTYGRAD_PLUGINS")) if os.environ.get(
            "KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD") else None
        blocked = set(_env_list("KITTYGRAD_BLOCK_PLUGINS"))
        for ep in sorted(entry_points, key=_load_order):
            if ep.name in blocked or (only is not None and ep.name not in only):
                continue
            if _importing(ep):
                self.deferred.append(ep)
                continue
            self._load(ep)

    def load_deferred(self) -> bool:
        """Loads the deferred entry points whose package has finished importing; True if any loaded.

        Called by ``import kittygrad``, by the first tensor made, and before a missing attribute of
        ``kittygrad_core`` or of a tensor is reported.
        """
        with self._deferred_lock:
            pending = self.deferred[:]
            self.deferred.clear()
            loaded = False
            for ep in pending:
                if _importing(ep):
                    self.deferred.append(ep)
                else:
                    self._load(ep)
                    loaded = True
            return loaded

    def _load(self, ep: Any) -> None:
        """Imports one entry point's plugin and registers it; a failure is a PluginWarning."""
        dist = _dist_name(ep)
        version = getattr(getattr(ep, "dist", None), "version", None)
        try:
            plugin = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # SystemExit too: a plugin must not end import kittygrad
            self._fail(self._key(ep.name, dist), dist, version, f"failed to import: {error!r}")
            return
        self.add_plugin(plugin, name=ep.name, distribution=dist, version=version, autoload=True)

    def add_plugin(self, plugin: Any, name: str | None = None, distribution: str | None = None,
                   version: str | None = None, autoload: bool = False) -> PluginInfo | None:
        """Registers a plugin object and the ops its ``kittygrad_register_ops`` returns.

        At autoload, every problem becomes a :class:`PluginWarning`; otherwise a name clash raises.
        """
        name = self._key(name or getattr(plugin, "__name__", None) or repr(plugin), distribution)
        try:
            self.manager.register(plugin, name=name)
        except Exception as error:
            self._fail(name, distribution, version, f"was rejected by the plugin manager: {error}")
            return None
        unknown = [c.name for c in self.manager.get_hookcallers(plugin) or [] if c.spec is None]
        if unknown:
            self.manager.unregister(plugin)
            self._fail(name, distribution, version,
                       f"implements unknown hook(s) {unknown}; known hooks: "
                       f"{sorted(n for n in dir(hookspecs) if n.startswith('kittygrad_'))}")
            return None
        info = PluginInfo(name, distribution, version)
        self.plugins[name] = info
        for impl in self.manager.hook.kittygrad_register_ops.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                ops = list(impl.function() or ())  # type: ignore[call-overload]  # pluggy types it object
            except KeyboardInterrupt:
                raise
            except BaseException as error:
                self.manager.unregister(plugin)
                self._fail(name, distribution, version, f"raised in kittygrad_register_ops: {error!r}")
                return None
            for op in ops:
                try:
                    node = self.registry.register(op, plugin=name, distribution=distribution)
                except KeyboardInterrupt:
                    raise
                except BaseException as error:
                    if not autoload:
                        raise
                    warnings.warn(f"kittygrad plugin '{name}' (distribution '{distribution}'): op "
                                  f"{getattr(op, 'name', op)!r} was not registered: {error}",
                                  PluginWarning, stacklevel=2)
                    continue
                info.ops.append(node.name)
        self._take_namespace(plugin, name, distribution, version)
        return info

    def _take_namespace(self, plugin: Any, name: str, distribution: str | None, version: str | None) -> None:
        """Keeps the first array namespace a plugin offers for ``create_graph=True`` passes."""
        if self.namespace is not None:
            return
        for impl in self.manager.hook.kittygrad_array_namespace.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                namespace = impl.function()
            except KeyboardInterrupt:
                raise
            except BaseException as error:
                self._fail(name, distribution, version, f"raised in kittygrad_array_namespace: {error!r}")
                return
            if not (callable(getattr(namespace, "wrap", None)) and callable(getattr(namespace, "unwrap", None))):
                warnings.warn(f"kittygrad plugin '{name}' (distribution '{distribution}'): its array namespace "
                              "has no wrap() and unwrap(); it was ignored.", PluginWarning, stacklevel=3)
                return
            self.namespace, self.namespace_owner = namespace, distribution or name

    def _key(self, name: str, distribution: str | None) -> str:
        # Plugins are told apart by distribution and name: a second distribution's plugin of the same
        # name is keyed "distribution:name" and never takes the first one's place.
        if name in self.plugins and self.plugins[name].distribution != distribution:
            return f"{distribution}:{name}"
        return name

    def _fail(self, name: str, distribution: str | None, version: str | None, reason: str) -> None:
        self.plugins[name] = PluginInfo(name, distribution, version, error=reason)
        warnings.warn(f"kittygrad plugin '{name}' (distribution '{distribution}') {reason}; "
                      "it was skipped.", PluginWarning, stacklevel=3)

    def trace_hook(self, op: type, inputs: tuple[Any, ...], output: Any) -> None:
        """A tracer that forwards every op call to the ``kittygrad_trace_op`` hook."""
        self.manager.hook.kittygrad_trace_op(op=op, inputs=inputs, output=output)


def _load_order(ep: Any) -> tuple[Any, ...]:
    dist = _dist_name(ep) or ""
    standard = STANDARD_DISTRIBUTIONS
    rank = standard.index(dist) if dist in standard else len(standard)
    return rank, dist, ep.name


def _dist_name(ep: Any) -> str | None:
    dist = getattr(ep, "dist", None)
    return getattr(dist, "name", None) if dist is not None else None
