"""The inlined fast paths (apply1, apply2) against the general dispatcher (apply): same results, same
graph links, same version snapshots, for every op whose bindings take a fast path."""
import numpy as np
import pytest

import kittygrad as kitty
import kittygrad_core
from kittygrad_core import extend


def _fast_ops():
    ops = []
    for op in kittygrad_core.registry:
        caller = getattr(op, "caller", None)
        names = getattr(getattr(caller, "__code__", None), "co_names", ())
        if "_apply1" in names or "_apply2" in names:
            ops.append(op)
    return ops


FAST = _fast_ops()


def test_the_fast_paths_are_used_by_the_elementwise_ops():
    names = {op.name for op in FAST}
    assert {"mul", "add", "exp", "tanh", "pow", "div"} <= names, sorted(names)


def _inputs(n, grads, dtype):
    rng = np.random.default_rng(len(grads))
    base = [kitty.tensor(rng.uniform(0.2, 0.9, size=(2, 3)), dtype=dtype, requires_grad=g) for g in grads]
    # non-leaves too: their node's lock and links are part of what the paths must agree on
    return [t * 1.0 if g else t for t, g in zip(base, grads)][:n]


def _state(out):
    node = out.grad_fn
    if node is None:
        return (out.numpy().tolist(), out.dtype, out.requires_grad, None)
    return (out.numpy().tolist(), out.dtype, out.requires_grad, type(node), node._lock, node._shape,
            node._dtype, tuple(id(fn) if fn is not None else None for fn in node.next_functions),
            node._vc is not None and id(node._vc), node._vv if node._vc is not None else None,
            tuple(id(v) if isinstance(v, list) else v for v in node._saved),
            node._next2.__class__)  # the edges' storage form too (a tuple per node is a tracked object)


@pytest.mark.parametrize("grad_mode", [True, False])
@pytest.mark.parametrize("grads", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("op", FAST, ids=[op.name for op in FAST])
def test_fast_and_general_paths_agree(op, grads, grad_mode):
    n = len(op.input_names)
    inputs = _inputs(n, grads[:n], kitty.float64)
    locks = lambda: [t.grad_fn._lock if t.grad_fn is not None else None for t in inputs]  # noqa: E731
    with kitty.set_grad_enabled(grad_mode):
        before = locks()
        try:
            fast = op.caller(*inputs)
        except (TypeError, RuntimeError, ValueError) as error:  # an op that needs options
            with pytest.raises(type(error)):
                extend.apply(op, tuple(inputs))
            return
        middle = locks()
        general = extend.apply(op, tuple(inputs))
        after = locks()
    # each path counts itself once as a consumer of each input it links
    assert [m - b if b is not None else None for b, m in zip(before, middle)] == \
        [a - m if m is not None else None for m, a in zip(middle, after)]
    # a snapshot refers to the output's own counter: compare positions, not identities
    fast_state, general_state = _state(fast), _state(general)
    if fast.grad_fn is not None:
        own = {id(fast._version): "out", **{id(t._version): i for i, t in enumerate(inputs)}}
        own_g = {id(general._version): "out", **{id(t._version): i for i, t in enumerate(inputs)}}
        fast_state = fast_state[:8] + (own.get(fast_state[8]), fast_state[9],
                                       tuple(own.get(v, v) for v in fast_state[10])) + fast_state[11:]
        general_state = general_state[:8] + (own_g.get(general_state[8]), general_state[9],
                                             tuple(own_g.get(v, v) for v in general_state[10])) + general_state[11:]
    assert fast_state == general_state


@pytest.mark.parametrize("op", [op for op in FAST if len(op.input_names) == 2 and op.broadcast],
                         ids=lambda op: op.name)
def test_fast_and_general_paths_agree_with_number_operands(op):
    x = kitty.tensor([0.3, 0.6], dtype=kitty.float64, requires_grad=True) * 1.0
    for operands in ((x, 2.0), (2.0, x), (x, 3)):
        assert _state(op.caller(*operands))[:8] == _state(extend.apply(op, operands))[:8]


@pytest.mark.parametrize("op", [op for op in FAST if len(op.input_names) == 2 and op.broadcast],
                         ids=lambda op: op.name)
@pytest.mark.parametrize("shapes", [((4, 3), (3,)), ((3,), (2, 4, 3)), ((2, 3), ()), ((2, 3), (2, 1)),
                                    ((2, 3), (2,))])
def test_fast_and_general_paths_agree_on_broadcast_shapes(op, shapes):
    # (4, 3) + (3,) (a bias) takes the fast path; (2, 3) and (2, 1) the general one, where _align checks
    rng = np.random.default_rng(0)
    x, y = (kitty.tensor(rng.uniform(0.2, 0.9, size=s), requires_grad=True) for s in shapes)
    try:
        general = extend.apply(op, (x, y))
    except RuntimeError as error:  # shapes that do not broadcast: the same error on both paths
        with pytest.raises(RuntimeError) as fast_error:
            op.caller(x, y)
        assert str(fast_error.value) == str(error)
        return
    fast = op.caller(x, y)
    assert _state(fast)[:8] == _state(general)[:8]
    fast.sum().backward()
    grads = x.grad.numpy().copy(), y.grad.numpy().copy()
    x.grad = y.grad = None
    general.sum().backward()
    assert np.array_equal(grads[0], x.grad.numpy()) and np.array_equal(grads[1], y.grad.numpy())
