"""``kittygrad_core.autograd``: the autograd API (``kitty.autograd`` in the umbrella).

``backward`` and ``grad`` compute gradients of several outputs at once, keep the graph for another pass
(``retain_graph=True``), restrict where gradients go (``inputs=``) or return them without touching any
``.grad`` (``grad``), and build graphs of gradients to differentiate again (``create_graph=True``);
see ``docs/autograd.md``.
"""
from .._anomaly import detect_anomaly, set_detect_anomaly
from .._autograd import backward, grad
from .._engine import RemovableHandle
from .._function import Function, FunctionCtx
from .._grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from . import functional
from .gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = ["Function", "FunctionCtx", "GradcheckError", "RemovableHandle", "backward", "detect_anomaly",
           "enable_grad", "functional", "grad", "gradcheck", "gradgradcheck", "inference_mode",
           "is_grad_enabled", "no_grad", "set_detect_anomaly", "set_grad_enabled"]
