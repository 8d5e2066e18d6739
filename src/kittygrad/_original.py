"""The original kittygrad's module paths (``kittygrad.core``, ``kittygrad.func.ops``, ...) as aliases.

Code written for the original imports names from where that package defined them, e.g.
``from kittygrad.core import ALL_DTYPES`` or ``from kittygrad.nn.base import Module``. This project
keeps its code elsewhere, so each such path is a small module object holding the same public names,
taken from where they live here. Only the user-facing names are provided; the original's internal
helpers (``BackwardGraph``, ``autocast``, ``*Backward`` classes, ...) have no counterpart
(see docs/architecture.md, "Compatibility").
"""
from __future__ import annotations

import sys
import types
from typing import Any

import kittygrad_core as _core

# Constants of the original's ``kittygrad.core.constants`` that user code may read (tensor repr settings).
_CONSTANTS = {
    "ALL_DTYPES": _core.ALL_DTYPES, "DEFAULT_DTYPE": _core.DEFAULT_DTYPE,
    "Size": _core.Size, "Scalar": _core.Scalar,
    "float16": _core.float16, "half": _core.half, "float32": _core.float32, "float": _core.float,
    "float64": _core.float64, "double": _core.double,
}

# path -> names; a name is looked up on kittygrad_core when first read (ops are registered by plugins,
# and a plugin registering later must still be seen), unless a provider below says otherwise.
_PATHS: dict[str, tuple[str, ...]] = {
    "core": tuple(_CONSTANTS),
    "core.constants": tuple(_CONSTANTS),
    "autograd": (),
    "autograd.interaction": ("no_grad", "Function", "Tensor", "tensor"),
    "func": (),
    "func.ops": ("mm", "dot", "mv", "bmm", "matmul"),
    "func.activation": ("softmax", "log_softmax"),
    "func.view": ("broadcast_to", "broadcast_tensors"),
    "tensor": (),
    "tensor.create": ("rand", "randn", "ones", "ones_like", "zeros", "zeros_like", "empty", "empty_like"),
    "tensor.tensor": ("Tensor", "tensor"),
}

# paths whose parent is an existing package of this project (kittygrad.nn is kittygrad_nn, ...)
_NN_PATHS: dict[str, tuple[str, ...]] = {
    "nn.base": ("Parameter", "Module"),
    "nn.activation": ("Sigmoid", "Tanh", "ReLU", "Softmax"),
    "nn.linear": ("Identity", "Linear"),
}


def _module(path: str, names: tuple[str, ...], provider: Any) -> types.ModuleType:
    module = types.ModuleType(f"kittygrad.{path}", f"The original kittygrad's ``kittygrad.{path}``.")

    def __getattr__(name: str) -> Any:
        if name in _CONSTANTS and name in names:
            return _CONSTANTS[name]
        if name in names:
            return getattr(provider, name)
        raise AttributeError(f"module 'kittygrad.{path}' has no attribute '{name}'")

    def __dir__() -> list[str]:
        return sorted(set(names) | set(vars(module)))

    vars(module).update(__all__=list(names), __getattr__=__getattr__, __dir__=__dir__)  # a module made here
    return module


def install(package: types.ModuleType) -> None:
    """Registers the original's paths under ``package`` (``kittygrad``) in ``sys.modules``.

    Subpackages get their children as attributes; ``kittygrad.tensor`` is registered as a module but
    not set as an attribute of ``kittygrad``, where ``tensor`` stays the function (as in the original).
    """
    modules: dict[str, types.ModuleType] = {}
    for path, names in _PATHS.items():
        # vars(), not getattr: a missing name would take core's __getattr__, whose error path scans
        # every installed distribution's metadata (a third of import time)
        existing = vars(_core).get(path) if "." not in path else None
        # kittygrad.autograd is torch's (kittygrad_core.autograd: backward, grad); the original's
        # submodules hang below it
        modules[path] = existing if isinstance(existing, types.ModuleType) else _module(path, names, _core)
    nn = sys.modules.get(f"{package.__name__}.nn")
    if nn is not None:
        for path, names in _NN_PATHS.items():
            modules[path] = _module(path, names, nn)
    viz = getattr(package, "viz", None)
    if viz is not None:
        modules["viz.dot"] = _module("viz.dot", ("CompGraph",), viz)
    for path, module in modules.items():
        module = sys.modules.setdefault(f"{package.__name__}.{path}", module)
        parent, _, child = path.rpartition(".")
        if parent:
            setattr(sys.modules[f"{package.__name__}.{parent}"], child, module)
        elif child != "tensor":
            setattr(package, child, module)
