"""``kittygrad_core.autograd``: the autograd API (``kitty.autograd`` in the umbrella).

``backward`` and ``grad`` compute gradients of several outputs at once, keep the graph for another pass
(``retain_graph=True``), restrict where gradients go (``inputs=``) or return them without touching any
``.grad`` (``grad``); see ``docs/autograd.md``.
"""
from ._autograd import backward, grad
from ._engine import RemovableHandle
from ._function import Function, FunctionCtx
from ._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Function", "FunctionCtx", "RemovableHandle", "backward", "enable_grad", "grad",
           "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled"]
