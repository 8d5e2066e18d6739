"""The conformance suite (``kittygrad_core.testing``) passes correct ops and catches broken ones.

Core's tests see no plugin ops (autoload is off), so each test registers its own small ops on the
global registry and removes them afterwards.
"""
import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest

import kittygrad_core as kitty
from kittygrad_core import Composite, Conformance, Op

pytest.importorskip("torch")
pytest.importorskip("hypothesis")

from kittygrad_core.testing import (PROFILE_ENV, PROFILES, check_op, conformance_tests,  # noqa: E402
                                    op_names, ops_without_conformance, profile_settings)

DIST = "kittygrad-testing-tests"


@contextlib.contextmanager
def registered(*ops):
    """Registers test ops (from distribution ``DIST``) for the duration of a ``with`` block."""
    names = []
    try:
        for op in ops:
            names.append(kitty.registry.register(op, plugin="testing-tests", distribution=DIST).name)
        yield
    finally:
        for name in reversed(names):
            kitty.registry.unregister(name)


def fails(op, *fragments):
    """check_op raises an AssertionError naming the op and containing each fragment."""
    with registered(op), pytest.raises(AssertionError) as info:
        check_op(op.name)
    message = str(info.value)
    assert f"op '{op.name}'" in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# ----------------------------------------------------------------------------- test ops


class Cube(Op):
    """x ** 3, correct."""

    name = "kt_cube"
    saves = (0,)
    conformance = Conformance(torch=lambda torch, x: x ** 3)

    def forward(self, xp, input):
        self.input = input
        return input ** 3

    def backward(self, xp, grad):
        return grad * 3 * self.input ** 2


class WrongBackward(Cube):
    """x ** 3 with the derivative of x ** 2."""

    name = "kt_wrong_backward"

    def backward(self, xp, grad):
        return grad * 2 * self.input


class WrongForward(Cube):
    """x ** 3 + 1e-3 against torch's x ** 3."""

    name = "kt_wrong_forward"

    def forward(self, xp, input):
        return super().forward(xp, input) + 1e-3


class WrongGradDtype(Cube):
    """A float64 gradient whatever the input's dtype: the engine rejects it."""

    name = "kt_wrong_grad_dtype"

    def backward(self, xp, grad):
        return super().backward(xp, grad).astype(np.float64)


class WrongGradShape(Cube):
    """A gradient of one element too many: the engine rejects it."""

    name = "kt_wrong_grad_shape"

    def backward(self, xp, grad):
        return xp.zeros(self.input.shape + (2,), dtype=grad.dtype)


class Mul(Op):
    """input * other with broadcasting and its in-place forms."""

    name = "kt_mul"
    inplace = ("__imul__", "mul_")
    override = True  # when kittygrad-ops is loaded too, borrow its bindings; unregister returns them
    broadcast = True
    saves = (0, 1)
    conformance = Conformance(torch="torch.mul")

    def forward(self, xp, input, other):
        self.input, self.other = input, other
        return input * other

    def backward(self, xp, grad):
        return grad * self.other, grad * self.input


class WrongInplace(Mul):
    """Right out of place, but bound in place as torch's ``add_``."""

    name = "kt_wrong_inplace"
    inplace = ("add_",)


class Sum(Op):
    """sum over dims, with options drawn from the metadata."""

    name = "kt_sum"
    conformance = Conformance(torch="torch.sum", shapes="same", options={"dim": "dims", "keepdim": "bool"})

    def forward(self, xp, input, dim=None, keepdim=False):
        self.shape = input.shape
        self.axes = tuple(range(input.ndim)) if dim is None else tuple(
            d % max(input.ndim, 1) for d in ((dim,) if isinstance(dim, int) else dim))[:input.ndim]
        self.keepdim = keepdim
        return input.sum(axis=self.axes, keepdims=keepdim)

    def backward(self, xp, grad):
        if not self.keepdim:
            grad = xp.expand_dims(grad, self.axes)
        return xp.broadcast_to(grad, self.shape).copy()


class Transpose(Op):
    """A view: the dims reversed."""

    name = "kt_t"
    view = True
    conformance = Conformance(torch=lambda torch, x: x.permute(tuple(reversed(range(x.ndim)))))

    def forward(self, xp, input):
        return input.T

    def backward(self, xp, grad):
        return grad.T


class FakeView(Transpose):
    """Declared a view, but returns a copy."""

    name = "kt_fake_view"

    def forward(self, xp, input):
        return input.T.copy()


class Argmax(Op):
    """Integer result, no gradient."""

    name = "kt_argmax"
    differentiable = False
    conformance = Conformance(torch="torch.argmax", shapes="same", empty=False)

    def forward(self, xp, input):
        return xp.argmax(input)


class WrongArgmax(Argmax):
    """The index of the smallest element instead."""

    name = "kt_wrong_argmax"

    def forward(self, xp, input):
        return xp.argmin(input) if input.size > 1 else xp.argmax(input)


