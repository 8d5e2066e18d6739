"""layer_norm and batch_norm refuse arguments of the wrong type or size clearly (found by the fuzzer)."""
import pytest

import kittygrad_core as kc


def test_layer_norm_arguments():
    with pytest.raises(TypeError, match=r"layer_norm\(\): argument 'input' must be Tensor, not str"):
        kc.layer_norm("x", 3)
    with pytest.raises(TypeError, match="argument 'normalized_shape' must be an int or a sequence of ints"):
        kc.layer_norm(kc.ones(2, 3), None)


def test_batch_norm_arguments():
    x = kc.ones(4, 3)
    with pytest.raises(TypeError, match=r"batch_norm\(\): argument 'input' must be Tensor"):
        kc.batch_norm("x", None, None, None, None, True, 0.1, 1e-5)
    with pytest.raises(RuntimeError, match="running_mean should contain 3 elements not 4"):
        kc.batch_norm(x, None, None, kc.zeros(4), kc.ones(3), False, 0.1, 1e-5)
