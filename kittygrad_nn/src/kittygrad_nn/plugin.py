"""Entry point module of kittygrad-nn (group ``kittygrad``, name ``nn``): hands its op records to core."""
from kittygrad_core import hookimpl

from .ops import OPS


@hookimpl
def kittygrad_register_ops() -> list:
    """Registers the losses, ``linear``, ``dropout``, ``embedding``, ``layer_norm`` and ``batch_norm``."""
    return list(OPS)
