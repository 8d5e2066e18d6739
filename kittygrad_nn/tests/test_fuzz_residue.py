"""Differences from torch the API fuzzer found in kittygrad-nn's ops (issue 10), one test each."""
import numpy as np
import pytest
import torch

import kittygrad_core as kc


# torch's own rule depends on its kernel ((3, 1) and (2, 1, 1) fail its flattening path); these it takes
@pytest.mark.parametrize("bias_shape", [(4,), (3, 4), (1, 4), (1,), (), (2, 1, 4), (2, 3, 1), (1, 1)])
def test_linear_takes_a_bias_that_expands_to_the_output_as_torch(bias_shape):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 3)), rng.standard_normal((4, 3)), rng.standard_normal(bias_shape)
    g = rng.standard_normal((2, 3, 4))
    kt = [kc.tensor(a, dtype=np.float64, requires_grad=True) for a in (x, w, b)]
    tt = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = kc.linear(*kt)
    expected = torch.nn.functional.linear(*tt)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy())
    out.backward(kc.tensor(g))
    expected.backward(torch.tensor(g))
    for k, t in zip(kt, tt):
        assert k.grad.shape == tuple(t.grad.shape)
        np.testing.assert_allclose(k.grad.numpy(), t.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("bias_shape", [(4, 1), (3,), (2, 2, 3, 4)])
def test_linear_refuses_a_bias_that_does_not_expand_to_the_output(bias_shape):
    with pytest.raises(RuntimeError):
        torch.nn.functional.linear(torch.ones(2, 3, 3), torch.ones(4, 3), torch.ones(bias_shape))
    with pytest.raises(RuntimeError, match=r"^linear\(\): bias of shape .* output's shape \(2, 3, 4\)"):
        kc.linear(kc.ones(2, 3, 3), kc.ones(4, 3), kc.ones(*bias_shape))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(0,), (2, 0), (2, 0, 3), (0, 3)])
def test_cross_entropy_on_empty_probabilities_follows_torch(shape, reduction):
    expected = torch.nn.functional.cross_entropy(torch.ones(shape), torch.ones(shape), reduction=reduction)
    x = kc.ones(*shape, requires_grad=True)
    got = kc.cross_entropy(x, kc.ones(*shape), reduction=reduction)
    assert got.shape == tuple(expected.shape)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())  # nan for the mean, as torch
    got.sum().backward()
    assert x.grad.shape == shape


def test_cross_entropy_promotes_probabilities_with_the_weight_as_torch():
    rng = np.random.default_rng(1)
    x, p, w = rng.standard_normal((2, 3)), rng.uniform(size=(2, 3)), rng.uniform(size=3)
    for wdtype, tdtype in ((np.float64, torch.float64), (np.float16, torch.float16)):
        expected = torch.nn.functional.cross_entropy(
            torch.tensor(x, dtype=torch.float32), torch.tensor(p, dtype=torch.float32),
            weight=torch.tensor(w, dtype=tdtype))
        got = kc.cross_entropy(kc.tensor(x, dtype=np.float32), kc.tensor(p, dtype=np.float32),
                               weight=kc.tensor(w, dtype=wdtype))
        assert str(expected.dtype) == f"torch.{got.dtype}"
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("shapes", [((2, 0), (3,), (0,)), ((0, 3), (5,), (3,)), ((0,), (3,), (3,))])
def test_batch_norm_returns_an_empty_input_unchecked_as_torch(shapes, training):
    input_shape, weight_shape, stat_shape = shapes
    expected = torch.batch_norm(torch.ones(input_shape), torch.ones(weight_shape), None,
                                torch.zeros(stat_shape), torch.ones(stat_shape), training, 0.1, 1e-5, True)
    running_mean = kc.zeros(*stat_shape)
    x = kc.ones(*input_shape, requires_grad=True)
    got = kc.batch_norm(x, kc.ones(*weight_shape), None, running_mean, kc.ones(*stat_shape), training, 0.1, 1e-5)
    assert got.shape == tuple(expected.shape) and got.dtype == np.float32
    got.sum().backward()
    assert x.grad.shape == input_shape
    assert not running_mean.numpy().any()


