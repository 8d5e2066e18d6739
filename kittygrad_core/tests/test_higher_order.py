"""create_graph=True in core alone: the pass, its counts, the namespace hook and the refusal of rules
that record nothing. The namespace here is the simplest one: tensors themselves (the test ops' rules
only multiply and add)."""
import types

import numpy as np
import pytest

import kittygrad_core as kitty
from kittygrad_core import _engine


class Square(kitty.Op):
    """input * input, with a rule that records under create_graph."""

    __slots__ = ("input",)
    name = "square"
    differentiable_backward = True

    def forward(self, xp, input):
        self.input = input
        return input * input

    def backward(self, xp, grad):
        return grad * self.input * 2.0


class Cube(kitty.Op):
    """input ** 3 saving its output too: 3 * out / input (only to exercise ``out``)."""

    __slots__ = ("input", "out")
    name = "cube"
    differentiable_backward = True

    def forward(self, xp, input):
        self.input = input
        self.out = input * input * input
        return self.out

    def backward(self, xp, grad):
        return grad * self.input * self.input * 3.0


class Twice(kitty.Op):
    """input * 2: a rule that records nothing (no differentiable_backward)."""

    __slots__ = ("input",)
    name = "twice_square"

    def forward(self, xp, input):
        self.input = input
        return input * input * 2

    def backward(self, xp, grad):
        return grad * self.input * 4


class Scale(kitty.Op):
    """input * 3: linear, saves nothing; its rule records nothing either."""

    __slots__ = ()
    name = "scale"

    def forward(self, xp, input):
        return input * 3

    def backward(self, xp, grad):
        return grad * 3


class TensorNamespace:
    """Rules of the ops above need only `*` and `+` of their values: tensors as they are."""

    @staticmethod
    def wrap(tensor):
        return tensor

    @staticmethod
    def unwrap(value):
        return value if isinstance(value, kitty.Tensor) else kitty.tensor(np.asarray(value))

    @staticmethod
    def full(shape, value, dtype=None):  # the test sum's rule: broadcast the upstream gradient
        return kitty.tensor(np.ones(shape, dtype=dtype)) * value


@pytest.fixture
def higher(ops, monkeypatch):
    monkeypatch.setattr(kitty.plugins, "namespace", TensorNamespace())
    for name in ("mul", "add", "sum"):  # the conftest ops whose rules record with this namespace
        monkeypatch.setattr(kitty.registry[name], "differentiable_backward", True)
    names = []
    for op in (Square, Cube, Twice, Scale):
        kitty.registry.register(op, plugin="hi", distribution="dist-hi")
        names.append(op.name)
    yield
    for name in names:
        kitty.registry.unregister(name)


def leaf(values):
    return kitty.tensor(np.array(values, dtype=np.float64), requires_grad=True)


def test_second_derivative_of_a_leaf_function(higher):
    x = leaf([0.5, -2.0, 3.0])
    (g,) = kitty.autograd.grad(kitty.cube(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    assert g.requires_grad and g.grad_fn is not None
    (h,) = kitty.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())


def test_second_derivative_through_an_intermediate_node_counts_within_the_pass(higher):
    # w is consumed by cube's forward node and, after the first pass, by the rule's recorded graph:
    # the second pass must run w's node once it has all gradients *of this pass* (torch's rule)
    x = leaf([0.5, 1.5])
    w = kitty.square(x)
    y = kitty.cube(w).sum()
    (g,) = kitty.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 6 * x.numpy() ** 5)
    g.sum().backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), 30 * x.numpy() ** 4)
    # the forward graph kept its locks as they were: a backward from its own output still works
    x.grad = None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() ** 5)
    # and, as in torch, it freed what it ran through (the second pass crossed w's node too)
    with pytest.raises(RuntimeError, match="a second time"):
        g.sum().backward()


def test_backward_create_graph_gives_grad_a_history(higher, torch):
    x = leaf([0.5, 1.5, -1.0])
    kitty.cube(x).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    first = x.grad
    (h,) = kitty.autograd.grad(first.sum(), x)
    t = torch.tensor(x.numpy(), requires_grad=True)
    (t ** 3).sum().backward(create_graph=True)
    (th,) = torch.autograd.grad(t.grad.sum(), t)
    np.testing.assert_allclose(h.numpy(), th.numpy())


def test_mixed_graph_the_engine_counts_are_restored(higher):
    x = leaf([1.0, 2.0])
    w = kitty.square(x)
    a, b = kitty.cube(w), kitty.square(w)
    y = a.sum() + b.sum()
    locks = (w.grad_fn._lock, a.grad_fn._lock, b.grad_fn._lock)
    (g,) = kitty.autograd.grad(y, x, create_graph=True)  # its rules consumed w's and a's nodes again
    assert (w.grad_fn._lock, a.grad_fn._lock, b.grad_fn._lock) == locks
    y.backward()  # the fast pass's view of the forward graph is unchanged
    np.testing.assert_allclose(x.grad.numpy(), g.numpy())


