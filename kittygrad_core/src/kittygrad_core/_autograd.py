"""The general backward pass: several outputs, retained graphs, ``inputs=`` and ``autograd.grad``.

``_engine._run`` is the fast pass behind a plain ``backward()``: it counts gradients down in the nodes'
own locks and consumes each node. This pass keeps its counts in a dict instead, so the graph is left as
it was (``retain_graph=True``: a second backward finds the same locks and the saved arrays), and it runs
only the nodes that lead to what was asked for (``inputs=``, ``autograd.grad``). The lock engine's
diagnostics keep their meaning: a node that waits for gradients from outputs outside this call makes
the call warn "Backpropagation not completed" and keeps what it received for a later backward.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _anomaly, _engine, _higher_order
from ._engine import CONSUMED, ENGINE_LOCK, UNCOUNTED, AccumulateGrad, Node, accumulator
from ._tensor import Tensor, make_tensor

_NOT_COMPLETED = ("Backpropagation not completed. The computational graph "
                  "has at least one more output for the .backward() call.")


def _targets_of(inputs: Sequence[Tensor]) -> list[Node]:
    """The node whose incoming gradient is each input's gradient (a leaf's is its AccumulateGrad)."""
    nodes = []
    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"inputs must be Tensors, got {type(t).__name__}.")
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
        nodes.append(t._grad_fn if t._grad_fn is not None else accumulator(t))
    return nodes


def _needed(roots: list[Node], targets: set[int] | None) -> tuple[dict[int, Node], dict[int, int],
                                                                   set[int] | None]:
    """The graph below ``roots`` by node id, the consumers of each node within it, and the nodes that
    lead to a target."""
    consumers: dict[int, int] = {}
    graph: dict[int, Node] = {}  # in DFS order: a node after some node that reaches it
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in graph:
            continue
        graph[id(node)] = node
        for fn in node.next_functions:
            if fn is not None:
                consumers[id(fn)] = consumers.get(id(fn), 0) + 1
                stack.append(fn)
    if targets is None:
        return graph, consumers, None
    needed = set(targets)
    changed = True
    while changed:  # a fixed point over the (acyclic) graph: cheap next to running the rules
        changed = False
        for node in reversed(graph.values()):  # inputs before their consumers: usually one sweep
            if id(node) not in needed and any(fn is not None and id(fn) in needed
                                              for fn in node.next_functions):
                needed.add(id(node))
                changed = True
    return graph, consumers, needed


def run(outputs: Sequence[Tensor], grads: Sequence[Any], *, retain_graph: bool,
        inputs: Sequence[Tensor] | None, accumulate: bool, create_graph: bool = False) -> list[Any]:
    """Backpropagates ``grads`` from ``outputs``; returns the gradient of each of ``inputs``.

    With ``accumulate`` the gradients go to ``.grad`` (of ``inputs`` only, if given); without it (for
    ``autograd.grad``) no ``.grad`` changes and the gradients are only returned. With ``create_graph``
    the rules record what they compute (``_higher_order``): ``grads`` are tensors and so are the
    results; otherwise both are arrays.
    """
    with ENGINE_LOCK:
        if not create_graph:
            return _run_locked(outputs, grads, retain_graph, inputs, accumulate, None)
        ns = _higher_order.namespace()
        _higher_order.start()
        try:
            results = _run_locked(outputs, [ns.wrap(g) for g in grads], retain_graph, inputs, accumulate, ns)
        finally:
            _higher_order.stop()
        return [None if r is None else ns.unwrap(r) for r in results]


def _run_locked(outputs: Sequence[Tensor], grads: Sequence[Any], retain: bool,
                inputs: Sequence[Tensor] | None, accumulate: bool, ns: Any) -> list[Any]:
    anomaly = _anomaly.ENABLED.get()
    targets = _targets_of(inputs) if inputs is not None else None
    target_ids = {id(n) for n in targets} if targets is not None else None
    # backward(inputs=[t]) fills t.grad for a non-leaf t too, retained or not (torch's rule)
    nonleaf_targets = {id(t._grad_fn): t for t in inputs or () if t._grad_fn is not None} \
        if accumulate else {}
    captured: dict[int, Any] = {}
    leaf_roots = [(t, g) for t, g in zip(outputs, grads) if t._grad_fn is None]
    roots = [(t._grad_fn, g) for t, g in zip(outputs, grads) if t._grad_fn is not None]
    for node, _ in roots:
        if node._lock == UNCOUNTED:
            node._activate()
        if node._lock == CONSUMED:
            _engine._second_backward()
    graph, consumers, needed = _needed([n for n, _ in roots], target_ids)
    # A create_graph pass records new consumers of these nodes; its own counts must not see them, and
    # the locks it leaves are the ones it found (the new graph's passes count marked nodes themselves).
    locks = {key: node._lock for key, node in graph.items()} if ns is not None else None
    remaining: dict[int, int] = {}
    for node, _ in roots:
        within = consumers.get(id(node), 0)
        if node._lock != within and len(roots) == 1 and not _marked(node):
            warnings.warn("A .backward() call from the middle of the computational graph was noticed.",
                          UserWarning, stacklevel=5)
        remaining[id(node)] = within + 1  # its own gradient, plus the roots that consume it
    pending: dict[int, Any] = {}
    received: dict[int, int] = {}
    ran: list[Node] = []
    stack: list[Any] = list(reversed(roots))
    # A leaf's contributions are summed, then delivered once at the end: its hooks see the total, as
    # torch's AccumulateGrad does (it runs once all its inputs arrived)
    arrived: dict[int, list[Any]] = {}
    for leaf, g in leaf_roots:
        _arrive(arrived, leaf, accumulator(leaf), g, target_ids)
    while stack:
        node, grad = stack.pop()
        key = id(node)
        left = remaining.get(key)
        if left is None:
            if node._lock == CONSUMED:
                _engine._second_backward()
            # a marked node's consumers are counted within this pass (torch's rule), others by the lock
            left = consumers.get(key, 0) if _marked(node) else locks[key] if locks is not None else node._lock
            if left <= 0:
                _engine._second_backward()
            if node._grad is not None:  # what an earlier, incomplete backward left here
                grad = node._grad + grad if ns is None else ns.wrap(_engine._make_tensor(node._grad)) + grad
                node._grad = None
        if left > 1:
            pending[key] = grad if key not in pending else pending[key] + grad
            remaining[key] = left - 1
            received[key] = received.get(key, 0) + 1
            continue
        if key in pending:
            grad = pending.pop(key) + grad
        remaining[key] = 0
        ran.append(node)
        _engine.check_versions(node)
        if node._retained is not None:  # retain_grad fills .grad whenever the node runs (torch's rule)
            if ns is None:
                grad = _engine.observe(node._retained, grad, key not in nonleaf_targets)
            else:
                grad = _higher_order.observe(node._retained, grad, key not in nonleaf_targets, ns)
        if target_ids is not None and key in target_ids:
            captured[key] = captured[key] + grad if key in captured else grad
            if key in nonleaf_targets:
                if ns is None:
                    _engine.add_to_grad(nonleaf_targets[key], grad)
                else:
                    _higher_order.add_to_grad(nonleaf_targets[key], ns.unwrap(grad), ns)
        if needed is not None and not any(fn is not None and id(fn) in needed for fn in node.next_functions):
            continue  # nothing asked for lies below: do not run the rule
        if ns is None:
            node_grads = _engine.call_rule(node, grad)
        else:
            node_grads = _higher_order.run_rule(node, grad, ns)
        nexts = node.next_functions
        if anomaly:
            _anomaly.check(node, node_grads if ns is None else
                           tuple(None if g is None else ns.unwrap(g)._data for g in node_grads))
        for i, nxt in enumerate(nexts):
            g = node_grads[i]
            if nxt is None or g is None or (needed is not None and id(nxt) not in needed):
                continue
            if ns is not None:
                if g.__class__ is np.ndarray or g.shape != nxt._shape or g.dtype != nxt._dtype:
                    g = _higher_order.conform(node, i, g, nxt, ns)
            elif g.__class__ is not np.ndarray or g.shape != nxt._shape or g.dtype is not nxt._dtype:
                g = _engine._conform(node, i, g, nxt)
            if nxt.__class__ is AccumulateGrad:
                variable = nxt._variable()
                if variable is not None:
                    _arrive(arrived, variable, nxt, g, target_ids)
            else:
                stack.append((nxt, g))
    for leaf, acc, g in arrived.values():
        _deliver_leaf(leaf, acc, g, target_ids, captured, accumulate, ns)
    if locks is not None:
        for key, node in graph.items():
            node._lock = locks[key]
            if node.__class__ is not AccumulateGrad:
                _higher_order.mark_node(node)
    if pending:
        for key in pending:  # as the fast pass: the partial sum waits in the node for the rest
            node = graph[key]
            node._grad = pending[key] if ns is None else ns.unwrap(pending[key])._data
            node._lock -= received[key]
        warnings.warn(_NOT_COMPLETED, UserWarning, stacklevel=5)
    if not retain:
        for node in ran:
            node._lock = CONSUMED
            node._release()
    if targets is None:
        return []
    return [captured.get(id(n)) for n in targets]


def _marked(node: Node) -> bool:
    return getattr(node, "_hoc", False)


def _arrive(arrived: dict[int, list[Any]], leaf: Tensor, node: AccumulateGrad, g: Any,
            target_ids: set[int] | None) -> None:
    key = id(node)
    if target_ids is not None and key not in target_ids:
        return
    entry = arrived.get(key)
    if entry is None:
        arrived[key] = [leaf, node, g]
    else:
        entry[2] = entry[2] + g


def _deliver_leaf(leaf: Tensor, node: AccumulateGrad, g: Any, target_ids: set[int] | None,
                  captured: dict[int, Any], accumulate: bool, ns: Any) -> None:
    key = id(node)
    if target_ids is not None:
        if key not in target_ids:
            return
        if not accumulate:
            hooks = leaf._hooks
            if hooks is not None and hooks[0]:
                if ns is None:
                    g = _engine._call_hooks(hooks[0], g, leaf)
                else:
                    g = ns.wrap(_higher_order.call_hooks(hooks[0], ns.unwrap(g)))
            captured[key] = captured[key] + g if key in captured else g
            return
    if ns is None:
        _engine.accumulate_leaf(leaf, g)
    else:
        _higher_order.accumulate_leaf(leaf, ns.unwrap(g), ns)


# ---------------------------------------------------------------------------------------- public API


def _as_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, Tensor) or value is None:
        return [value]
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{what} must be a Tensor or a sequence of Tensors, not "
                        f"{type(value).__name__}.") from None


def _initial_grads(outputs: list[Any], grads: list[Any], what: str, tensors: bool = False) -> list[Any]:
    """The initial gradients, checked: arrays, or (``tensors``, for ``create_graph``) tensors."""
    if len(grads) != len(outputs):
        raise RuntimeError(f"{what}: got {len(grads)} gradients for {len(outputs)} outputs.")
    arrays: list[Any] = []
    for i, (out, g) in enumerate(zip(outputs, grads)):
        if not isinstance(out, Tensor):
            raise TypeError(f"{what}: outputs must be Tensors, got {type(out).__name__}.")
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            ones = np.ones_like(out._data)
            arrays.append(make_tensor(ones) if tensors else ones)
            continue
        data = g._data if isinstance(g, Tensor) else None
        if data is None:
            raise TypeError(f"{what}: gradient {i} must be a Tensor or None, got {type(g).__name__}.")
        if data.shape != out._data.shape:
            raise RuntimeError(f"{what}: mismatch in shape: grad_output[{i}] has a shape of {data.shape} "
                               f"and output[{i}] has a shape of {out._data.shape}.")
        if data.dtype != out._data.dtype:
            raise TypeError(f"{what}: mismatch in dtype: grad_output[{i}] has dtype {data.dtype} and "
                            f"output[{i}] has dtype {out._data.dtype}.")
        arrays.append(g if tensors else data)
    return arrays


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Computes the sum of gradients of ``tensors`` with respect to graph leaves.

    Args:
        tensors: tensors of which the derivative will be computed.
        grad_tensors: the "vector" in the vector-Jacobian product, one per tensor (``None`` for a
            one-element tensor).
        retain_graph: if ``True``, the graph (its saved values and counts) is kept, so that backward can
            run through it again. Defaults to ``create_graph``.
        create_graph: if ``True``, the graph of the derivative is constructed, so that higher order
            derivatives can be computed: ``.grad`` then has a history of its own.
        inputs: tensors whose ``.grad`` receives gradients; by default every leaf of the graph.
    """
    outputs = _as_list(tensors, "backward(): tensors")
    grads = _as_list(grad_tensors, "backward(): grad_tensors") if grad_tensors is not None \
        else [None] * len(outputs)
    arrays = _initial_grads(outputs, grads, "backward()", tensors=bool(create_graph))
    selected = None if inputs is None else _as_list(inputs, "backward(): inputs")
    if selected is not None and not selected:
        raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    run(outputs, arrays, retain_graph=bool(create_graph if retain_graph is None else retain_graph),
        inputs=selected, accumulate=True, create_graph=bool(create_graph))


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """Computes and returns the sum of gradients of ``outputs`` with respect to ``inputs``.

    No ``.grad`` is changed. ``grad_outputs`` is the "vector" of the vector-Jacobian product (``None``
    for one-element outputs). An input the outputs do not depend on raises, unless ``allow_unused``
    (its gradient is then ``None``) or ``materialize_grads`` (zeros). ``retain_graph`` defaults to
    ``create_graph``; with ``create_graph=True`` the returned gradients have a history, so that they
    can be differentiated again.
    """
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    allow_unused = materialize_grads if allow_unused is None else allow_unused
    outs = _as_list(outputs, "grad(): outputs")
    ins = _as_list(inputs, "grad(): inputs")
    grads = _as_list(grad_outputs, "grad(): grad_outputs") if grad_outputs is not None \
        else [None] * len(outs)
    arrays = _initial_grads(outs, grads, "grad()", tensors=bool(create_graph))
    results = run(outs, arrays, retain_graph=bool(create_graph if retain_graph is None else retain_graph),
                  inputs=ins, accumulate=False, create_graph=bool(create_graph))
    out: list[Tensor | None] = []
    for i, (t, g) in enumerate(zip(ins, results)):
        if g is None:
            if materialize_grads:
                out.append(make_tensor(np.zeros_like(t._data)))
                continue
            if not allow_unused:
                raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to not have "
                                   "been used in the graph. Set allow_unused=True if this is the desired "
                                   "behavior.")
            out.append(None)
        elif create_graph:
            out.append(g)
        else:
            out.append(make_tensor(g.copy() if g.base is not None or not g.flags.writeable else g))
    return tuple(out)
