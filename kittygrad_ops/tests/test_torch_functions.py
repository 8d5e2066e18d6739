"""Functions a PyTorch user reaches for first: einsum (with its gradient), isclose/allclose/equal and
Tensor.to, each checked against torch."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import close, torch

import kittygrad_core as kitty

EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),  # implicit output
    ("ii->i", [(3, 3)]),  # diagonal
    ("ii", [(3, 3)]),  # trace
    ("bii->bi", [(2, 3, 3)]),
    ("iij,j->i", [(3, 3, 2), (2,)]),
    ("ij->", [(2, 3)]),
    ("ijk->j", [(2, 3, 4)]),  # letters summed within one operand only
    ("i,j->ij", [(2,), (3,)]),
    ("i,i->i", [(1,), (3,)]),  # a size-1 dim broadcast against another operand
    ("...ij->...ji", [(2, 3, 4)]),
    ("...ij,...jk->...ik", [(1, 2, 2, 3), (4, 1, 3, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("b i j , b j k -> b i k", [(2, 2, 3), (2, 3, 1)]),  # spaces are ignored
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("equation, shapes", EINSUM)
def test_einsum_values_and_gradients_match_torch(equation, shapes, dtype):
    rng = np.random.default_rng(11)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ks = [kitty.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    k_out, t_out = kitty.einsum(equation, *ks), torch.einsum(equation, *ts)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    close(k_out, t_out, **tol)
    upstream = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    k_out.backward(kitty.tensor(upstream))
    t_out.backward(torch.tensor(upstream))
    for k, t in zip(ks, ts):
        close(k.grad, t.grad, **tol)


def test_einsum_takes_a_list_and_checks_its_equation():
    a, b = kitty.ones(2, 3), kitty.ones(3)
    assert kitty.einsum("ij,j->i", [a, b]).tolist() == [3.0, 3.0]
    with pytest.raises(RuntimeError, match="names 2 operands, but 1 were given"):
        kitty.einsum("ij,j->i", a)
    with pytest.raises(RuntimeError, match=r"does not match an operand of shape \(3,\)"):
        kitty.einsum("ij,jk->ik", a, b)
    with pytest.raises(RuntimeError, match="cannot be applied"):
        kitty.einsum("ij,j->i", a, kitty.ones(4))
    with pytest.raises(TypeError, match="operand 1 must be a Tensor"):
        kitty.einsum("ij,j->i", a, [1.0, 2.0, 3.0])


def test_einsum_promotes_and_returns_gradients_in_each_input_dtype():
    a = kitty.ones(2, 3, dtype=kitty.float32, requires_grad=True)
    b = kitty.ones(3, dtype=kitty.float64, requires_grad=True)
    out = kitty.einsum("ij,j->i", a, b)
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    assert b.grad.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("rtol, atol, equal_nan", [(1e-5, 1e-8, False), (1e-2, 0.3, True)])
def test_isclose_allclose_equal_match_torch(rtol, atol, equal_nan):
    a = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    b = np.array([1.0, 2.2, np.nan, 4.0 + 1e-9, 9.0])
    ka, kb, ta, tb = kitty.tensor(a), kitty.tensor(b), torch.tensor(a), torch.tensor(b)
    options = dict(rtol=rtol, atol=atol, equal_nan=equal_nan)
    np.testing.assert_array_equal(kitty.isclose(ka, kb, **options), torch.isclose(ta, tb, **options).numpy())
    assert kitty.allclose(ka, kb, **options) is torch.allclose(ta, tb, **options)
    assert ka.allclose(ka, equal_nan=True) is True and ka.isclose(kb).dtype == bool
    assert kitty.allclose(ka[:2], 1.0, atol=2.0) is True  # a number broadcasts
    assert kitty.equal(ka[:2], kitty.tensor([1.0, 2.0])) is True
    assert kb.equal(kb) is False  # nan != nan, as torch.equal
    assert kitty.equal(kitty.ones(2), kitty.ones(1)) is False  # no broadcasting
    with pytest.raises(TypeError, match="isclose"):
        kitty.isclose(ka, "1")


def test_to_accepts_torch_forms_and_returns_the_tensor_when_nothing_changes():
    x = kitty.ones(2, requires_grad=True)
    assert x.to("cpu") is x and x.to(kitty.float32) is x and x.to(x) is x and x.cpu() is x
    assert x.to(device="cpu", dtype="float32") is x
    copy = x.to("cpu", copy=True)
    assert copy is not x and not np.shares_memory(copy.numpy(), x.numpy())
    y = x.to("cpu", kitty.float64)
    assert y.dtype == np.float64 and repr(y.grad_fn) .startswith("<ToCopyBackward")
    (y * 3).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]
    assert x.to(kitty.ones(1, dtype=kitty.float16)).dtype == np.float16
    assert x.device == "cpu" and str(x.device) == "cpu" and x.device == kitty.device("cpu")
    assert not x.is_cuda
    for call in (lambda: x.to("cuda"), lambda: x.to(device="cuda:0"), lambda: x.cuda(),
                 lambda: kitty.device("mps")):
        with pytest.raises(RuntimeError, match="single device, 'cpu'"):
            call()
