"""kittygrad: a small PyTorch-like deep-learning library on NumPy, with ops as plugins.

``import kittygrad as kitty`` gives the whole API: everything of ``kittygrad_core`` (tensors, creation,
grad mode, ``Function``) plus every op the installed plugins registered (``kitty.dot``, ``kitty.exp``,
...), and ``CompGraph`` and ``viz`` (``kitty.viz.draw``) from kittygrad-viz when installed. This package
holds no logic of its own.
"""
import kittygrad_core as _core
from kittygrad_core import *  # noqa: F401,F403
from kittygrad_core import __all__ as _core_all

__version__ = "0.1.0"
__all__ = list(_core_all)

try:  # kittygrad-viz: kitty.CompGraph, and kitty.viz.draw(tensor) for the backward graph of a tensor
    import kittygrad_viz as viz  # noqa: F401
    from kittygrad_viz import CompGraph  # noqa: F401
    __all__ += ["CompGraph", "viz"]
except ImportError:
    pass


def __getattr__(name: str):
    # Ops are bound onto kittygrad_core at registration time, including at runtime; look them up there.
    return getattr(_core, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_core)))
