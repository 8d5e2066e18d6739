"""kittygrad-ops: the standard ops of kittygrad, registered through the same hook as any plugin.

Each op is one :class:`kittygrad_core.Op` record: forward, backward rule, bindings and the
conformance metadata that checks it against PyTorch.
"""
from . import arithmetic, copies, linalg, reductions

__version__ = "0.1.0"

#: Every op record this distribution registers.
OPS = (*arithmetic.OPS, *reductions.OPS, *linalg.OPS, *copies.OPS)

__all__ = ["OPS"]
