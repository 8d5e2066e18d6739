"""kittygrad: a small PyTorch-like deep-learning library on NumPy, with ops as plugins.

``import kittygrad as kitty`` gives the whole API: everything of ``kittygrad_core`` (tensors, creation,
grad mode, ``Function``) plus every op the installed plugins registered (``kitty.dot``, ``kitty.exp``,
...), and ``CompGraph`` from kittygrad-viz when it provides one. This package holds no logic of its own.
"""
import kittygrad_core as _core
from kittygrad_core import *  # noqa: F401,F403
from kittygrad_core import __all__ as _core_all

__version__ = "0.1.0"
__all__ = list(_core_all)

try:  # kittygrad-viz provides the graph picture once it has one
    from kittygrad_viz import CompGraph  # noqa: F401
    __all__.append("CompGraph")
except ImportError:
    pass


def __getattr__(name: str):
    # Ops are bound onto kittygrad_core at registration time, including at runtime; look them up there.
    return getattr(_core, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_core)))
