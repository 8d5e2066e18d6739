"""kittygrad: a small PyTorch-like deep-learning library on NumPy, with ops as plugins.

``import kittygrad as kitty`` gives the whole API: everything of ``kittygrad_core`` (tensors, creation,
grad mode, ``Function``) plus every op the installed plugins registered (``kitty.dot``, ``kitty.exp``,
...), and ``CompGraph`` and ``viz`` (``kitty.viz.draw``) from kittygrad-viz when installed. This package
holds no logic of its own.
"""
import sys as _sys
import types as _types

import kittygrad_core as _core

_core.plugins.load_deferred()  # plugins whose package imported kittygrad_core first (import kittygrad_ops)
from kittygrad_core import *  # noqa: E402,F401,F403
from kittygrad_core import __all__ as _core_all  # noqa: E402

# Op functions live on kittygrad_core; the registry copies them here too, now and whenever one is
# (un)registered, so `kitty.exp` is a plain attribute lookup.
_core.registry.mirror(_sys.modules[__name__])

__version__ = "0.1.0"
__all__ = list(_core_all)

_submodules: dict[str, _types.ModuleType] = {
    "autograd": _core.autograd, "autograd.functional": _core.autograd.functional,
    "autograd.gradcheck": _sys.modules["kittygrad_core.autograd.gradcheck"]}
for _name, _module in _submodules.items():
    _sys.modules.setdefault(f"{__name__}.{_name}", _module)  # `from kittygrad.autograd.functional import`

try:  # kittygrad-viz: kitty.CompGraph, and kitty.viz.draw(tensor) for the backward graph of a tensor
    import kittygrad_viz as viz  # its names (and graphviz) load on first use: see __getattr__
    __all__ += ["CompGraph", "viz"]  # noqa: F405 - CompGraph comes from __getattr__, on first use
    _sys.modules.setdefault(f"{__name__}.viz", viz)
except ImportError:
    viz = None  # type: ignore[assignment]  # kittygrad-viz is optional

try:  # kittygrad-nn: kitty.nn (torch.nn), kitty.optim, kitty.utils.data, kitty.save / kitty.load
    import kittygrad_nn as nn  # noqa: F401
    from kittygrad_nn import optim, utils  # noqa: F401
    from kittygrad_nn.serialization import load, save  # noqa: F401
    __all__ += ["load", "nn", "optim", "save", "utils"]
    for _name, _module in {"nn": nn, "nn.functional": nn.functional, "nn.init": nn.init,
                           "nn.utils": nn.utils, "optim": optim, "optim.lr_scheduler": optim.lr_scheduler,
                           "utils": utils, "utils.data": utils.data}.items():
        _sys.modules.setdefault(f"{__name__}.{_name}", _module)  # `import kittygrad.nn.functional as F`
except ImportError:
    pass

from . import _original  # noqa: E402 - after nn and viz: it aliases their modules

_original.install(_sys.modules[__name__])


def __getattr__(name: str):
    if name == "CompGraph" and viz is not None:  # imports graphviz only when a graph is drawn
        return viz.CompGraph
    # Ops are bound onto kittygrad_core at registration time, including at runtime; look them up there.
    try:
        return getattr(_core, name)
    except AttributeError:  # name the module the user imported, and the distribution if one declares it
        raise _core.missing_op_error(name, f"module '{__name__}' has no attribute '{name}'") from None


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(dir(_core)))
