"""The entry point of kittygrad-ops: hands its op records to kittygrad_core."""
from typing import Any

from kittygrad_core import hookimpl

from . import OPS


@hookimpl
def kittygrad_register_ops() -> list:
    """Registers every standard op."""
    return list(OPS)


@hookimpl
def kittygrad_array_namespace() -> Any:
    """The recording namespace backward rules compute with under ``create_graph=True``."""
    from . import recording

    return recording
