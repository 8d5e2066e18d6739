"""The conformance suite (``kittygrad_core.testing``) passes correct ops and catches broken ones.

Core's tests see no plugin ops (autoload is off), so each test registers its own small ops on the
global registry and removes them afterwards.
"""
import contextlib
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import kittygrad_core as kitty
from kittygrad_core import Composite, Conformance, Op, _dispatch

try:  # the conformance machinery needs both; missing, they fail the run rather than skip it
    import hypothesis  # noqa: F401
    import torch  # noqa: F401
except ImportError as error:
    raise ImportError(f"kittygrad_core.testing's tests need torch and hypothesis ({error}): install the "
                      'test extra, `pip install "kittygrad-core[testing]"`') from None

from kittygrad_core.testing import (  # noqa: E402
    PROFILE_ENV,
    PROFILES,
    check_op,
    conformance_stats,
    conformance_tests,
    op_names,
    ops_without_conformance,
    profile_settings,
    reset_stats,
)
from kittygrad_core.testing._strategies import LARGE, draw_values  # noqa: E402

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


def fails(op, *fragments, profile=None):
    """check_op raises an AssertionError naming the op and containing each fragment."""
    with registered(op), pytest.raises(AssertionError) as info:
        check_op(op.name, profile)
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


class Clamp(Op):
    """clamp with number bounds; the gradient passes where min <= x <= max, bounds included (torch)."""

    name = "kt_clamp"
    saves = (0,)
    conformance = Conformance(torch="torch.clamp", kinks=(-0.5, 0.5, 1.0),
                              options={"min": [-0.5, None], "max": [0.5, 1.0]})

    def forward(self, xp, input, min=None, max=None):
        self.input, self.low, self.high = input, min, max
        out = input if min is None else xp.maximum(input, xp.asarray(min, dtype=input.dtype))
        return xp.minimum(out, xp.asarray(max, dtype=input.dtype))

    def backward(self, xp, grad):
        return xp.where(self.mask(self.input), grad, 0).astype(grad.dtype)

    def mask(self, x):
        return (x <= self.high) & (True if self.low is None else x >= self.low)


class ClampStrictAtMax(Clamp):
    """Passes no gradient at x == max (torch passes it)."""

    name = "kt_clamp_strict_at_max"

    def mask(self, x):
        return (x < self.high) & (True if self.low is None else x >= self.low)


class Elu(Op):
    """elu; torch's gradient at 0 is alpha (the negative branch)."""

    name = "kt_elu"
    saves = (0,)
    conformance = Conformance(torch="nn.functional.elu", kinks=(0.0,), options={"alpha": [1.0, 0.5, 2.0]})

    def forward(self, xp, input, alpha=1.0):
        self.input, self.alpha = input, alpha
        with xp.errstate(over="ignore"):
            return xp.where(input > 0, input, alpha * xp.expm1(input)).astype(input.dtype)

    def backward(self, xp, grad):
        x = self.input
        return xp.where(self.positive(x), grad, grad * self.alpha * xp.exp(xp.minimum(x, 0))).astype(
            grad.dtype)

    def positive(self, x):
        return x > 0


class EluWrongAtZero(Elu):
    """Takes the positive branch's gradient (1) at 0: wrong when alpha != 1."""

    name = "kt_elu_wrong_at_zero"

    def positive(self, x):
        return x >= 0


class CubeWrongBeyond3(Cube):
    """The right derivative inside [-3, 3] only: the old default domain never left it."""

    name = "kt_cube_wrong_beyond_3"

    def backward(self, xp, grad):
        scale = xp.where(xp.abs(self.input) > 3, 2.9, 3.0).astype(grad.dtype)
        return grad * scale * self.input ** 2


class MulNumberAsArray(Mul):
    """Turns a number operand into a NumPy array first: float32 * 2.5 becomes float64 (torch: float32)."""

    name = "kt_mul_number_as_array"
    inplace = ()

    def forward(self, xp, input, other):
        return super().forward(xp, xp.asarray(input), xp.asarray(other))


class Pow(Op):
    """pow with torch's rules at a zero base and a zero exponent; number exponents on any base."""

    name = "kt_pow"
    broadcast = True
    saves = (0, 1)
    conformance = Conformance(torch="torch.pow", domain=("positive", (-2.0, 2.0)), variants=(
        Conformance(torch="torch.pow", domain="any", scalars={1: [0, 2, 3, -2, 0.5]}),))

    def forward(self, xp, input, exponent):
        self.input, self.exponent = input, exponent
        return input ** exponent

    def backward(self, xp, grad):
        x, e = self.input, self.exponent
        with xp.errstate(divide="ignore", invalid="ignore"):
            if isinstance(e, (int, float)):
                return (xp.zeros_like(grad) if e == 0 else grad * self.number_rule(xp, x, e)), None
            grad_input = xp.where(e == 0, 0.0, grad * e * x ** (e - 1)).astype(grad.dtype)
            grad_exponent = xp.where((x == 0) & (e >= 0), 0.0, grad * x ** e * xp.log(x))
        return grad_input, grad_exponent.astype(grad.dtype)

    def number_rule(self, xp, x, e):
        return e * x ** (e - 1)