@pytest.mark.parametrize("call", [
    lambda m, x, w: m.binary_cross_entropy_with_logits(x, x, pos_weight=w),
    lambda m, x, w: m.binary_cross_entropy_with_logits(x, x, w),
    lambda m, x, w: getattr(m, "nn", m).functional.binary_cross_entropy(x.sigmoid(), x.sigmoid(), w)
    if m is torch else m.binary_cross_entropy(x.sigmoid(), x.sigmoid(), w)])
@pytest.mark.parametrize("weight", [(0.0, 1.0), [1.0, 2.0, 3.0]])
def test_binary_loss_weights_given_as_sequences_are_refused_as_in_torch(call, weight):
    with pytest.raises((TypeError, AttributeError)):  # torch's binary_cross_entropy asks the list its size
        call(torch, torch.zeros(2, 2, 3), weight)
    with pytest.raises(TypeError, match=r"^binary_cross_entropy.*\(\): argument '(pos_)?weight' must be a Tensor, not"):
        call(kc, kc.zeros(2, 2, 3), weight)


def test_batch_norm_of_an_empty_input_scales_by_the_first_weight_as_torch():
    with pytest.raises(RuntimeError):  # torch multiplies by weight[0]: it must broadcast with the input
        torch.batch_norm(torch.ones(0), torch.ones(2, 2), None, None, None, False, 0.1, 1e-5, False)
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        kc.batch_norm(kc.ones(0), kc.ones(2, 2), None, None, None, False, 0.1, 1e-5)
    with pytest.raises(IndexError):
        kc.batch_norm(kc.ones(2, 0), kc.ones(0), None, None, None, False, 0.1, 1e-5)
    got = kc.batch_norm(kc.ones(2, 0), kc.ones(3, dtype=np.float16), kc.ones(3, dtype=np.float64), None, None,
                        False, 0.1, 1e-5)
    assert got.shape == (2, 0) and got.dtype == np.float32  # 0-d factors do not promote, as in torch


@pytest.mark.parametrize("shape", [(0,), (2, 0)])
def test_cross_entropy_label_smoothing_over_no_classes_is_zero_as_torch(shape):
    expected = torch.nn.functional.cross_entropy(torch.ones(shape), torch.ones(shape), reduction="none",
                                                 label_smoothing=0.1)
    got = kc.cross_entropy(kc.ones(*shape), kc.ones(*shape), reduction="none", label_smoothing=0.1)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


@pytest.mark.parametrize("weight_shape, index_shape", [((2, 0), (2, 0)), ((3, 4), (0,)), ((2, 0), (3,))])
def test_embedding_backward_with_empty_rows_or_columns(weight_shape, index_shape):
    w = kc.ones(*weight_shape, requires_grad=True)
    out = kc.embedding(w, np.zeros(index_shape, dtype=np.int64))
    out.backward(kc.ones(*out.shape))
    tw = torch.ones(weight_shape, requires_grad=True)
    expected = torch.embedding(tw, torch.zeros(index_shape, dtype=torch.long))
    expected.backward(torch.ones(expected.shape))
    assert out.shape == tuple(expected.shape)
    np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())


def test_batch_norm_of_an_empty_input_reads_numpy_weights_as_tensors():
    got = kc.batch_norm(kc.ones(2, 0), np.ones(4), np.ones(3), None, None, False, 0.5, 1e-5)
    assert got.shape == (2, 0)
    with pytest.raises(TypeError, match="complex"):  # tensors are float-only
        kc.batch_norm(kc.ones(2, 0), None, np.ones(3, np.complex64), None, None, False, 0.5, 1e-5)
