"""kittygrad-viz: visualisation of kittygrad computational graphs.

This distribution will hold ``CompGraph``, a context manager that records the
operations run inside it and draws the resulting graph with graphviz. It is
registered into kittygrad-core through the ``kittygrad`` entry-point group.
"""

__all__ = []
