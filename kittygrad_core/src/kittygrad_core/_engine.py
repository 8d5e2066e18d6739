"""The lock-based backward engine.

Every node counts, in ``_lock``, the recorded operations that consumed its output. Gradients arriving at
a node accumulate until its lock reaches zero; only then does the node run and pass gradients on. This
replaces a topological sort, and the lock values expose misuse: a backward from the middle of a graph,
outputs still awaiting their backward, a second backward through nodes already consumed (lock -1).
The traversal uses an explicit stack, so graph depth is bounded by memory, not by the recursion limit.
"""
from __future__ import annotations

import gc
import threading
import warnings
import weakref
from typing import Any, ClassVar

import numpy as np

from . import _anomaly, _tracing

CONSUMED = -1
# Markers in ``Node._next2``: the node's op has one input, or its inputs' nodes are a tuple in ``_next``.
ONE_INPUT = type("OneInput", (), {"__slots__": (), "__repr__": lambda self: "ONE_INPUT"})()
MANY_INPUTS = type("ManyInputs", (), {"__slots__": (), "__repr__": lambda self: "MANY_INPUTS"})()
# Backward passes of several threads may meet in shared nodes and leaves: lock counts, pending gradients
# and ``.grad`` are read-modified-written under this lock (NumPy releases the GIL inside the additions).
# One backward runs at a time; forward ops stay concurrent. Reentrant: a Function's backward may call
# backward again.
ENGINE_LOCK = threading.RLock()
# The lock of a view's node that nobody consumed yet: it counts as a consumer of its input only from
# its first use on, so that an unused view (a piece of split(), an unused row of an iteration, a view
# made stale by an in-place op) does not hold its base's backward back.
UNCOUNTED = -2
# Weak references to the live nodes a create_graph pass marked (``Node._hoc``): while there are any,
# every backward takes the general pass, which counts a marked node's consumers within the pass
# (docs/autograd.md, "Higher-order gradients"). Each reference removes itself when its node dies.
MARKED: set[Any] = set()

# Bound once by ``bind`` when the package is imported (kittygrad_core/__init__.py): ``_tensor`` and
# ``_autograd`` import this module, so it cannot import them at its top, and an import inside a function
# would run on every call.
Tensor: Any = None
make_tensor: Any = None
general_backward: Any = None


def bind(tensor_class: type, make: Any, general: Any) -> None:
    """Gives the engine the Tensor class, ``make_tensor`` and the general backward pass (once)."""
    global Tensor, make_tensor, general_backward
    Tensor, make_tensor, general_backward = tensor_class, make, general


