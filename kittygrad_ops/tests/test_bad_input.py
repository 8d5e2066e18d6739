"""NumPy's and Python's errors inside ops come out typed and naming the op (found by the fuzzer)."""
import pytest

import kittygrad_core as kc


def test_forward_errors_are_retyped_naming_the_op_and_inputs():
    x = kc.ones(2, 3)
    with pytest.raises(TypeError, match=r"^sum\(\): .*\(input shapes \(2, 3\), dtypes float32\)"):
        kc.sum(x, None, 1 + 2j)  # keepdim of the wrong type reaches NumPy
    with pytest.raises(TypeError, match=r"^tril\(\): "):
        kc.tril(x, "abc")
    with pytest.raises(TypeError, match=r"^narrow\(\): "):
        x.narrow(0, 0.5, 1)


def test_deliberate_errors_pass_through_unchanged():
    with pytest.raises(IndexError, match=r"^Dimension out of range"):  # the original's text, torch's too
        kc.ones(3).flip(1)


def test_dims_that_are_not_ints_or_sequences():
    with pytest.raises(TypeError, match=r"flip\(\): .*float"):
        kc.ones(3).flip(1.0)
    with pytest.raises(TypeError, match=r"amax\(\): dim must be an int or a tuple of ints, got type"):
        kc.ones(3).amax(float)
    with pytest.raises(TypeError, match=r"expand\(\): sizes must be ints"):
        kc.ones(()).expand(kc.ones(2).numpy().astype(int))


def test_split_sizes_must_be_ints():
    with pytest.raises(TypeError, match="split_size_or_sections must be an int or a list of ints"):
        kc.ones(4).split(None)
    with pytest.raises(TypeError, match="split_size_or_sections"):
        kc.ones(4).split((None, 1))


def test_to_none_and_var_correction_none_follow_torch():
    x = kc.ones(2, dtype=kc.float16)
    assert x.to(None).dtype == kc.float16
    assert kc.var(kc.tensor([1.0, 3.0]), correction=None).item() == 2.0


def test_max_with_an_array_keepdim():
    with pytest.raises(TypeError, match="takes no keepdim"):
        kc.max(kc.ones(3), kc.ones(3), kc.ones(3).numpy())
