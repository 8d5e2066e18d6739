"""Bad input to core gets a typed error naming what is wrong (found by kittygrad_core.testing.fuzz)."""
import numpy as np
import pytest

import kittygrad_core as kc


def test_size_of_a_dim_out_of_range_or_not_an_int():
    x = kc.ones(3)
    with pytest.raises(IndexError,
                       match=r"Dimension out of range \(expected to be in range of \[-1, 0\], but got 5\)"):
        x.size(5)
    with pytest.raises(TypeError, match="dim must be an int"):
        x.size(kc.ones(()))
    assert x.size(-1) == 3


@pytest.mark.parametrize("compare", ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"])
def test_comparison_of_shapes_that_do_not_broadcast(compare):
    with pytest.raises(RuntimeError, match=r"\[3\] must match the size of tensor b \[4\]"):
        getattr(kc.ones(3), compare)(kc.ones(4))
    with pytest.raises(TypeError, match="cannot compare a Tensor"):
        getattr(kc.ones(3), compare)(["a", 1])


def test_requires_grad_flags_must_be_bools():
    for make in (lambda: kc.ones(2, requires_grad=np.ones(3)), lambda: kc.tensor(1.0, requires_grad="x"),
                 lambda: kc.ones(2).requires_grad_(np.ones(2))):
        with pytest.raises(TypeError, match="requires_grad must be a bool"):
            make()
    assert not kc.ones(2, requires_grad=None).requires_grad  # torch reads None as False


def test_arange_and_full_check_their_numbers():
    with pytest.raises(TypeError, match="arange\\(\\): end must be a number, not str"):
        kc.arange(0.5, "x")
    with pytest.raises(RuntimeError, match="must be finite"):
        kc.arange(float("nan"))
    with pytest.raises(TypeError, match="fill_value must be a number, not tuple"):
        kc.full((2, 3), (0, 1))


def test_a_dtype_must_be_a_dtype():
    with pytest.raises(TypeError, match="is not understood"):
        kc.ones(2, dtype=kc.ones(1))  # np.dtype would read the tensor's dtype attribute


def test_eye_names_a_bad_size():
    with pytest.raises(TypeError, match="eye\\(\\): argument 'n' must be an int, not list"):
        kc.eye([])
    with pytest.raises(TypeError, match="argument 'm' must be an int, not float"):
        kc.eye(2, 2.5)
    assert kc.eye(2, 3).shape == (2, 3)
