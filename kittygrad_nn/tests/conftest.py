"""Shared helpers: the same modules and data in kittygrad and torch."""
from __future__ import annotations

import numpy as np
import pytest

import kittygrad_core as kitty
from kittygrad_core.testing import compiled_summary, second_derivative_summary

try:
    import torch
except ImportError:  # a missing oracle must fail the run, never skip it
    raise ImportError("kittygrad-nn's tests compare with PyTorch, the test oracle, which is missing: install "
                      'the test extra, `pip install "kittygrad-core[testing]"` (a missing oracle fails '
                      "the run, it is never skipped)") from None


@pytest.fixture(autouse=True, scope="session")
def _nn_installed():
    assert "mse_loss" in kitty.registry, "kittygrad-nn must be installed (its entry point loads it)"
    assert "add" in kitty.registry, "kittygrad-ops must be installed"


def copy_params(kitty_module, torch_module):
    """Copies kittygrad's parameters and buffers into the torch module (same names, same shapes)."""
    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in kitty_module.state_dict().items()}
    own = torch_module.state_dict()
    for key in own:
        if key.endswith("num_batches_tracked"):
            state[key] = own[key].new_tensor(int(state[key].item()))
    torch_module.load_state_dict(state)
    return torch_module


def close(actual, expected, rtol=1e-5, atol=1e-6):
    expected = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    actual = actual.numpy() if isinstance(actual, kitty.Tensor) else np.asarray(actual)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)
    return True


def data(*shape, seed=0, dtype="float32", low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


#: The report of second derivatives the conformance suite verified, at the end of the run.
_second_derivatives = second_derivative_summary("kittygrad-nn")
_compiled = compiled_summary("kittygrad-nn")


def pytest_terminal_summary(terminalreporter):
    _second_derivatives(terminalreporter)
    _compiled(terminalreporter)
