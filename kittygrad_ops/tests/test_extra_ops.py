"""Edges of the ops filed from the old extra.py against torch: scans, repeated indices, masks, diagonals."""
import numpy as np
import pytest
from conftest import close, pair, torch

import kittygrad_core as kitty


def backward_both(k_out, t_out, seed=1):
    g = np.random.default_rng(seed).uniform(-1, 1, k_out.shape).astype(k_out.dtype)
    (k_out * kitty.tensor(g)).sum().backward()
    (t_out * torch.tensor(g)).sum().backward()


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumprod_values_and_grads_match_torch(dim):
    k, t = pair((3, 4), low=0.5, high=2.0)
    k_out, t_out = kitty.cumprod(k, dim), torch.cumprod(t, dim)
    close(k_out, t_out)
    backward_both(k_out, t_out)
    close(k.grad, t.grad)


def test_cumsum_method_and_negative_values():
    k, t = pair((2, 3, 2))
    k_out, t_out = k.cumsum(1), t.cumsum(1)
    close(k_out, t_out)
    backward_both(k_out, t_out)
    close(k.grad, t.grad)


@pytest.mark.parametrize("form", [np.array, list, lambda v: kitty.tensor(v)])
def test_index_select_accumulates_repeated_indices(form):
    index = [2, 0, 2, 2]
    k, t = pair((3, 4))
    k_out = kitty.index_select(k, 0, form(index))
    t_out = torch.index_select(t, 0, torch.tensor(index))
    close(k_out, t_out)
    backward_both(k_out, t_out)
    close(k.grad, t.grad)
    assert k.grad.numpy()[2].any() and not k.grad.numpy()[1].any()


@pytest.mark.parametrize("form", [np.array, list, lambda v: kitty.tensor(v)])
def test_gather_accumulates_repeated_indices(form):
    index = [[1, 1, 1], [0, 2, 2]]
    k, t = pair((2, 3))
    k_out = k.gather(1, form(index))
    t_out = t.gather(1, torch.tensor(index))
    close(k_out, t_out)
    backward_both(k_out, t_out)
    close(k.grad, t.grad)


def test_index_errors_name_the_op():
    k = kitty.tensor(np.ones((2, 3)))
    with pytest.raises(IndexError, match="index_select"):
        kitty.index_select(k, 1, [3])
    with pytest.raises(IndexError, match="gather"):
        kitty.gather(k, 1, [[-1]])
    with pytest.raises(IndexError, match="index_select"):
        kitty.index_select(k, 0, [0.5])


def test_masked_fill_with_tensor_mask_broadcasts():
    k, t = pair((2, 3))
    mask = np.array([True, False, True])
    k_out = k.masked_fill(kitty.tensor(mask.tolist()), -5.0)  # a float tensor of 0s and 1s
    t_out = t.masked_fill(torch.tensor(mask), -5.0)
    close(k_out, t_out)
    backward_both(k_out, t_out)
    close(k.grad, t.grad)
    assert not k.grad.numpy()[:, 0].any()


def test_masked_fill_rejects_a_non_boolean_mask():
    k = kitty.tensor(np.ones(3))
    with pytest.raises(RuntimeError, match="masked_fill"):
        kitty.masked_fill(k, kitty.tensor([0.5, 1.0, 0.0]), 1.0)


def test_masked_fill_in_place_bumps_the_version():
    k = kitty.tensor(np.arange(4.0))
    version = k.version
    assert k.masked_fill_(k.numpy() > 1, 0.0) is k
    assert k.version == version + 1
    np.testing.assert_array_equal(k.numpy(), [0.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("diagonal", [-2, -1, 0, 1, 3])
def test_triangles_with_diagonal_offsets_batched(name, diagonal):
    k, t = pair((2, 3, 4))
    k_out, t_out = getattr(kitty, name)(k, diagonal), getattr(torch, name)(t, diagonal)
    close(k_out, t_out)
    backward_both(k_out, t_out)
    close(k.grad, t.grad)


def test_triangles_need_a_matrix():
    with pytest.raises(RuntimeError, match="tril"):
        kitty.tril(kitty.tensor([1.0, 2.0]))


def test_flip_is_a_copy_not_a_view():
    k = kitty.tensor(np.arange(3.0))
    out = k.flip(0)
    k.add_(1)
    np.testing.assert_array_equal(out.numpy(), [2.0, 1.0, 0.0])


def test_cumprod_gradient_is_exact_with_zeros():
    for data in ([1., 0., 2., 3.], [0., 0., 2.], [[2., 0., 1.], [1., 3., 0.]]):
        kx, tx = kitty.tensor(data, dtype="float64", requires_grad=True), \
            torch.tensor(data, dtype=torch.float64, requires_grad=True)
        g = np.random.default_rng(0).standard_normal(np.shape(data))
        kx.cumprod(-1).backward(kitty.tensor(g))
        tx.cumprod(-1).backward(torch.tensor(g))
        assert close(kx.grad, tx.grad)
