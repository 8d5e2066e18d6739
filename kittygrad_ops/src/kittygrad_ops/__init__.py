"""kittygrad-ops: the standard ops of kittygrad, registered through the same hook as any plugin.

Each op is one :class:`kittygrad_core.Op` record (or a :class:`kittygrad_core.Composite` built from
other ops): forward, backward rule, bindings and the conformance metadata that checks it against
PyTorch. Modules group them by kind (``arithmetic``, ``unary``, ``activations``, ``binary``,
``reductions``, ``linalg``, ``shape``, ``indexing``, ``copies``); each exports its records as ``OPS``, and
``_strategies`` holds the hypothesis strategies of their conformance metadata.
"""
from . import (
       activations,
       arithmetic,
       binary,
       copies,
       indexing,
       linalg,
       reductions,
       shape,
       unary,
)

__version__ = "0.1.0"

#: Every op record this distribution registers.
OPS = (*arithmetic.OPS, *unary.OPS, *activations.OPS, *binary.OPS, *reductions.OPS, *linalg.OPS,
       *shape.OPS, *indexing.OPS, *copies.OPS)

__all__ = ["OPS"]
