# Types for the compiled build of _engine.py (Cython 3, pure-Python mode; see kittygrad_core/setup.py).
# The .py file is the source and runs as is when nothing is compiled. Node and AccumulateGrad become
# extension types: their attributes stay public (the general pass, _views and plugins read and write
# them), Python subclasses (ops, Function nodes, plugins' nodes) work as before. A new Node slot goes in
# Node.__slots__ and here.
cimport cython


cdef class Node:
    cdef public object _next  # see Node.__slots__ in _engine.py
    cdef public object _next2
    cdef public Py_ssize_t _lock
    cdef public object _grad
    cdef public object _shape
    cdef public object _dtype
    cdef public object _vc
    cdef public object _vv
    cdef public object _saved
    cdef public object _retained
    cdef public object _out_ref
    cdef public object _anomaly
    cdef public object _hoc  # None until a create_graph pass marks the node (getattr(node, "_hoc", False))


cdef class AccumulateGrad(Node):
    cdef public object _variable


@cython.locals(node=Node, nxt=Node, lock=Py_ssize_t, i=Py_ssize_t, seen=Py_ssize_t)
cpdef bint _run(Node root, object root_grad) except -1
