# Types for the compiled build of _dispatch.py (Cython 3, pure-Python mode; see kittygrad_core/setup.py):
# the inlined op paths set a new node's attributes directly on the Node extension type.
cimport cython

from ._engine cimport Node


@cython.locals(node=Node, fn=Node)
cpdef object apply1(object op, object x, object args, object kwargs)


@cython.locals(node=Node, fn_x=Node, fn_y=Node)
cpdef object apply2(object op, object x, object y, object args, object kwargs)