def test_a_rule_that_records_nothing_raises_when_differentiated_again(higher):
    x = leaf([1.0, 2.0])
    (g,) = kitty.autograd.grad(kitty.twice_square(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 4 * x.numpy())  # the first derivative is right
    with pytest.raises(NotImplementedError, match="op 'twice_square' .*dist-hi.*differentiable_backward"):
        g.sum().backward()


class Derived(kitty.Op):
    """input ** 2 whose rule reads a copy of the input under another name (state, as far as core sees)."""

    __slots__ = ("twice",)
    name = "derived_square"

    def forward(self, xp, input):
        self.twice = 2 * input
        return input * input

    def backward(self, xp, grad):
        return grad * self.twice


def test_an_unflagged_rule_refuses_even_behind_a_constant_gradient(higher):
    # the upstream gradient of derived_square is the constant 1, but its rule reads x through state:
    # its gradient depends on x, and only a refusal is safe (a constant would be a silent zero)
    kitty.registry.register(Derived, plugin="hi", distribution="dist-hi")
    try:
        x = leaf([1.0, 2.0])
        (g,) = kitty.autograd.grad(kitty.derived_square(x).sum(), x, create_graph=True)
        np.testing.assert_allclose(g.numpy(), [2.0, 4.0])
        with pytest.raises(NotImplementedError, match="op 'derived_square'"):
            kitty.autograd.grad(g.sum(), x)
        (g,) = kitty.autograd.grad(kitty.square(kitty.scale(x)).sum(), x, create_graph=True)
        with pytest.raises(NotImplementedError, match="op 'scale'"):
            kitty.autograd.grad(g.sum(), x)
    finally:
        kitty.registry.unregister("derived_square")


def test_without_a_namespace_create_graph_says_what_to_install(higher, monkeypatch):
    monkeypatch.setattr(kitty.plugins, "namespace", None)
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="pip install kittygrad-ops"):
        kitty.autograd.grad(kitty.square(x).sum(), x, create_graph=True)


def test_custom_function_backward_records(higher, torch):
    class Cubed(kitty.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return kitty.tensor(x.numpy() ** 3)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * x * x * 3.0

    x = leaf([0.5, 2.0])
    (g,) = kitty.autograd.grad(Cubed.apply(x).sum(), x, create_graph=True)
    (h,) = kitty.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())


def test_namespace_hook_first_plugin_wins_and_bad_ones_are_reported():
    tensor_type = type("FakeTensor", (kitty.Tensor,), {"__slots__": ()})
    host = kitty.PluginHost(kitty.OpRegistry(types.ModuleType("fake"), tensor_type))
    first, second = TensorNamespace(), TensorNamespace()

    def plugin(name, answer):
        mod = types.ModuleType(name)

        @kitty.hookimpl
        def kittygrad_array_namespace():
            if isinstance(answer, BaseException):
                raise answer
            return answer

        mod.kittygrad_array_namespace = kittygrad_array_namespace
        return mod

    with pytest.warns(kitty.PluginWarning, match="'broken' .*raised in kittygrad_array_namespace"):
        host.add_plugin(plugin("broken", SystemExit(3)), name="broken", distribution="dist-broken")
    with pytest.warns(kitty.PluginWarning, match="'bare' .*no wrap\\(\\) and unwrap\\(\\)"):
        host.add_plugin(plugin("bare", object()), name="bare", distribution="dist-bare")
    host.add_plugin(plugin("one", first), name="one", distribution="dist-one")
    host.add_plugin(plugin("two", second), name="two", distribution="dist-two")
    assert host.namespace is first and host.namespace_owner == "dist-one"


def test_after_a_create_graph_pass_lock_diagnostics_of_other_graphs_remain(higher):
    x = leaf([1.0])
    (g,) = kitty.autograd.grad(kitty.square(x).sum(), x, create_graph=True)
    assert _engine.MARKED
    w = kitty.square(x)
    a, b = kitty.square(w), kitty.cube(w)
    with pytest.warns(UserWarning, match="Backpropagation not completed"):
        a.sum().backward()
    assert x.grad is None
    b.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0 + 6.0])


def test_the_general_pass_is_needed_only_while_marked_nodes_live(higher):
    import gc

    x = leaf([1.0, 2.0])
    (g,) = kitty.autograd.grad(kitty.cube(kitty.square(x)).sum(), x, create_graph=True)
    assert _engine.MARKED
    del g
    gc.collect()
    assert not _engine.MARKED  # every marked node is gone: plain backward takes the fast pass again
