"""kittygrad-nn: neural-network building blocks for kittygrad.

This distribution will hold modules, layers, losses and optimisers built on top
of kittygrad-core tensors. It is registered into kittygrad-core through the
``kittygrad`` entry-point group.
"""

__all__ = []
