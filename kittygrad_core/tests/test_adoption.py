"""A leaf's first gradient: adopted without a copy only when nothing else can hold the array.

The engine used to decide with ``sys.getrefcount``, which counts one reference fewer in compiled code:
a leaf then adopted an array that was still pending for another node (or held by the rule's other
output), and the next in-place accumulation into the leaf's ``.grad`` overwrote it. These tests run in
the pure and in the compiled build alike (``nox -s compiled``), and each trap below fails under any rule
that adopts one array too many.
"""
import numpy as np
import pytest

import kittygrad_core as kitty

pytestmark = pytest.mark.usefixtures("ops")

RETURNED: list[np.ndarray] = []


class Fork(kitty.Op):
    """Sends one array, made by the rule, as the gradient of all three inputs (``add``'s pattern)."""

    name = "test_fork"

    def forward(self, xp, a, b, c):
        return a + b + c

    def backward(self, xp, grad):
        shared = grad * 1.0  # fresh: not the incoming gradient, not a view
        return shared, shared, shared


class Fork2(kitty.Op):
    """The same with two inputs (``kitty.compile``'s replay decides this case without a call)."""

    name = "test_fork2"

    def forward(self, xp, a, b):
        return a + b

    def backward(self, xp, grad):
        shared = grad * 1.0
        return shared, shared


class Pass(kitty.Op):
    """Identity whose rule hands on its own incoming gradient."""

    name = "test_pass"

    def forward(self, xp, x):
        return x.copy()

    def backward(self, xp, grad):
        return grad


class PassView(kitty.Op):
    """Identity whose rule hands on a (writable) view of its incoming gradient."""

    name = "test_pass_view"

    def forward(self, xp, x):
        return x.copy()

    def backward(self, xp, grad):
        return grad.reshape(grad.shape)


class Twice(kitty.Op):
    """Doubles; its rule returns a fresh array, which the leaf may own (recorded in RETURNED)."""

    name = "test_twice"

    def forward(self, xp, x):
        return x * 2.0

    def backward(self, xp, grad):
        out = grad * 2.0
        RETURNED.append(out)
        return out


@pytest.fixture
def trap_ops():
    names = []
    try:
        for op in (Fork, Fork2, Pass, PassView, Twice):
            kitty.registry.register(op, plugin="core-tests", distribution="kittygrad-core-tests")
            names.append(op.name)
        yield
    finally:
        for name in reversed(names):
            kitty.registry.unregister(name)


def ones(n=3):
    return np.ones(n)


@pytest.mark.usefixtures("trap_ops")
def test_array_pending_for_a_node_is_not_adopted():
    # fork's array goes to a (a leaf) and, on the stack, to double(b)'s node, and a third time to a:
    # had a adopted it, the in-place addition of the third gradient would change the pending one.
    a = kitty.tensor(ones(), requires_grad=True)
    b = kitty.tensor(ones(), requires_grad=True)
    kitty.test_fork(kitty.test_twice(b), a, a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0, 2.0])


@pytest.mark.usefixtures("trap_ops")
def test_array_given_to_two_leaves_is_not_shared():
    a = kitty.tensor(ones(), requires_grad=True)
    b = kitty.tensor(ones(), requires_grad=True)
    c = kitty.tensor(ones(), requires_grad=True)
    kitty.test_fork(a, b, c).sum().backward()
    assert a.grad._data is not b.grad._data and b.grad._data is not c.grad._data
    (a * 4.0).sum().backward()  # accumulates into a.grad in place
    np.testing.assert_array_equal(a.grad.numpy(), [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(c.grad.numpy(), [1.0, 1.0, 1.0])


@pytest.mark.usefixtures("trap_ops")
@pytest.mark.parametrize("op", ["test_pass", "test_pass_view"])
def test_passed_on_gradient_is_not_adopted(op):
    # The rule hands on the user's gradient (or a view of it): the leaf must not alias it.
    a = kitty.tensor(ones(), requires_grad=True)
    given = kitty.tensor(np.full(3, 3.0))
    getattr(kitty, op)(a).backward(given)
    getattr(kitty, op)(a).backward(given)  # in place into a.grad
    np.testing.assert_array_equal(given.numpy(), [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, 6.0, 6.0])


def test_view_returned_by_a_rule_is_not_adopted():
    # sum's rule returns a broadcast view of its incoming gradient
    a = kitty.tensor(ones(), requires_grad=True)
    a.sum().backward()
    assert a.grad._data.base is None and a.grad._data.flags.writeable
    a.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0, 2.0])


def test_function_returning_a_tensor_it_holds_is_copied():
    held = kitty.tensor(np.full(3, 5.0))

    class Constant(kitty.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, grad):
            return held  # the user keeps this tensor

    a = kitty.tensor(ones(), requires_grad=True)
    Constant.apply(a).sum().backward()
    Constant.apply(a).sum().backward()  # in place into a.grad
    np.testing.assert_array_equal(held.numpy(), [5.0, 5.0, 5.0])
    np.testing.assert_array_equal(a.grad.numpy(), [10.0, 10.0, 10.0])


@pytest.mark.usefixtures("trap_ops")
def test_fresh_array_is_adopted_without_a_copy():
    # the MLP step's weights: a copy per leaf per step is measurable (docs/performance.md)
    RETURNED.clear()
    a = kitty.tensor(ones(), requires_grad=True)
    kitty.test_twice(a).sum().backward()
    assert a.grad._data is RETURNED[-1]


@pytest.mark.usefixtures("trap_ops")
def test_replay_gives_two_leaves_their_own_arrays():
    a = kitty.tensor(ones(), requires_grad=True)
    b = kitty.tensor(ones(), requires_grad=True)

    def step():
        a.grad = None
        b.grad = None
        kitty.test_fork2(a, b).sum().backward()
    compiled = kitty.compile(step)
    for _ in range(3):  # recorded once, then replayed
        compiled()
        assert a.grad._data is not b.grad._data
        np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0, 1.0])