class Node:
    """A node of the backward graph: one recorded operation waiting for its output's gradient."""

    # The version snapshot a node checks before it runs: the first saved tensor's counter and version
    # in slots (most nodes save at most one: no tuple to allocate, fewer objects for the GC to track),
    # any further ones as a flat (counter, version, ...) tuple in _saved.
    # The edges likewise: one- and two-input ops (nearly all) keep their inputs' nodes in ``_next`` and
    # ``_next2`` (``_next2`` is ONE_INPUT for one input); other arities keep a tuple in ``_next`` (and
    # ``_next2`` is MANY_INPUTS). ``next_functions`` is the tuple view. A tuple per op would be a second
    # GC-tracked object per node: full collections, which walk every tracked object (torch's too when it
    # is imported), would come twice as often in a deep graph and walk twice as many of ours.
    __slots__ = ("_next", "_next2", "_lock", "_grad", "_shape", "_dtype", "_vc", "_vv", "_saved",
                 "_retained", "_out_ref", "_anomaly", "_hoc")

    _next: Any  # the first input's Node (or None), or for MANY_INPUTS the tuple of them
    _next2: Any  # the second input's Node (or None), or ONE_INPUT / MANY_INPUTS
    _lock: int
    _grad: Any
    _shape: tuple[int, ...]
    _dtype: Any
    _vc: Any
    _vv: int
    _saved: Any  # None or a flat (counter, version, ...) tuple
    _retained: Observer | None
    _out_ref: Any
    _anomaly: str | None
    _hoc: bool  # set (never initialised) on nodes of graphs a create_graph pass made or ran through

    name: ClassVar[str] = "node"  # the op's, set on each node class
    # Whether the arrays ``backward`` returns are the node's to give away once it has run (a leaf may
    # then adopt one as its ``.grad`` without a copy). False unless a class vouches for its rules.
    fresh_grads: ClassVar[bool] = False
    distribution: ClassVar[str | None] = None
    broadcast: ClassVar[bool] = False
    #: Whether ``backward`` records a graph when ``xp`` is a recording namespace (``create_graph``).
    differentiable_backward: ClassVar[bool] = False

    def backward(self, xp: Any, grad: np.ndarray) -> tuple[Any, ...]:
        """Returns one gradient (or ``None``) per input, given the gradient of the output."""
        raise NotImplementedError

    @property
    def next_functions(self) -> tuple[Any, ...]:
        """The backward nodes of the operation's inputs, one per input: ``None`` where no gradient is wanted."""
        second = self._next2
        if second is ONE_INPUT:
            return (self._next,)
        return self._next if second is MANY_INPUTS else (self._next, second)

    @next_functions.setter
    def next_functions(self, nexts: tuple[Any, ...]) -> None:
        set_edges(self, tuple(nexts))

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        """Which inputs of the recorded operation need a gradient."""
        second = self._next2  # rules read this on the hot path: no generator, no next_functions tuple
        if second is ONE_INPUT:
            return (self._next is not None,)
        if second is MANY_INPUTS:
            return tuple([fn is not None for fn in self._next])
        return (self._next is not None, second is not None)

    def _retain(self, tensor: Any) -> None:
        observer = self._retained
        if observer is None:
            self._retained = Observer(tensor, tensor._version[0], retain=True)
        else:
            observer.retain = True

    def _release(self) -> None:
        """Drops whatever the forward saved; called once the node has run."""

    def _activate(self) -> None:
        """Makes an ``UNCOUNTED`` node (and the uncounted nodes it reads) count as consumers."""
        self._lock = 0
        pending = [self]
        while pending:
            for fn in pending.pop().next_functions:
                if fn is None or fn.__class__ is AccumulateGrad:
                    continue
                if fn._lock == UNCOUNTED:
                    fn._lock = 0
                    pending.append(fn)
                if fn._lock >= 0:
                    fn._lock += 1

    @property
    def _ctx(self) -> NodeContext:
        """The original kittygrad's view of a node: ``_ctx.out`` is the tensor the node produced."""
        return NodeContext(self)

    def __format__(self, format_spec: str) -> str:
        return f"<{type(self).__name__}>".__format__(format_spec)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} object at {id(self):#x}>"

    def _describe(self) -> str:
        plugin = getattr(self, "plugin", None)
        if self.distribution:
            where = f" (registered by {self.distribution}" + (f", plugin '{plugin}')" if plugin else ")")
        else:
            where = f" (registered by plugin '{plugin}')" if plugin else ""
        return f"{type(self).__name__} of op '{self.name}'{where}"


class Observer:
    """What a node does for the tensor it produced, when it runs: tensor hooks, then ``retain_grad``.

    Held in ``Node._retained`` (``None`` for almost every node: the engine pays one check).
    """

    __slots__ = ("ref", "counter", "version", "retain", "hooks")

    def __init__(self, tensor: Any, version: int, retain: bool | None = False) -> None:
        self.ref = weakref.ref(tensor)
        self.counter = tensor._version
        self.version = version
        self.retain = retain
        self.hooks: dict[int, Any] = {}


class RemovableHandle:
    """A handle returned by ``register_*hook``: ``remove()`` takes the hook out again."""

    __slots__ = ("_hooks", "id")
    _next_id = 0

    def __init__(self, hooks: dict[int, Any]) -> None:
        RemovableHandle._next_id += 1
        self._hooks, self.id = hooks, RemovableHandle._next_id

    def remove(self) -> None:
        """Removes the hook (again: nothing)."""
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


class NodeContext:
    """``grad_fn._ctx`` of the original kittygrad, for inspection (not on any hot path).

    Nodes hold no reference to their output (that would be a cycle, and a cost per op); ``out`` finds
    it among the referrers of the node, or of the in-place node that took its place on that tensor.
    """

    def __init__(self, node: Node) -> None:
        self._node = node

    @property
    def out(self) -> Any:
        """The tensor this node produced, if it is still alive."""
        node = self._node
        ref = getattr(node, "_out_ref", None)  # set when an in-place op moved the tensor on
        if ref is not None:
            return ref()
        for holder in gc.get_referrers(node):
            if getattr(holder, "_grad_fn", None) is node and hasattr(holder, "_version"):
                return holder
        return None


class AccumulateGrad(Node):
    """The backward node of a leaf tensor: adds incoming gradients to the leaf's ``.grad``."""

    __slots__ = ("_variable",)
    name = "AccumulateGrad"

    def __init__(self, tensor: Any) -> None:
        self._next, self._next2 = (), MANY_INPUTS
        self._lock = 0
        self._shape = tensor._data.shape
        self._dtype = tensor._data.dtype
        self._variable = weakref.ref(tensor)  # the leaf caches us; a strong ref would be a cycle

    @property
    def variable(self) -> Any:
        """The leaf tensor whose gradient this node accumulates."""
        return self._variable()

    def accumulate(self, grad: np.ndarray) -> None:
        tensor = self._variable()
        if tensor is not None:
            accumulate_leaf(tensor, grad)


def accumulator(tensor: Any) -> AccumulateGrad:
    """The (cached) ``AccumulateGrad`` node of a leaf tensor."""
    acc: AccumulateGrad | None = tensor._accumulator
    if acc is None:
        acc = tensor._accumulator = AccumulateGrad(tensor)
    return acc


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sums ``grad`` over the dimensions that broadcasting added or stretched to reach its shape."""
    lead = grad.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"gradient of shape {grad.shape} cannot be reduced to {shape}")
    if lead:  # .sum(), not np.add.reduce: create_graph passes a recording array, which takes no ufunc
        grad = grad.sum(axis=0 if lead == 1 else tuple(range(lead)))
        if grad.shape == shape:  # a bias's gradient: nothing stretched
            return grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    if grad.shape != shape:
        raise ValueError(f"gradient of shape {grad.shape} cannot be reduced to {shape}")
    return grad


def backward(tensor: Any, gradient: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Backpropagates from ``tensor``; the engine behind ``Tensor.backward``."""
    # The original kittygrad's entry checks and texts: only a 0-d tensor gets an implicit gradient; a
    # leaf checks the gradient as an assignment to .grad would, other tensors as an initial gradient.
    if not tensor._requires_grad:
        raise RuntimeError("Tensor does not require grad and does not have a grad_fn.")
    if gradient is None:
        if tensor._data.ndim:
            raise RuntimeError("Gradient can be implicitly created only for scalar outputs.")
        grad = np.array(1, tensor._data.dtype)  # 0-d: np.ones_like costs four times more
    else:
        if not isinstance(gradient, Tensor):
            raise TypeError(f"backward(): gradient must be a Tensor, got {type(gradient).__name__}.")
        kind = "Assigned grad" if tensor._grad_fn is None else "Initial gradient"
        if gradient.shape != tensor.shape:
            raise RuntimeError(f"{kind} has data of a different size.")
        if gradient.dtype != tensor.dtype:
            raise TypeError(f"{kind} has data of a different type.")
        grad = gradient._data

    if retain_graph.__class__ is not bool and retain_graph is not None or create_graph.__class__ is not bool:
        # torch reads both as integers: 0 and 1 (NumPy's too) work, anything else is a TypeError
        if not isinstance(retain_graph, (int, np.integer, np.bool_, type(None))) \
                or not isinstance(create_graph, (int, np.integer, np.bool_)):
            raise TypeError(f"backward(): retain_graph must be a bool or None and create_graph a bool, "
                            f"got {type(retain_graph).__name__} and {type(create_graph).__name__}.")
        for name, value in (("retain_graph", retain_graph), ("create_graph", create_graph)):
            if value is not None and not 0 <= value <= 255:  # torch converts through an unsigned byte
                raise OverflowError(f"backward(): {name}={value} is out of range for a bool flag")
        retain_graph = None if retain_graph is None else bool(retain_graph)
        create_graph = bool(create_graph)
    if _tracing.RECORDER is not None and _tracing.RECORDER.active():  # kitty.compile is recording
        if _backward_recording(_tracing.RECORDER, tensor, gradient, grad, retain_graph or create_graph
                               or inputs is not None or MARKED or _anomaly.ENABLED.get()):
            return
        # the recording gave up before anything ran: the plain paths below
    if retain_graph or create_graph or inputs is not None or MARKED or _anomaly.ENABLED.get():
        # the general pass (_autograd.backward); a plain backward stays here
        general_backward(tensor, gradient if gradient is not None else make_tensor(grad), retain_graph,
                         create_graph, inputs)
        return
    with ENGINE_LOCK:
        _backward_locked(tensor, grad)


def _backward_locked(tensor: Any, grad: np.ndarray) -> None:
    node = tensor._grad_fn
    if node is None:
        accumulator(tensor).accumulate(grad)
        return
    if node._lock == UNCOUNTED:
        node._activate()
    if node._lock == CONSUMED:
        _second_backward()
    if node._lock != 0:
        warnings.warn("A .backward() call from the middle of the computational graph was noticed.",
                      UserWarning, stacklevel=4)
    node._lock = 1
    if _run(node, grad):
        warnings.warn("Backpropagation not completed. The computational graph "
                      "has at least one more output for the .backward() call.", UserWarning, stacklevel=4)


def _backward_recording(recorder: Any, tensor: Any, gradient: Any, grad: np.ndarray, general: Any) -> bool:
    """A plain backward while ``kitty.compile`` records: ``_backward_locked`` reporting what it runs.

    Returns False, having run nothing, once the recording failed or for what a replay cannot repeat
    (the recording then fails): the caller takes the plain paths."""
    if recorder.failure is not None:
        return False
    if general:
        recorder.unsupported("backward() with retain_graph, create_graph, inputs, anomaly mode or a "
                             "graph marked by a create_graph pass")
        return False
    node = tensor._grad_fn
    if node is None:
        recorder.unsupported("backward() of a leaf")
        return False
    if recorder.node_op(node) < 0:
        return False
    if node._lock != 0:
        recorder.unsupported("backward() from the middle of a graph, or through it a second time")
        return False
    if gradient is None:
        root_reg = recorder.value()
        recorder.emit(("1", root_reg, recorder.reg_of(tensor)))
    else:
        root_reg = recorder.reg_of(gradient)
        if root_reg < 0:
            return False
    with ENGINE_LOCK:
        node._lock = 1
        if _run_recorded(node, grad, root_reg, recorder):
            warnings.warn("Backpropagation not completed. The computational graph "
                          "has at least one more output for the .backward() call.", UserWarning, stacklevel=4)
            recorder.unsupported("an incomplete backward()")
    return True


def _run_recorded(root: Node, root_grad: np.ndarray, root_reg: int, recorder: Any) -> bool:
    """``_run``, reporting to the recorder each node it runs (the gradient's register and where each of
    the node's gradients goes) and each sum of arrivals, in the engine's order and operand order.

    Once the recording has failed, it goes on as ``_run`` does and reports nothing."""
    stack: list[Any] = [(root, root_grad, root_reg)]
    waiting: set[Any] = set()
    pending: dict[int, int] = {}  # id(node) -> register of its pending sum
    hooked: dict[int, Any] = {}
    pop, push = stack.pop, stack.append
    while stack:
        node, grad, reg = pop()
        lock = node._lock
        if lock != 1:
            if lock <= 0:
                _second_backward()
            if node._grad is None:
                node._grad = grad
                pending[id(node)] = reg
            else:
                node._grad = node._grad + grad
                total = recorder.value()
                recorder.emit(("+", total, pending[id(node)], reg))
                pending[id(node)] = total
            node._lock = lock - 1
            waiting.add(node)
            continue
        if node._grad is not None:
            grad = node._grad + grad
            total = recorder.value()
            recorder.emit(("+", total, pending.pop(id(node)), reg))
            reg = total
            node._grad = None
            waiting.discard(node)
        node._lock = CONSUMED
        check_versions(node)
        index = recorder.node_op(node)
        if node._retained is not None:
            recorder.observer(node._retained)
            grad = observe(node._retained, grad, True)
        grads = call_rule(node, grad)
        node._release()
        nexts = node._next2  # the edges as a tuple (Node.__slots__ says why they are stored apart)
        nexts = (node._next,) if nexts is ONE_INPUT else node._next if nexts is MANY_INPUTS else (node._next, nexts)
        outs: list[Any] = []
        step = ("b", index, reg, outs, node.fresh_grads)
        recorder.emit(step)
        for i, nxt in enumerate(nexts):
            g = grads[i]
            if nxt is None or g is None:
                outs.append(None)
                continue
            target = _Target(nxt._shape, nxt._dtype)
            if g.__class__ is not np.ndarray or g.shape != nxt._shape or g.dtype is not nxt._dtype:
                if node.broadcast and g.__class__ is np.ndarray and g.dtype is nxt._dtype \
                        and g.shape[1:] == nxt._shape:
                    target.summed = g.shape  # replay sums it itself (_compile._generate)
                g = _conform(node, i, g, nxt)
            if nxt.__class__ is AccumulateGrad:
                leaf = nxt._variable()
                if leaf is None:
                    outs.append(None)
                    continue
                outs.append(("leaf", recorder.leaf(leaf), target))
                if leaf._hooks is not None:  # the recording failed (recorder.leaf); as _run does
                    key = id(nxt)
                    hooked[key] = (leaf, hooked[key][1] + g) if key in hooked else (leaf, g)
                    continue
                held = leaf._grad
                if held is None:
                    if node.fresh_grads and g is not grad and g.base is None and g.flags.writeable \
                            and _given_once(g, grads):
                        leaf._grad = make_tensor(g)
                    else:
                        leaf._grad = make_tensor(g.copy())
                else:
                    np.add(held._data, g, out=held._data)
            else:
                value = recorder.value()
                outs.append(("grad", value, target))
                push((nxt, g, value))
    for leaf, total in hooked.values():
        accumulate_leaf(leaf, total)
    return bool(waiting)


class _Target:
    """What ``_conform`` reads of the node a gradient goes to, kept by a recorded program; ``summed``:
    the shape of a gradient that ``_conform`` reduced over its first axis alone (a bias's), else None."""

    __slots__ = ("_shape", "_dtype", "summed")

    def __init__(self, shape: tuple[int, ...], dtype: Any) -> None:
        self._shape, self._dtype = shape, dtype
        self.summed: tuple[int, ...] | None = None  # set by _run_recorded


def _second_backward() -> None:
    error = RuntimeError("Trying to backward through the graph a second time.")  # the original's text
    error.add_note("Saved intermediate values of the graph are freed when you call .backward() or "
                   "autograd.grad(). Specify retain_graph=True if you need to backward through the graph "
                   "a second time or if you need to access saved tensors after calling backward.")
    raise error


def _run(root: Node, root_grad: np.ndarray) -> bool:
    """Runs the graph below ``root``; returns True if some node still waits for gradients."""
    stack: list[Any] = [(root, root_grad)]
    waiting: set[Any] = set()
    hooked: dict[int, Any] = {}  # leaves with hooks: their gradient, summed, goes in at the end
    pop, push = stack.pop, stack.append
    while stack:
        node, grad = pop()
        lock = node._lock
        if lock != 1:
            if lock <= 0:
                _second_backward()
            # more consumers will send gradients: keep the sum, adopting the first array as is
            node._grad = grad if node._grad is None else node._grad + grad
            node._lock = lock - 1
            waiting.add(node)
            continue
        if node._grad is not None:
            grad = node._grad + grad  # out of place: the first gradient was adopted, not copied
            node._grad = None
            waiting.discard(node)
        node._lock = CONSUMED

        # check_versions and call_rule, inlined: a call each per node costs the deep chains ~10%
        # (tests/test_autograd_api.py holds this pass and the general one equal, errors included)
        counter = node._vc
        if counter is not None:
            if counter[0] != node._vv:
                _modified_error(node, counter[0], node._vv)
            saved = node._saved
            for i in range(0, len(saved), 2):
                if saved[i][0] != saved[i + 1]:
                    _modified_error(node, saved[i][0], saved[i + 1])
        if node._retained is not None:
            grad = observe(node._retained, grad, True)

        try:
            grads = node.backward(np, grad)
        except Exception as error:
            error.add_note(f"(raised by the backward of {node._describe()})")
            raise
        node._release()

        nexts = node._next2  # the edges as a tuple (Node.__slots__ says why they are stored apart)
        nexts = (node._next,) if nexts is ONE_INPUT else node._next if nexts is MANY_INPUTS else (node._next, nexts)
        if grads.__class__ is not tuple:
            grads = (grads,)
        if len(grads) != len(nexts):
            raise RuntimeError(f"{node._describe()} returned {len(grads)} gradients for "
                               f"{len(nexts)} inputs.")
        for i, nxt in enumerate(nexts):
            if nxt is None:
                continue
            g = grads[i]
            if g is None:
                continue
            if g.__class__ is not np.ndarray or g.shape != nxt._shape or g.dtype is not nxt._dtype:
                g = _conform(node, i, g, nxt)
            if nxt.__class__ is AccumulateGrad:  # leaves take their gradient at once
                leaf = nxt._variable()
                if leaf is None:
                    continue
                if leaf._hooks is not None:  # hooks see the sum of this pass's contributions, once
                    key = id(nxt)
                    hooked[key] = (leaf, hooked[key][1] + g) if key in hooked else (leaf, g)
                    continue
                held = leaf._grad
                if held is None:
                    # The leaf takes the array itself (no copy) only if nothing else can hold it: the
                    # node's class vouches that its rule keeps nothing it returns (an Op's record is
                    # released above; a Function's backward may return tensors that it holds), and the
                    # array is not the node's own incoming gradient passed on, not a view, and given
                    # to this input alone. Reference counts are not used: they differ between builds.
                    if node.fresh_grads and g is not grad and g.base is None and g.flags.writeable \
                            and _given_once(g, grads):
                        leaf._grad = make_tensor(g)
                    else:
                        leaf._grad = make_tensor(g.copy())
                else:
                    np.add(held._data, g, out=held._data)
            else:
                push((nxt, g))
    for leaf, total in hooked.values():
        accumulate_leaf(leaf, total)
    return bool(waiting)


def _given_once(g: np.ndarray, grads: tuple[Any, ...]) -> bool:
    """Whether ``grads`` holds ``g`` at most once (``add`` hands one array to both of its inputs)."""
    seen = 0
    for other in grads:
        if other is g:
            seen += 1
    return seen <= 1


def check_versions(node: Node) -> None:
    """Raises the in-place modification error if a tensor ``node`` saved changed since."""
    counter = node._vc
    if counter is not None:
        if counter[0] != node._vv:
            _modified_error(node, counter[0], node._vv)
        saved = node._saved
        for i in range(0, len(saved), 2):
            if saved[i][0] != saved[i + 1]:
                _modified_error(node, saved[i][0], saved[i + 1])


def call_rule(node: Node, grad: np.ndarray, xp: Any = np) -> tuple[Any, ...]:
    """Runs ``node``'s backward rule: one gradient (or None) per input; its errors name the node.

    ``xp`` is the array namespace the rule computes with (a recording one under ``create_graph``)."""
    try:
        grads = node.backward(xp, grad)
    except Exception as error:
        error.add_note(f"(raised by the backward of {node._describe()})")
        raise
    if grads.__class__ is not tuple:
        grads = (grads,)
    if len(grads) != len(node.next_functions):
        raise RuntimeError(f"{node._describe()} returned {len(grads)} gradients for "
                           f"{len(node.next_functions)} inputs.")
    return grads


def init_node(node: Node, nexts: tuple[Any, ...], like: np.ndarray, lock: int = 0) -> None:
    """Sets a new node's slots: what it links to, its lock, the output's shape and dtype, no snapshot.

    (``apply1``/``apply2`` inline the same assignments: tests/test_hot_paths.py holds them equal.)"""
    set_edges(node, nexts)
    node._lock = lock
    node._grad = None
    node._shape = like.shape
    node._dtype = like.dtype
    node._vc, node._saved = None, ()
    node._retained = None


def set_edges(node: Node, nexts: tuple[Any, ...]) -> None:
    """Stores ``nexts`` (one node or None per input) in ``node``'s ``_next``/``_next2`` slots."""
    node._next, node._next2 = edges(nexts)


def edges(nexts: tuple[Any, ...]) -> tuple[Any, Any]:
    """What the ``_next`` and ``_next2`` slots of a node with inputs' nodes ``nexts`` hold."""
    if len(nexts) == 1:
        return nexts[0], ONE_INPUT
    if len(nexts) == 2:
        return nexts[0], nexts[1]
    return nexts, MANY_INPUTS


def store_snapshot(node: Node, flat: tuple[Any, ...]) -> None:
    """Stores a flat (counter, version, counter, version, ...) snapshot in ``node``."""
    if flat:
        node._vc, node._vv, node._saved = flat[0], flat[1], flat[2:]
    else:
        node._vc, node._saved = None, ()


def _modified_error(node: Node, version: int, expected: int) -> None:
    error = RuntimeError("One of the variables needed for gradient computation has been modified by "
                         "an inplace operation.")  # the original kittygrad's exact text
    error.add_note(f"The variable is at version {version}; expected version {expected} instead. "
                   f"Raised by {node._describe()}.")
    raise error


def _conform(node: Node, index: int, grad: Any, target: Node) -> np.ndarray:
    """Reduces a broadcast op's gradient to its input's shape and dtype; rejects anything else."""
    if grad.__class__ is not np.ndarray and not isinstance(grad, (np.ndarray, np.generic)) \
            or grad.dtype.kind != "f":
        raise RuntimeError(f"{node._describe()} returned a gradient of type {type(grad).__name__} "
                           f"(dtype {getattr(grad, 'dtype', None)}) for input {index}; expected a "
                           f"floating array.")
    if node.broadcast:
        if grad.shape != target._shape:
            try:
                grad = unbroadcast(grad, target._shape)  # type: ignore[arg-type]  # np.generic too
            except ValueError:
                pass
        if grad.dtype != target._dtype:
            grad = grad.astype(target._dtype)
    if grad.shape != target._shape:
        raise RuntimeError(f"{node._describe()} returned a gradient of shape {grad.shape} for input "
                           f"{index}, whose shape is {target._shape}.")
    if grad.dtype != target._dtype:  # equal but not identical dtypes (e.g. byte order) pass
        raise RuntimeError(f"{node._describe()} returned a gradient of dtype {grad.dtype} for input "
                           f"{index}, whose dtype is {target._dtype}.")
    return np.asarray(grad)


def observe(observer: Observer, grad: np.ndarray, retain: bool) -> np.ndarray:
    """Runs a node's tensor hooks on the gradient of its output (each may replace it), then fills the
    output's ``.grad`` if it retains it (and ``retain``: ``autograd.grad`` fills none); returns the
    gradient the node goes on with."""
    tensor = observer.ref()
    if observer.hooks:
        grad = _call_hooks(observer.hooks, grad, tensor)
    # retain is None on the node an in-place op moved its tensor away from: whether the tensor retains
    # its gradient is read now (the original warns even if retain_grad() came after the in-place op)
    wanted = observer.retain if observer.retain is not None else tensor is not None and tensor._retains_grad
    if wanted and retain and tensor is not None:
        if observer.counter[0] != observer.version:
            warnings.warn("An attempt to assign a gradient to a tensor with retains_grad=True "
                          "and modified by inplace operation was noticed.", UserWarning, stacklevel=6)
        else:
            add_to_grad(tensor, grad)
    return grad


def _call_hooks(hooks: dict[int, Any], grad: np.ndarray, tensor: Any) -> np.ndarray:
    for hook in list(hooks.values()):
        result = hook(make_tensor(grad))
        if result is None:
            continue
        data = getattr(result, "_data", None)
        if data is None or data.shape != grad.shape or data.dtype != grad.dtype:
            raise RuntimeError(f"hook {getattr(hook, '__qualname__', hook)!r} returned "
                               f"{type(result).__name__} {getattr(result, 'shape', '')}; expected None or a "
                               f"Tensor of shape {grad.shape} and dtype {grad.dtype}.")
        grad = data
    return grad


def accumulate_leaf(leaf: Any, grad: np.ndarray) -> None:
    """Adds ``grad`` to a leaf's ``.grad`` through its hooks: tensor hooks first (each may replace the
    gradient), then the accumulation, then post-accumulate hooks (called with the leaf)."""
    hooks = leaf._hooks
    if hooks is not None and hooks[0]:
        grad = _call_hooks(hooks[0], grad, leaf)
    add_to_grad(leaf, grad)
    if hooks is not None and hooks[1]:
        for hook in list(hooks[1].values()):
            hook(leaf)


def add_to_grad(tensor: Any, grad: np.ndarray) -> None:
    """Accumulates ``grad`` into ``tensor.grad`` (creating it on the first arrival); thread-safe."""
    with ENGINE_LOCK:
        held = tensor._grad
        if held is None:
            # A copy: the incoming array may be shared with other leaves or with the engine.
            tensor._grad = make_tensor(np.array(grad, dtype=tensor._data.dtype))
        else:
            np.add(held._data, grad, out=held._data)
