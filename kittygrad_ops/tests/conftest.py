"""Shared helpers: build the same tensors in kittygrad and torch, compare values and gradients."""
from __future__ import annotations

import numpy as np
import pytest

import kittygrad_core as kitty
from kittygrad_core.testing import compiled_summary, second_derivative_summary

try:
    import torch
except ImportError:  # a missing oracle must fail the run, never skip it
    raise ImportError("kittygrad-ops' tests compare with PyTorch, the test oracle, which is missing: install "
                      'the test extra, `pip install "kittygrad-core[testing]"` (a missing oracle fails '
                      "the run, it is never skipped)") from None


@pytest.fixture(autouse=True, scope="session")
def _ops_installed():
    assert "add" in kitty.registry, "kittygrad-ops must be installed (its entry point loads it)"
    assert kitty.registry["add"].distribution == "kittygrad-ops"


def pair(shape, dtype="float64", low=-2.0, high=2.0, requires_grad=True, seed=0):
    """The same random data as a kittygrad tensor and a torch tensor."""
    data = np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)
    return (kitty.tensor(data, requires_grad=requires_grad),
            torch.tensor(data, requires_grad=requires_grad))


def close(kitty_value, torch_value, rtol=1e-6, atol=1e-8):
    """kittygrad and torch agree on values, shape and dtype."""
    expected = torch_value.detach().numpy()
    actual = kitty_value.numpy() if isinstance(kitty_value, kitty.Tensor) else np.asarray(kitty_value)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert str(actual.dtype) == str(expected.dtype).replace("torch.", ""), (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)
    return True


def backward_both(kitty_out, torch_out, seed=0):
    """Backward from both outputs with the same random upstream gradient (all ones would hide a rule
    that ignores the incoming gradient, or applies it to the wrong element)."""
    g = np.random.default_rng(seed).uniform(-2.0, 2.0, tuple(torch_out.shape))
    g = g.astype(str(torch_out.dtype).replace("torch.", ""))
    kitty_out.backward(kitty.tensor(g))
    torch_out.backward(torch.tensor(g))


#: The report of second derivatives the conformance suite verified, at the end of the run.
_second_derivatives = second_derivative_summary("kittygrad-ops")
_compiled = compiled_summary("kittygrad-ops")


def pytest_terminal_summary(terminalreporter):
    _second_derivatives(terminalreporter)
    _compiled(terminalreporter)
