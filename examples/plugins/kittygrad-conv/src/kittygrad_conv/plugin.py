"""The entry point of kittygrad-conv (group ``kittygrad``, name ``conv``): hands its op records to core."""
from kittygrad_core import hookimpl

from .ops import OPS


@hookimpl
def kittygrad_register_ops() -> list:
    """Registers ``conv2d`` (and its record ``_conv2d``), ``max_pool2d`` and ``avg_pool2d``."""
    return list(OPS)