class PowNumberExponentWrong(Pow):
    """The number-exponent rule with |x|: right for positive bases only."""

    name = "kt_pow_number_exponent_wrong"

    def number_rule(self, xp, x, e):
        return e * xp.abs(x) ** (e - 1)


class NoMetadata(Cube):
    name = "kt_no_metadata"
    conformance = None


# ----------------------------------------------------------------------------- correct ops pass


@pytest.mark.parametrize("op", [Cube, Mul, Sum, Transpose, Argmax, Stack, Clamp, Elu, Pow],
                         ids=lambda op: op.name)
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
    import torch

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


# ----------------------------------------------------------------------------- edges, dtypes, grad mode


#: The ci profile catches each of these planted bugs in most runs (19 or 20 of 20 measured); the
#: tests take the thorough profile's budget, which stops at the first failure, so they never flake.
EDGE_PROFILE = "thorough"


def test_edge_values_are_drawn():
    rng = np.random.default_rng(0)
    values = draw_values(rng, (4, 5), "float64", "any", (0.5,), ("zero", "tie", "special", "large"),
                         specials=(0.5, -0.5), pool=(1.25,))
    assert (values == 0).any() and (values == 1.25).sum() >= 2
    assert np.isin(values, (0.5, -0.5)).any()
    assert ((np.abs(values) > LARGE[0]) & (np.abs(values) <= LARGE[1])).any()
    plain = draw_values(rng, (50,), "float64", "any", (0.5,))
    assert np.abs(plain - 0.5).min() >= 0.01 and np.unique(plain).size == 50
    assert (draw_values(rng, (50,), "float64", "positive", (), ("zero", "large")) > 0).all()


def test_clamp_without_gradient_at_max_is_caught():
    fails(ClampStrictAtMax, "gradient of input 0 differs from torch's", profile=EDGE_PROFILE)


def test_elu_wrong_at_zero_is_caught():
    fails(EluWrongAtZero, "gradient of input 0 differs from torch's", profile=EDGE_PROFILE)


def test_rule_wrong_only_beyond_3_is_caught():
    fails(CubeWrongBeyond3, "gradient of input 0 differs from torch's", profile=EDGE_PROFILE)


def test_number_operand_promotion_bug_is_caught():
    fails(MulNumberAsArray, "dtype float64, torch's is float32", profile=EDGE_PROFILE)


def test_mixed_dtype_promotion_bug_in_the_dispatcher_is_caught(monkeypatch):
    # numpy's promotion instead of torch's: a float64 0-d tensor would promote a float32 tensor
    monkeypatch.setattr(_dispatch, "result_dtype", lambda pairs: np.result_type(*[d for d, _ in pairs]))
    fails(Mul, "dtype float64, torch's is float32", profile=EDGE_PROFILE)


def test_pow_number_exponent_rule_bug_is_caught():
    fails(PowNumberExponentWrong, "gradient of input 0 differs from torch's", profile=EDGE_PROFILE)


@pytest.mark.parametrize("entry, op", [("apply1", Cube), ("apply", Stack), ("apply2", Mul)])
def test_dropped_grad_mode_check_is_caught(monkeypatch, entry, op):
    # The op goes through `entry`; every grad-mode check of the dispatch reads this module global, so
    # one that always says True records under no_grad (pure and compiled builds alike).
    monkeypatch.setattr(_dispatch, "GRAD_ENABLED", types.SimpleNamespace(get=lambda: True))
    fails(op, "under no_grad")


def test_stats_count_edges_mixed_dtypes_and_numbers():
    reset_stats()
    with registered(Clamp, Mul, Pow):
        for name in ("kt_clamp", "kt_mul", "kt_pow"):
            check_op(name)
    stats = conformance_stats()
    assert stats["cases"] == 3 * PROFILES["ci"] and stats["accepted"] > stats["cases"] // 2
    for kind in ("zero", "tie", "special", "large"):
        assert stats[f"edge: {kind}"] > 0, stats
    assert stats["mixed dtypes"] > 0 and stats["number operands"] > 0, stats
    reset_stats()
    assert conformance_stats() == {}


@pytest.mark.parametrize("missing", ["torch", "hypothesis"])
def test_a_missing_test_dependency_names_the_testing_extra(missing):
    # None in sys.modules makes `import torch` fail as if torch were not installed.
    code = (f"import sys; sys.modules[{missing!r}] = None\n"
            "try:\n    import kittygrad_core.testing\n"
            "except ImportError as error:\n    print(type(error).__name__, error.name, '|', error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            check=False,
                            env=dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(kitty.__file__))))
    assert result.stdout.strip() == (
        f"ModuleNotFoundError {missing} | kittygrad_core.testing needs {missing}, which is missing: "
        'install the testing extra, pip install "kittygrad-core[testing]" (torch, hypothesis, pytest).'
    ), result.stderr
