import pytest

import kittygrad_core as kitty
from kittygrad_core.testing import conformance_tests, saves_tests

test_conformance = conformance_tests(distribution="kittygrad-hardtanh")
test_saves = saves_tests(distribution="kittygrad-hardtanh")  # saved state matches backward's reads


def test_hardtanh_clamps_and_passes_gradients_inside():
    x = kitty.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    y = kitty.hardtanh(x)
    y.backward(kitty.ones(3))
    assert y.tolist() == [-1.0, 0.5, 1.0]
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


def test_hardtanh_refuses_bounds_in_the_wrong_order():  # as torch does, with its text
    with pytest.raises(RuntimeError, match=r"^hardtanh\(\): min_val cannot be greater than max_val"):
        kitty.hardtanh(kitty.ones(3), 0.5, -0.5)


def test_pyproject_declares_every_public_name():
    # `python -m kittygrad_core --provides kittygrad-hardtanh` prints the table; reinstall after editing.
    from pathlib import Path

    from kittygrad_core.testing import check_provides
    check_provides("kittygrad-hardtanh", Path(__file__).resolve().parents[1] / "pyproject.toml")
