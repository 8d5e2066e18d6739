"""kittygrad-conv: 2-D convolution and pooling for kittygrad, as a third-party plugin.

Installing the distribution is enough: its ``conv`` entry point (group ``kittygrad``) registers
``conv2d``, ``max_pool2d`` and ``avg_pool2d`` when ``kittygrad_core`` is imported, so they are called
as ``kittygrad_core.conv2d(...)`` (or ``kitty.conv2d``). The modules ``Conv2d``, ``MaxPool2d`` and
``AvgPool2d`` live in :mod:`kittygrad_conv.nn`, which needs kittygrad-nn.
"""
from .ops import OPS

__version__ = "0.1.0"

__all__ = ["OPS"]
