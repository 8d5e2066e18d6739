"""kittygrad-conv's tests run against the installed distribution: its entry point must have loaded it."""
from __future__ import annotations

import numpy as np
import pytest

import kittygrad_core as kitty
from kittygrad_core.testing import second_derivative_summary

try:
    import torch
except ImportError:  # a missing oracle must fail the run, never skip it
    raise ImportError("kittygrad-conv's tests compare with PyTorch, the test oracle, which is missing: install "
                      'the test extra, `pip install "kittygrad-core[testing]"` (a missing oracle fails '
                      "the run, it is never skipped)") from None


@pytest.fixture(autouse=True, scope="session")
def _conv_installed():
    assert "conv2d" in kitty.registry, "kittygrad-conv must be installed (its entry point loads it)"
    assert kitty.registry["conv2d"].distribution == "kittygrad-conv"


def pair(shape, dtype="float64", seed=0, requires_grad=True):
    """The same random data as a kittygrad tensor and a torch tensor."""
    data = np.random.default_rng(seed).uniform(-2.0, 2.0, size=shape).astype(dtype)
    return (kitty.tensor(data, requires_grad=requires_grad),
            torch.tensor(data, requires_grad=requires_grad))


def close(kitty_value, torch_value, rtol=1e-7, atol=1e-9):
    """kittygrad and torch agree on shape, dtype and values."""
    expected = torch_value.detach().numpy()
    actual = kitty_value.numpy()
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)
    return True


#: The report of second derivatives the conformance suite verified, at the end of the run.
pytest_terminal_summary = second_derivative_summary("kittygrad-conv")
