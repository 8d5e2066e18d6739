"""Runtime registration (a notebook's way, no entry point): bound at once, gone at once."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import kittygrad_core as kitty
from kittygrad_core.testing import check_op

pytest.importorskip("kittygrad_ops", reason="the Function below computes with the standard ops")


class Softsign(kitty.Function):
    """softsign(x) = x / (1 + |x|), registered at runtime as ``kitty.softsign`` and ``Tensor.softsign``."""

    conformance = kitty.Conformance(torch="nn.functional.softsign")

    def forward(self, x):
        self.ctx.saved_tensors.append(x)
        return x / (1 + x.abs())

    def backward(self, grad):
        (x,) = self.ctx.saved_tensors
        return grad / (1 + x.abs()) ** 2


@pytest.fixture
def softsign():
    assert "softsign" not in kitty.registry
    record = kitty.registry.register(Softsign)
    yield record
    if "softsign" in kitty.registry:
        kitty.registry.unregister("softsign")


def test_a_registered_function_is_a_module_function_and_a_method_at_once(softsign):
    data = np.array([-2.0, 0.5, 3.0])
    x, tx = kitty.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y = kitty.softsign(x) + x.softsign()
    y.sum().backward()
    (2 * torch.nn.functional.softsign(tx)).sum().backward()
    np.testing.assert_allclose(y.numpy(), 2 * data / (1 + np.abs(data)))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    assert softsign.plugin is None and kitty.registry.owner("softsign") is None  # "runtime"


def test_a_registered_function_is_picked_up_by_the_conformance_suite(softsign):
    check_op("softsign")


def test_unregister_removes_the_bindings_at_once(softsign):
    kitty.registry.unregister("softsign")
    assert "softsign" not in kitty.registry
    with pytest.raises(AttributeError):
        kitty.softsign  # noqa: B018 - the lookup itself must raise
    with pytest.raises(AttributeError):
        kitty.tensor([1.0]).softsign()


def test_a_runtime_op_cannot_take_a_plugins_name_without_override():
    class Conv2d(kitty.Op):
        name = "conv2d"

        def forward(self, xp, input, weight):
            return input

    with pytest.raises(RuntimeError, match="clashes with op 'conv2d' from distribution 'kittygrad-conv'"):
        kitty.registry.register(Conv2d)
    assert kitty.registry["conv2d"].distribution == "kittygrad-conv"
