"""The entry point of kittygrad-ops: hands its op records to kittygrad_core."""
from kittygrad_core import hookimpl

from . import OPS


@hookimpl
def kittygrad_register_ops() -> list:
    """Registers every standard op."""
    return list(OPS)
