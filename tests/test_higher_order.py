"""Higher-order gradients through the standard ops, against torch: create_graph in backward and
autograd.grad, the functional API (hessian, hvp, vhp, jvp, vjp, jacobian), gradgradcheck, hooks on
recorded gradients, and the Newton example."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import kittygrad as kitty
from kittygrad_core.testing import ops_with_second_derivatives

ROOT = Path(__file__).resolve().parents[1]
X = np.array([0.5, -1.25, 2.0, 0.75])
V = np.array([1.0, -2.0, 0.5, 3.0])


def scalar_function(lib, x):
    return (lib.exp(x * 0.5) * x).sum() + ((x ** 3) / (x * x + 1)).sum() * (x * x).sum()


def vector_function(lib, x):
    return x ** 3 * (x * x).sum() - lib.exp(x) / (x * x + 2)


@pytest.mark.parametrize("name", ["hessian", "hvp", "vhp"])
@pytest.mark.parametrize("create_graph", [False, True])
def test_hessian_family_matches_torch(name, create_graph):
    x_k, x_t = kitty.tensor(X, requires_grad=create_graph), torch.tensor(X, requires_grad=create_graph)
    args_k = () if name == "hessian" else (kitty.tensor(V),)
    args_t = () if name == "hessian" else (torch.tensor(V),)
    a = getattr(kitty.autograd.functional, name)(lambda x: scalar_function(kitty, x), x_k, *args_k,
                                                 create_graph=create_graph)
    b = getattr(torch.autograd.functional, name)(lambda x: scalar_function(torch, x), x_t, *args_t,
                                                 create_graph=create_graph)
    a, b = (a, b) if name == "hessian" else (a[1], b[1])
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert a.requires_grad == b.requires_grad
    if create_graph:  # third derivatives, through the recorded Hessian (product)
        (a * a).sum().backward()
        (b * b).sum().backward()
        np.testing.assert_allclose(x_k.grad.numpy(), x_t.grad.numpy(), rtol=1e-9)


@pytest.mark.parametrize("name", ["jacobian", "jvp", "vjp"])
def test_first_order_functional_with_create_graph_matches_torch(name):
    x_k, x_t = kitty.tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    ours = getattr(kitty.autograd.functional, name)
    theirs = getattr(torch.autograd.functional, name)
    args_k = () if name == "jacobian" else (kitty.tensor(V),)
    args_t = () if name == "jacobian" else (torch.tensor(V),)
    a = ours(lambda x: vector_function(kitty, x), x_k, *args_k, create_graph=True)
    b = theirs(lambda x: vector_function(torch, x), x_t, *args_t, create_graph=True)
    a, b = (a, b) if name == "jacobian" else (a[1], b[1])
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10)
    # the result has a history back to x: differentiate it once more
    (a * a).sum().backward()
    (b * b).sum().backward()
    np.testing.assert_allclose(x_k.grad.numpy(), x_t.grad.numpy(), rtol=1e-9)


def test_backward_create_graph_gradient_penalty_matches_torch():
    def program(lib, x, w):
        y = lib.exp(x * w) * w - (x ** 3) * w
        y.backward(lib.ones_like(y), create_graph=True)
        penalty = (w.grad * w.grad).sum() + (x.grad ** 2).sum()
        x.grad, w.grad = None, None
        penalty.backward()
        return x.grad, w.grad

    ours = program(kitty, kitty.tensor(X, requires_grad=True), kitty.tensor(V, requires_grad=True))
    theirs = program(torch, torch.tensor(X, requires_grad=True), torch.tensor(V, requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10)


def test_hooks_see_and_replace_recorded_gradients_as_in_torch():
    def program(lib, x):
        h = x * x
        seen = []
        h.register_hook(lambda g: seen.append(g.requires_grad) or g * 3)
        x.register_hook(lambda g: g + 1)
        (g,) = lib.autograd.grad((h * x).sum(), x, create_graph=True)
        (second,) = lib.autograd.grad(g.sum(), x)
        return g, second, seen

    ours = program(kitty, kitty.tensor(X, requires_grad=True))
    theirs = program(torch, torch.tensor(X, requires_grad=True))
    np.testing.assert_allclose(ours[0].numpy(), theirs[0].detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours[1].numpy(), theirs[1].numpy(), rtol=1e-10)
    assert ours[2] == theirs[2]


def test_gradgradcheck_passes_on_standard_ops_and_fails_on_a_constant_backward():
    x = kitty.tensor(X, requires_grad=True)
    w = kitty.tensor(V, requires_grad=True)
    assert kitty.autograd.gradgradcheck(lambda a, b: a ** 3 * b + kitty.exp(a * b) / (b * b + 1), (x, w))

    class FrozenCube(kitty.Function):
        """x ** 3 with a right first derivative whose backward records nothing of x."""

        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return kitty.tensor(a.numpy() ** 3)

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return grad * kitty.tensor(3 * a.numpy() ** 2)  # a constant: second derivative lost

    assert kitty.autograd.gradcheck(FrozenCube.apply, (x,))
    with pytest.raises(kitty.autograd.GradcheckError, match="Jacobian mismatch"):
        kitty.autograd.gradgradcheck(FrozenCube.apply, (x,))


def test_an_op_without_differentiable_backward_refuses_naming_op_and_distribution():
    class Twice(kitty.Op):
        """input * input * 2, differentiable once only."""

        __slots__ = ("input",)
        name = "twice_squared"

        def forward(self, xp, input):
            self.input = input
            return 2 * input * input

        def backward(self, xp, grad):
            return 4 * grad * self.input

    kitty.registry.register(Twice, plugin="tests", distribution="dist-tests")
    try:
        x = kitty.tensor(X, requires_grad=True)
        (g,) = kitty.autograd.grad(kitty.twice_squared(x).sum(), x, create_graph=True)
        np.testing.assert_allclose(g.numpy(), 4 * X)
        with pytest.raises(NotImplementedError, match="op 'twice_squared' \\(registered by dist-tests"):
            g.sum().backward()
    finally:
        kitty.registry.unregister("twice_squared")


def test_newton_example_converges_and_matches_scikit_learn():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "newton_logistic.py")],
                            capture_output=True, text=True, timeout=600, check=True)
    lines = result.stdout.strip().splitlines()
    iterations = [line for line in lines if line.startswith("iteration")]
    assert len(iterations) <= 12
    assert float(iterations[-1].rsplit("=", 1)[1]) < 1e-8
    assert lines[-1].startswith("max |kitty - sklearn| = ")
    assert float(lines[-1].rsplit("=", 1)[1]) <= 1e-4


def test_second_derivatives_are_declared_by_the_standard_arithmetic():
    assert {"add", "sub", "mul", "div", "pow", "neg", "exp", "log"} <= set(
        ops_with_second_derivatives("kittygrad-ops"))
