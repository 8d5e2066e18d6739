"""kittygrad-core: tensors, the lock-based autograd engine and the op registry.

Core holds no op of its own: ops come from plugins (``kittygrad-ops`` provides the standard ones),
loaded from the ``kittygrad`` entry-point group when this package is imported.
"""
import sys as _sys
from typing import Any

from . import _autograd, _engine, _higher_order, _tensor, _tracing, autograd, extend
from ._compile import compile
from ._composite import Composite
from ._creation import (
    arange,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    generator,
    is_tensor,
    linspace,
    logspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    zeros,
    zeros_like,
)
from ._dtypes import ALL_DTYPES, DEFAULT_DTYPE, Scalar, Size, double, float, float16, float32, float64, half
from ._engine import AccumulateGrad, Node, unbroadcast
from ._function import Function, FunctionCtx
from ._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from ._op import Conformance, Op
from ._plugins import ENTRY_POINT_GROUP, PluginHost, PluginInfo, PluginWarning
from ._registry import (
    PROVIDES_GROUP,
    MissingOpError,
    OpRegistry,
    OverrideWarning,
    install_operator_stubs,
    missing_op_error,
)
from ._tensor import Tensor, device, tensor
from .hookspecs import hookimpl, hookspec

__version__ = "0.1.0"

#: The hot modules an installed wheel may have compiled (Cython, pure-Python mode: see setup.py).
COMPILABLE = ("_dispatch", "_engine")
#: Those of them running compiled in this process; ``()`` in the pure-Python build.
COMPILED: tuple[str, ...] = tuple(name for name in COMPILABLE
                                  if not str(_sys.modules[f"{__name__}.{name}"].__file__).endswith((".py", ".pyc")))

__all__ = [
    "ALL_DTYPES", "AccumulateGrad", "COMPILABLE", "COMPILED", "Composite", "compile", "Conformance", "DEFAULT_DTYPE",
    "ENTRY_POINT_GROUP",
    "Function", "FunctionCtx", "MissingOpError", "missing_op_error", "Node", "Op", "OpRegistry", "OverrideWarning",
    "PROVIDES_GROUP", "PluginHost", "PluginInfo", "PluginWarning", "Scalar", "Size", "Tensor", "arange",
    "autograd", "device", "extend",
    "double", "empty", "empty_like", "enable_grad", "eye", "float", "float16", "float32", "float64",
    "from_numpy", "full", "full_like", "generator", "half", "hookimpl", "hookspec", "inference_mode",
    "is_grad_enabled", "is_tensor", "linspace", "logspace", "manual_seed", "no_grad", "ones", "ones_like",
    "plugins", "rand", "rand_like", "randint", "randn", "randn_like", "randperm", "registry",
    "set_grad_enabled", "start_tracing", "stop_tracing", "tensor", "unbroadcast", "zeros", "zeros_like",
]

# The engine and Tensor need names from modules that import them: bound once here, not per call.
_engine.bind(Tensor, _tensor.make_tensor, _autograd.backward)
_tensor.bind(missing_op_error)

#: The registry of every op; plugins fill it, ``register``/``unregister`` change it at runtime.
registry = OpRegistry(_sys.modules[__name__], Tensor)
install_operator_stubs(Tensor)
#: The plugin host: its pluggy ``manager`` and what each loaded plugin provided.
plugins = PluginHost(registry)
_tensor.bind_plugins(plugins.deferred, plugins.load_deferred)
_higher_order.HOST = plugins


def start_tracing(tracer: _tracing.Tracer | None = None) -> None:
    """Reports every op call to ``tracer(op, inputs, output)``, or to the ``kittygrad_trace_op`` hook."""
    _tracing.start_tracing(plugins.trace_hook if tracer is None else tracer)


def stop_tracing(tracer: _tracing.Tracer | None = None) -> None:
    """Undoes the matching :func:`start_tracing`."""
    _tracing.stop_tracing(plugins.trace_hook if tracer is None else tracer)


def __getattr__(name: str) -> Any:
    if plugins.deferred and plugins.load_deferred() and name in globals():
        return globals()[name]  # an op of a plugin whose package was still importing at autoload
    raise missing_op_error(name, f"module 'kittygrad_core' has no attribute '{name}'")


plugins.load_entry_points()
