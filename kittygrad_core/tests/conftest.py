"""Shared fixtures of kittygrad-core's tests: test-only ops, registered at runtime and removed after.

Core's tests never import kittygrad-ops: every op they need is defined here as a small ``Op`` record.
"""
import os
import types

os.environ["KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # before kittygrad_core is imported

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kittygrad_core as kitty  # noqa: E402
from kittygrad_core._grad_mode import GRAD_ENABLED  # noqa: E402

# ----------------------------------------------------------------------------- well-behaved ops


class Mul(kitty.Op):
    """Multiplies input by other elementwise."""

    name = "mul"
    operators = ("__mul__",)
    reflected = ("__rmul__",)
    inplace = ("__imul__", "mul_")
    broadcast = True
    saves = (0, 1)

    def forward(self, xp, input, other):
        self.input, self.other = input, other
        return input * other

    def backward(self, xp, grad):
        return grad * self.other, grad * self.input


class Add(kitty.Op):
    """Adds other to input elementwise."""

    name = "add"
    operators = ("__add__",)
    reflected = ("__radd__",)
    inplace = ("__iadd__", "add_")
    broadcast = True

    def forward(self, xp, input, other):
        return input + other

    def backward(self, xp, grad):
        return grad, grad


class Exp(kitty.Op):
    """Returns the exponential of the elements of input."""

    name = "exp"
    saves_output = True

    def forward(self, xp, input):
        self.out = xp.exp(input)
        return self.out

    def backward(self, xp, grad):
        return grad * self.out


class Sum(kitty.Op):
    """Returns the sum of all elements of input."""

    name = "sum"

    def forward(self, xp, input):
        self.shape = input.shape
        return input.sum()

    def backward(self, xp, grad):
        return xp.full(self.shape, grad, dtype=grad.dtype)


class T(kitty.Op):
    """Returns input with its dimensions reversed, sharing its memory."""

    name = "t"
    view = True

    def forward(self, xp, input):
        return input.T

    def backward(self, xp, grad):
        return grad.T


STANDARD_TEST_OPS = (Mul, Add, Exp, Sum, T)

# ----------------------------------------------------------------------------- ops that break the rules


class WrongCount(kitty.Op):
    """Returns two gradients for its single input."""

    name = "wrong_count"

    def forward(self, xp, input):
        return input.copy()

    def backward(self, xp, grad):
        return grad, grad


class WrongShape(kitty.Op):
    """Returns a gradient of the wrong shape."""

    name = "wrong_shape"

    def forward(self, xp, input):
        return input.copy()

    def backward(self, xp, grad):
        return xp.ones(grad.shape + (2,), dtype=grad.dtype)


class WrongDtype(kitty.Op):
    """Returns a float64 gradient whatever the input's dtype."""

    name = "wrong_dtype"

    def forward(self, xp, input):
        return input.copy()

    def backward(self, xp, grad):
        return grad.astype(np.float64)


class IntGrad(kitty.Op):
    """Returns an integer gradient."""

    name = "int_grad"

    def forward(self, xp, input):
        return input.copy()

    def backward(self, xp, grad):
        return grad.astype(np.int64)


WRONG_TEST_OPS = (WrongCount, WrongShape, WrongDtype, IntGrad)


def _register_all(ops):
    names = []
    try:
        for op in ops:
            kitty.registry.register(op, plugin="core-tests", distribution="kittygrad-core-tests")
            names.append(op.name)
        yield
    finally:
        for name in reversed(names):
            kitty.registry.unregister(name)


@pytest.fixture
def ops():
    """Registers mul, add, exp, sum and the view op t on the global registry for one test."""
    yield from _register_all(STANDARD_TEST_OPS)


@pytest.fixture
def wrong_ops(ops):
    """The standard test ops plus ops whose backward rules break the engine's contract."""
    yield from _register_all(WRONG_TEST_OPS)


@pytest.fixture(autouse=True)
def _isolation():
    """Every test starts with grad mode on, no test op registered and no tracer, and leaves it so."""
    token = GRAD_ENABLED.set(True)
    before = kitty.registry.names()
    yield
    GRAD_ENABLED.reset(token)
    assert kitty.registry.names() == before, "a test left ops registered on the global registry"
    assert not kitty._tracing.ACTIVE and not kitty._tracing.active_tracers(), "a test left a tracer active"


@pytest.fixture
def records():
    """The test op classes themselves, unregistered (tests import nothing from conftest)."""
    return types.SimpleNamespace(**{op.__name__: op for op in STANDARD_TEST_OPS + WRONG_TEST_OPS})


@pytest.fixture
def torch():
    """PyTorch, the test-only oracle (computations in float64); missing, it fails the test (no skip)."""
    try:
        import torch
    except ImportError:
        pytest.fail('this test compares with PyTorch: install the test extra, '
                    '`pip install "kittygrad-core[testing]"` (torch is missing)', pytrace=False)
    return torch


# ----------------------------------------------------------------------------- declared names


def provides_entry(name, op, dist):
    """A ``kittygrad.provides`` entry point as importlib.metadata gives it: ``name = "module:op"``."""
    return types.SimpleNamespace(name=name, attr=op, dist=types.SimpleNamespace(name=dist))


@pytest.fixture(autouse=True)
def no_declarations(monkeypatch):
    """Core's tests see no ``kittygrad.provides`` declaration, whatever distributions are installed."""
    monkeypatch.setattr(kitty._registry, "_declared", dict)


@pytest.fixture
def declared(monkeypatch, no_declarations):
    """What installed distributions declare, faked: kittygrad-ops' add, mul, neg, exp, sum, getitem."""
    entries = [provides_entry(name, op, "kittygrad-ops") for name, op in [
        ("__add__", "add"), ("__radd__", "add"), ("__iadd__", "add"), ("__mul__", "mul"),
        ("__neg__", "neg"), ("__getitem__", "getitem"), ("exp", "exp"), ("sum", "sum"),
        ("multiply", "mul"), ("matmul", "matmul")]]
    entries.append(provides_entry("conv2d", "conv2d", "kittygrad-conv"))
    monkeypatch.setattr(kitty._registry, "_declared", lambda: kitty._registry.declarations(entries))