class Stack(Op):
    """``*inputs`` op: called with a list, as torch.stack."""

    name = "kt_stack"
    conformance = Conformance(torch="torch.stack", shapes="stack")

    def forward(self, xp, *tensors, dim=0):
        self.dim = dim
        return xp.stack(tensors, axis=dim)

    def backward(self, xp, grad):
        return tuple(xp.moveaxis(grad, self.dim, 0))


class CubeAndSum(Composite):
    """A composite with two outputs."""

    name = "kt_cube_and_sum"
    conformance = Conformance(torch=lambda torch, x: (x ** 3, x.sum()))

    @staticmethod
    def call(input):
        return kitty.kt_cube(input), kitty.kt_sum(input)


class NoMetadata(Cube):
    name = "kt_no_metadata"
    conformance = None


# ----------------------------------------------------------------------------- correct ops pass


@pytest.mark.parametrize("op", [Cube, Mul, Sum, Transpose, Argmax, Stack], ids=lambda op: op.name)
def test_correct_ops_pass(op):
    with registered(op):
        check_op(op.name)


def test_multi_output_composite_passes():
    with registered(Cube, Sum, CubeAndSum):
        check_op("kt_cube_and_sum")


def test_check_op_takes_a_record():
    with registered(Cube):
        check_op(kitty.registry["kt_cube"])


# ----------------------------------------------------------------------------- broken ops fail


def test_wrong_backward_is_caught():
    fails(WrongBackward, "gradient of input 0")


def test_wrong_forward_is_caught():
    fails(WrongForward, "output differs from torch's")


@pytest.mark.parametrize("op, what", [(WrongGradDtype, "dtype"), (WrongGradShape, "shape")])
def test_wrong_gradient_dtype_or_shape_is_caught_by_the_engine(op, what):
    fails(op, "backward raised RuntimeError", f"gradient of {what}")


def test_finite_differences_alone_catch_a_wrong_rule():
    torch = pytest.importorskip("torch")

    class WrongCubeTorch(torch.autograd.Function):
        """torch's x ** 3 with the same wrong derivative as WrongBackward: forward and gradient agree."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 2 * x

    class AgreesWithTorch(WrongBackward):
        name = "kt_agrees_with_torch"
        conformance = Conformance(torch=lambda torch, x: WrongCubeTorch.apply(x))

    fails(AgreesWithTorch, "disagrees with finite differences")


def test_wrong_inplace_binding_is_caught():
    fails(WrongInplace, "'add_' result differs from torch's")


def test_fake_view_is_caught():
    fails(FakeView, "does not share its input's memory")


def test_wrong_integer_output_is_caught():
    fails(WrongArgmax, "output differs from torch's")


def test_op_without_metadata_fails():
    fails(NoMetadata, "no conformance metadata")
    with registered(NoMetadata):
        assert ops_without_conformance(distribution=DIST) == ["kt_no_metadata"]


# ----------------------------------------------------------------------------- plumbing


def test_conformance_tests_is_parametrized_by_op_name():
    with registered(Cube, Mul):
        test = conformance_tests(distribution=DIST)
        assert op_names(distribution=DIST) == ["kt_cube", "kt_mul"]
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    assert mark.args == ("op_name", ["kt_cube", "kt_mul"])


def test_profiles(monkeypatch):
    monkeypatch.delenv(PROFILE_ENV, raising=False)
    assert profile_settings().max_examples == PROFILES["ci"]
    assert profile_settings().database is None
    assert profile_settings().deadline is None
    monkeypatch.setenv(PROFILE_ENV, "thorough")
    assert profile_settings().max_examples == PROFILES["thorough"]
    assert profile_settings("ci").max_examples == PROFILES["ci"]


def test_importing_core_does_not_import_torch_or_hypothesis():
    code = ("import sys, kittygrad_core; "
            "print(sorted({'torch', 'hypothesis'} & set(sys.modules)))")
    env = dict(os.environ, KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            check=True)
    assert result.stdout.strip() == "[]"


class MostlyInvalidDims(Sum):
    """sum whose metadata draws dims that are mostly out of range (torch rejects them, and so do we)."""

    name = "kt_sum_bad_dims"
    conformance = Conformance(torch="torch.sum", shapes="same", options={"dim": [5, 6, 7, 0]})

    def forward(self, xp, input, dim=None, keepdim=False):
        if not -max(input.ndim, 1) <= dim < max(input.ndim, 1):
            raise IndexError(f"kt_sum_bad_dims(): dim {dim} out of range")
        return super().forward(xp, input, dim, keepdim)


def test_metadata_that_torch_mostly_rejects_fails():
    # otherwise an op could pass while barely tested
    fails(MostlyInvalidDims, "torch rejected", "generated cases")
