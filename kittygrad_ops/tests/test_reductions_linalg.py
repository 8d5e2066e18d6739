"""prod, amax/amin, max/min, argmax/argmin, logsumexp, norm, mm, mv, bmm, outer against torch."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import backward_both, close, pair, torch

import kittygrad_core as kitty

DTYPES = ["float32", "float64"]
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


def tensors(data, dtype="float64"):
    data = np.asarray(data, dtype=dtype)
    return kitty.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)


def check(kitty_fn, torch_fn, inputs, dtype="float64", seed=1):
    """Forward values and the gradients of every input agree with torch, for a random upstream grad."""
    k_out, t_out = kitty_fn(*(k for k, _ in inputs)), torch_fn(*(t for _, t in inputs))
    close(k_out, t_out, **TOL[dtype])
    upstream = np.random.default_rng(seed).uniform(0.5, 1.5, t_out.shape).astype(dtype)
    k_out.backward(kitty.tensor(upstream))
    t_out.backward(torch.tensor(upstream))
    for k, t in inputs:
        if t.grad is None:  # e.g. norm with p=0
            assert k.grad is None
        else:
            close(k.grad, t.grad, **TOL[dtype])


# ---------------------------------------------------------------- prod


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim, keepdim", [((), None, False), ((), 0, True), ((5,), None, False),
                                                 ((3, 4), None, False), ((3, 4), 1, False),
                                                 ((3, 4), -2, True), ((2, 3, 4), 1, False)])
def test_prod(dtype, shape, dim, keepdim):
    args = () if dim is None else (dim, keepdim)
    check(lambda x: kitty.prod(x, *args), lambda x: torch.prod(x, *args), [pair(shape, dtype)], dtype)


@pytest.mark.parametrize("dim", [None, 0, 1])
@pytest.mark.parametrize("zeros", [[(0, 1)], [(0, 1), (2, 2)], [(0, 0), (0, 2), (1, 1), (2, 1)]])
def test_prod_with_zeros(dim, zeros):
    data = np.random.default_rng(3).uniform(0.5, 2.0, (3, 4))
    for index in zeros:
        data[index] = 0.0
    args = () if dim is None else (dim,)
    check(lambda x: kitty.prod(x, *args), lambda x: torch.prod(x, *args), [tensors(data)])


def test_prod_takes_one_int_dim():
    x = kitty.ones(2, 3)
    with pytest.raises(TypeError, match="prod"):
        kitty.prod(x, (0, 1))
    with pytest.raises(IndexError, match="Dimension out of range"):
        kitty.prod(x, 2)
    assert kitty.prod(kitty.ones(0, 3)).item() == 1.0


# ---------------------------------------------------------------- amax, amin, max, min


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("shape, dim, keepdim", [((), (), False), ((5,), (), False), ((3, 4), 0, False),
                                                 ((3, 4), (0, 1), True), ((2, 3, 4), (0, 2), False),
                                                 ((2, 3, 4), -1, True)])
def test_amax_amin(dtype, name, shape, dim, keepdim):
    check(lambda x: getattr(kitty, name)(x, dim, keepdim), lambda x: getattr(torch, name)(x, dim, keepdim),
          [pair(shape, dtype)], dtype)


TIES = [[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 3.0, 3.0], [-1.0, -1.0, -1.0, -1.0]]


@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("dim", [(), 0, 1, (0, 1)])
def test_amax_ties_split_evenly(name, dim):
    data = np.array(TIES) * (1 if name == "amax" else -1)
    check(lambda x: getattr(kitty, name)(x, dim), lambda x: getattr(torch, name)(x, dim), [tensors(data)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4)])
def test_max_full(dtype, name, shape):
    check(lambda x: getattr(kitty, name)(x), lambda x: getattr(torch, name)(x), [pair(shape, dtype)], dtype)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_full_ties_split_evenly(name):
    data = np.array(TIES) * (1 if name == "max" else -1)
    check(lambda x: getattr(kitty, name)(x), lambda x: getattr(torch, name)(x), [tensors(data)])
    check(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), [tensors(data)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("shape, dim, keepdim", [((), 0, False), ((), -1, True), ((5,), 0, False),
                                                 ((3, 4), 1, True), ((3, 4), -2, False),
                                                 ((2, 3, 4), 1, False)])
def test_max_dim(dtype, name, shape, dim, keepdim):
    k, t = pair(shape, dtype)
    k_out, t_out = getattr(kitty, name)(k, dim, keepdim), getattr(torch, name)(t, dim, keepdim)
    assert type(k_out).__name__ == name and k_out._fields == ("values", "indices")
    values, indices = k_out
    assert isinstance(indices, np.ndarray) and indices.dtype == np.int64
    close(indices, t_out.indices)
    check(lambda x: getattr(kitty, name)(x, dim, keepdim).values,
          lambda x: getattr(torch, name)(x, dim, keepdim).values, [(k, t)], dtype)
    assert "ValuesBackward" in repr(values.grad_fn)


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim, keepdim", [(0, False), (1, False), (1, True)])
def test_max_dim_ties_gradient_to_returned_index(name, dim, keepdim):
    data = np.array(TIES) * (1 if name == "max" else -1)
    k, t = tensors(data)
    k_out, t_out = getattr(k, name)(dim=dim, keepdim=keepdim), getattr(t, name)(dim=dim, keepdim=keepdim)
    close(k_out.indices, t_out.indices)
    check(lambda x: getattr(x, name)(dim, keepdim)[0], lambda x: getattr(x, name)(dim, keepdim)[0],
          [(k, t)])


def test_max_with_other_is_maximum():
    (a, ta), (b, tb) = pair((3,)), pair((3,), seed=1)
    close(kitty.max(a, b), torch.max(ta, tb))
    close(kitty.min(a, b), torch.min(ta, tb))


def test_max_errors():
    empty = kitty.ones(0, 3)
    with pytest.raises(RuntimeError, match="max"):
        kitty.max(empty)
    with pytest.raises(IndexError, match="max"):
        kitty.max(empty, 0)
    assert kitty.max(empty, 1).values.shape == (0,)
    with pytest.raises(RuntimeError, match="amax"):
        kitty.amax(empty)
    with pytest.raises(IndexError, match="amin"):
        kitty.amin(empty, 0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        kitty.max(kitty.ones(2, 3), 2)
    with pytest.raises(TypeError, match="max"):
        kitty.max(kitty.ones(2, 3), (0, 1))
    with pytest.raises(TypeError, match="keepdim"):
        kitty.max(kitty.ones(2, 3), keepdim=True)
    with pytest.raises(RuntimeError, match="Duplicate dims are not allowed."):
        kitty.amax(kitty.ones(2, 3), (0, -2))


def test_max_dim_allows_inplace_on_input_afterwards():
    """As torch, max(dim) saves only the indices."""
    x = kitty.tensor([[1.0, 5.0], [4.0, 2.0]], requires_grad=True)
    y = x * 1.0
    values = kitty.max(y, 1).values
    with kitty.no_grad():
        y.mul_(2.0)
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0], [1.0, 0.0]])


# ---------------------------------------------------------------- argmax, argmin


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("shape, dim, keepdim", [((), None, False), ((), 0, True), ((5,), None, True),
                                                 ((3, 4), None, False), ((3, 4), None, True),
                                                 ((3, 4), 1, False), ((2, 3, 4), -2, True)])
def test_argmax(name, shape, dim, keepdim):
    k, t = pair(shape, requires_grad=False)
    out = getattr(kitty, name)(k, dim, keepdim)
    assert isinstance(out, np.ndarray) and out.dtype == np.int64
    close(out, getattr(torch, name)(t, dim, keepdim))
    close(getattr(k, name)(dim=dim, keepdim=keepdim), getattr(t, name)(dim=dim, keepdim=keepdim))


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_argmax_ties_first_occurrence(name, dim):
    data = np.array(TIES) * (1 if name == "argmax" else -1)
    k, t = tensors(data)
    close(getattr(kitty, name)(k, dim), getattr(torch, name)(t, dim))


def test_argmax_errors():
    with pytest.raises(IndexError, match="argmax"):
        kitty.argmax(kitty.ones(0, 3))
    with pytest.raises(IndexError, match="argmin"):
        kitty.argmin(kitty.ones(0, 3), 0)
    with pytest.raises(IndexError, match=r"Dimension out of range .*\[-1, 0\], but got 1\)"):
        kitty.argmax(kitty.ones(2), 1)
    assert kitty.argmax(kitty.ones(0, 3), 1).shape == (0,)


# ---------------------------------------------------------------- logsumexp


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, dim, keepdim", [((), 0, False), ((5,), 0, True), ((3, 4), 1, False),
                                                 ((3, 4), (0, 1), False), ((2, 3, 4), (0, 2), True),
                                                 ((0, 3), 0, False)])
def test_logsumexp(dtype, shape, dim, keepdim):
    check(lambda x: kitty.logsumexp(x, dim, keepdim), lambda x: torch.logsumexp(x, dim, keepdim),
          [pair(shape, dtype)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("data", [[1000.0, 1000.0, 999.0], [-1000.0, -1001.0, -1000.5],
                                  [-math.inf, 0.0, 1.0], [1000.0, -1000.0, -math.inf]])
def test_logsumexp_stable(dtype, data):
    check(lambda x: kitty.logsumexp(x, 0), lambda x: torch.logsumexp(x, 0), [tensors(data, dtype)], dtype)


@pytest.mark.parametrize("data", [[-math.inf, -math.inf], [1.0, math.inf]])
def test_logsumexp_infinite(data):
    """All -inf gives -inf (nan gradients) and +inf gives inf, as torch."""
    (k, t) = tensors(data)
    k_out, t_out = kitty.logsumexp(k, 0), torch.logsumexp(t, 0)
    close(k_out, t_out)
    k_out.backward()
    t_out.backward()
    np.testing.assert_array_equal(k.grad.numpy(), t.grad.numpy())


# ---------------------------------------------------------------- norm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", ["fro", 2, 1, math.inf, -math.inf, 0, 0.5, 3, 1.5, -2])
@pytest.mark.parametrize("shape, dim, keepdim", [((), None, False), ((5,), None, False), ((3, 4), None, True),
                                                 ((3, 4), 1, False), ((2, 3, 4), (0, 2), False),
                                                 ((2, 3, 4), -1, True)])
def test_norm(dtype, p, shape, dim, keepdim):
    check(lambda x: kitty.norm(x, p, dim, keepdim), lambda x: torch.norm(x, p, dim, keepdim),
          [pair(shape, dtype)], dtype)


@pytest.mark.parametrize("p", ["fro", 2, 1, math.inf, 3, 1.5])
def test_norm_at_zero(p):
    """The gradient at the zero vector is 0, as torch (2-norm: masked; 1-norm: sign(0) = 0)."""
    check(lambda x: kitty.norm(x, p), lambda x: torch.norm(x, p), [tensors(np.zeros(4))])
    check(lambda x: x.norm(p, 1), lambda x: x.norm(p, 1), [tensors([[0.0, 0.0], [3.0, -4.0]])])


def test_norm_ties_and_zeros_in_vector():
    data = [[3.0, -3.0, 1.0, 0.0]]
    for p in (math.inf, -math.inf, 0.5, 2, 1):
        check(lambda x, p=p: kitty.norm(x, p, 1), lambda x, p=p: torch.norm(x, p, 1), [tensors(data)])


def test_norm_empty_and_errors():
    close(kitty.norm(kitty.ones(0, 3)), torch.norm(torch.ones(0, 3)))
    with pytest.raises(RuntimeError, match="norm"):
        kitty.norm(kitty.ones(0, 3), math.inf)
    with pytest.raises(RuntimeError, match="fro"):
        kitty.norm(kitty.ones(2, 2, 2), "fro", (0, 1, 2))
    with pytest.raises(RuntimeError, match="nuc"):
        kitty.norm(kitty.ones(2, 2), "nuc")
    with pytest.raises(IndexError, match=r"Dimension out of range .*but got 3\)"):
        kitty.norm(kitty.ones(2, 2), 2, 3)


# ---------------------------------------------------------------- mm, mv, bmm, outer

LINALG = [("mm", (3, 4), (4, 5)), ("mm", (1, 1), (1, 3)), ("mm", (0, 2), (2, 3)), ("mm", (2, 0), (0, 3)),
          ("mv", (3, 4), (4,)), ("mv", (2, 0), (0,)), ("bmm", (2, 3, 4), (2, 4, 5)),
          ("bmm", (1, 2, 2), (1, 2, 1)), ("bmm", (0, 2, 3), (0, 3, 1)),
          ("outer", (3,), (4,)), ("outer", (0,), (2,)), ("ger", (2,), (1,))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, a, b", LINALG)
def test_linalg(dtype, name, a, b):
    inputs = [pair(a, dtype), pair(b, dtype, seed=1)]
    check(getattr(kitty, name), getattr(torch, name), inputs, dtype)
    check(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y),
          [pair(a, dtype), pair(b, dtype, seed=1)], dtype)


@pytest.mark.parametrize("name, a, b", LINALG[:1] + LINALG[4:5] + LINALG[6:7] + LINALG[9:10])
def test_linalg_grad_of_one_input_only(name, a, b):
    (k, t), (k2, t2) = pair(a), pair(b, requires_grad=False)
    check(lambda x: getattr(kitty, name)(x, k2), lambda x: getattr(torch, name)(x, t2), [(k, t)])
    (k, t), (k2, t2) = pair(a, requires_grad=False), pair(b)
    check(lambda y: getattr(kitty, name)(k, y), lambda y: getattr(torch, name)(t, y), [(k2, t2)])


@pytest.mark.parametrize("name, a, b, message", [  # the original kittygrad's texts
    ("mm", (3,), (3, 2), "2D tensors expected, but got 1D and 2D tensors."),
    ("mm", (2, 3, 4), (4, 2), "2D tensors expected, but got 3D and 2D tensors."),
    ("mm", (2, 3), (4, 5), "input and mat2 shapes cannot be multiplied (2x3 and 4x5)."),
    ("mv", (2, 3), (3, 1), "vec must be a vector, not a 2D tensor."),
    ("mv", (3,), (3,), "input must be a matrix, not a 1D tensor."),
    ("mv", (2, 3), (4,), "input and vec shapes cannot be multiplied (2x3 and 4)."),
    ("dot", (2, 2), (2,), "1D tensors expected, but got 2D and 1D tensors."),
    ("dot", (3,), (2,), "Inconsistent tensor size, expected tensor input and other to have the same number "
                        "of elements, but got 3 and 2 elements respectively."),
    ("bmm", (2, 3), (2, 3, 4), "Batch dimensions of both tensors must be equal, but got () and (2,) respectively."),
    ("bmm", (2, 3), (3, 4), "The batch matrix-matrix product requires the tensors to have at least 3 "
                            "dimensions each."),
    ("bmm", (2, 2, 3), (2, 4, 4), "input and mat2 matrix shapes cannot be multiplied (2x3 and 4x4)."),
    ("matmul", (), (3,), "Input tensors must not be scalars."),
    ("matmul", (2,), (3,), "Inconsistent tensor size, expected tensor input and other to have the same "
                           "number of elements, but got 2 and 3 elements respectively."),
    ("matmul", (2,), (3, 4), "input and mat2 shapes cannot be multiplied (1x2 and 3x4)."),
    ("matmul", (4, 2), (3,), "input and vec shapes cannot be multiplied (4x2 and 3)."),
    ("matmul", (5, 4, 2), (3,), "input and mat2 matrix shapes cannot be multiplied (4x2 and 3x1)."),
    ("outer", (2, 3), (4,), "outer(): expected 1-D tensors, but got 2-D and 1-D tensors"),
    ("outer", (2,), (), "outer(): expected 1-D tensors, but got 1-D and 0-D tensors")])
def test_linalg_shape_errors(name, a, b, message):
    with pytest.raises(RuntimeError) as error:
        getattr(kitty, name)(kitty.ones(*a), kitty.ones(*b))
    assert str(error.value) == message


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a, b", [((2, 3, 2, 4), (2, 3, 4, 5)), ((1, 2, 0, 3), (1, 2, 3, 2))])
def test_bmm_takes_any_number_of_equal_batch_dims(a, b, dtype):
    """The original kittygrad's bmm: batch dims (one or more) must be equal; torch's matmul is the
    reference beyond 3-D."""
    rng = np.random.default_rng(3)
    k1, t1 = tensors(rng.standard_normal(a), dtype)
    k2, t2 = tensors(rng.standard_normal(b), dtype)
    check(kitty.bmm, torch.matmul, [(k1, t1), (k2, t2)], dtype)


@pytest.mark.parametrize("name, a, b", [("mm", (2, 3), (3, 2)), ("mv", (2, 3), (3,)), ("dot", (3,), (3,)),
                                        ("bmm", (2, 2, 3), (2, 3, 2)), ("outer", (2,), (3,)),
                                        ("matmul", (4,), (2, 4, 3)), ("matmul", (2, 1, 2, 4), (3, 4, 2))])
@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float64", "float16"), ("float16", "float32")])
def test_products_promote_mixed_dtypes(name, a, b, dtypes):
    """The original kittygrad promotes mixed float dtypes in products (torch refuses them): the result
    has the wider dtype and equals torch's product of the promoted inputs; each gradient keeps its
    input's dtype."""
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal(a).astype(dtypes[0]), rng.standard_normal(b).astype(dtypes[1])
    wide = np.result_type(x, y)
    kx, ky = kitty.tensor(x, requires_grad=True), kitty.tensor(y, requires_grad=True)
    tx, ty = (torch.tensor(v.astype(wide), requires_grad=True) for v in (x, y))
    k_out, t_out = getattr(kitty, name)(kx, ky), getattr(torch, name)(tx, ty)
    assert k_out.dtype == wide
    tol = dict(rtol=1e-2, atol=1e-2) if "float16" in dtypes else dict(rtol=1e-5, atol=1e-6)
    close(k_out, t_out, **tol)
    k_out.sum().backward()
    t_out.sum().backward()
    assert kx.grad.dtype == x.dtype and ky.grad.dtype == y.dtype
    close(kx.grad, tx.grad.to(getattr(torch, dtypes[0])), **tol)
    close(ky.grad, ty.grad.to(getattr(torch, dtypes[1])), **tol)


# ---------------------------------------------------------------- records


NAMES = ["prod", "amax", "amin", "max_values", "min_values", "max", "min", "argmax", "argmin", "logsumexp",
         "norm", "mm", "mv", "bmm", "outer"]


@pytest.mark.parametrize("name", NAMES)
def test_records_have_conformance(name):
    op = kitty.registry[name]
    assert op.conformance is not None and op.distribution == "kittygrad-ops"


@pytest.mark.parametrize("name", ["prod", "amax", "logsumexp", "norm"])
def test_inplace_on_saved_input_is_detected(name):
    x = kitty.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 1.0
    out = getattr(kitty, name)(y, dim=1) if name != "norm" else kitty.norm(y)
    with kitty.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_internal_ops_bind_nothing():
    assert not hasattr(kitty, "max_values") and not hasattr(kitty.Tensor, "min_values")


# ----------------------------------------------------------------------------- spread without overflow


@pytest.mark.parametrize("data", [[-1e30, 0.0, 1.0], [1e20, -1e20, 3.0, 0.0], [[2e19, -2e19] + [0.0] * 8]])
@pytest.mark.parametrize("op", ["std", "var"])
def test_std_and_var_do_not_overflow_where_torch_does_not(op, data):
    # squaring 1e30 overflows float32; the spread itself does not (std of the first row is 5.8e29)
    x, t = kitty.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, u = getattr(x, op)(dim=-1), getattr(t, op)(dim=-1)
    close(y, u, rtol=1e-5)
    g = np.linspace(0.5, 1.5, y.numpy().size).reshape(y.shape).astype(np.float32)
    y.backward(kitty.tensor(g))
    u.backward(torch.tensor(g))
    close(x.grad, t.grad, rtol=1e-5)


def test_std_of_constant_values_is_zero_with_zero_gradient():
    x, t = kitty.tensor([[1e30, 1e30], [0.0, 0.0]], requires_grad=True), torch.tensor(
        [[1e30, 1e30], [0.0, 0.0]], requires_grad=True)
    y, u = x.std(dim=1), t.std(dim=1)
    close(y, u)
    y.sum().backward()
    u.sum().backward()
    close(x.grad, t.grad)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_to_none_keeps_the_dtype(dtype):
    # torch: Tensor.to(None) changes nothing (it used to give float64 through np.dtype(None))
    x = kitty.ones(2, dtype=dtype, requires_grad=True)
    y = x.to(None)
    assert str(torch.ones(2, dtype=getattr(torch, dtype)).to(None).dtype) == f"torch.{dtype}"
    assert y.dtype == x.dtype
    y.sum().backward()
    assert x.grad.dtype == x.dtype


def test_einsum_gradient_of_a_0d_operand_is_0d():
    # np.ascontiguousarray turned it into shape (1,), which the engine refused
    a, ta = pair(())
    b, tb = pair((3,), seed=1)
    backward_both(kitty.einsum(",i->i", a, b), torch.einsum(",i->i", ta, tb))
    close(a.grad, ta.grad)
    close(b.grad, tb.grad)


SPECIALS = [float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 1.5, -2.0, 0.25]


def _same(actual, expected, signs=False):
    """nan at torch's places, the other values close (infinities equal); with ``signs``, the zeros'
    signs equal too (not for values: the extremum of -0.0 and 0.0 is whichever SIMD lane torch uses)."""
    expected = expected.detach().numpy()
    actual = actual.numpy()
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    zeros = (actual == 0) & (expected == 0) & signs
    assert (np.signbit(actual[zeros]) == np.signbit(expected[zeros])).all(), "sign of a zero"
    return True


def _special_arrays(shape, dtype, count=40, seed=0):
    """Arrays of ``shape`` drawn from the special values: few or many zeros, nans and infinities."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        pool = rng.choice(SPECIALS, size=rng.integers(1, len(SPECIALS) + 1), replace=False)
        yield rng.choice(pool, size=shape).astype(dtype)


# name: (kittygrad call, torch call, shape)
REDUCTIONS_AT_SPECIALS = {
    "prod": (lambda x: x.prod(), lambda x: x.prod(), (2, 3)),
    "prod_dim": (lambda x: x.prod(1), lambda x: x.prod(1), (2, 3)),
    "prod_0d": (lambda x: x.prod(), lambda x: x.prod(), ()),
    "prod_0d_dim": (lambda x: x.prod(0), lambda x: x.prod(0), ()),
    "cumprod": (lambda x: x.cumprod(1), lambda x: x.cumprod(1), (3, 4)),
    "cumprod_size_1": (lambda x: x.cumprod(1), lambda x: x.cumprod(1), (3, 1)),
    # an infinite factor: its product with the diagonal's mask gave nan off the diagonal
    "einsum_diagonal": (lambda x: kitty.einsum("iij,j->i", x, kitty.tensor([float("inf"), 2.0], x.dtype)),
                        lambda x: torch.einsum("iij,j->i", x, torch.tensor([float("inf"), 2.0], dtype=x.dtype)),
                        (3, 3, 2)),
    "norm_1_dim": (lambda x: x.norm(1, dim=1), lambda x: x.norm(1, dim=1), (3, 4)),
    # a nan extremum: amax/amin give its whole slice a nan gradient; max()/min() give it to the nans
    # (+0 elsewhere); max(dim)/min(dim) to the first nan
    # no degree of freedom left over the whole input: torch's gradient is inf, nan where x equals the
    # mean; std's is nan
    "var_1": (lambda x: x.var(), lambda x: x.var(), (1,)),
    "var_dof_negative": (lambda x: x.var(correction=3), lambda x: x.var(correction=3), (2,)),
    "var_dim": (lambda x: x.var(1, correction=2), lambda x: x.var(1, correction=2), (3, 2)),
    "std_1": (lambda x: x.std(), lambda x: x.std(), (1,)),
    "std_dof_negative": (lambda x: x.std(correction=3), lambda x: x.std(correction=3), (2,)),
    "amax_dim": (lambda x: x.amax(1), lambda x: x.amax(1), (3, 4)),
    "amax": (lambda x: x.amax(), lambda x: x.amax(), (2, 3)),
    "amin_dim": (lambda x: x.amin(1), lambda x: x.amin(1), (3, 4)),
    "max": (lambda x: x.max(), lambda x: x.max(), (2, 3)),
    "min": (lambda x: x.min(), lambda x: x.min(), (2, 3)),
    "max_dim": (lambda x: x.max(1).values, lambda x: x.max(1).values, (3, 4)),
    "min_dim": (lambda x: x.min(1).values, lambda x: x.min(1).values, (3, 4)),
    "maximum": (lambda x: kitty.maximum(x[0], x[1]), lambda x: torch.maximum(x[0], x[1]), (2, 5)),
    "minimum": (lambda x: kitty.minimum(x[0], x[1]), lambda x: torch.minimum(x[0], x[1]), (2, 5)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(REDUCTIONS_AT_SPECIALS))
def test_reductions_at_non_finite_and_zero_inputs(name, dtype):
    # torch's rules at nan, inf and zeros (the conformance suite draws finite inputs): prod's and
    # cumprod's gradients decide on the zeros as torch does (out / x, or exclusive products, or 0);
    # a diagonal's gradient is exactly 0 off the diagonal (not 0 * inf); sgn(nan) is 0
    kitty_fn, torch_fn, shape = REDUCTIONS_AT_SPECIALS[name]
    for seed, x in enumerate(_special_arrays(shape, dtype)):
        kx, tx = tensors(x, dtype)
        k_out, t_out = kitty_fn(kx), torch_fn(tx)
        assert _same(k_out, t_out)
        backward_both(k_out, t_out, seed=seed)
        assert _same(kx.grad, tx.grad, signs=True), x


@pytest.mark.parametrize("op", ["amax", "amin"])
def test_amax_second_derivative_at_a_nan_slice_is_nan_and_silent(op):
    # the count of a nan slice is 0: the recorded division must not warn in the second backward
    data = np.array([[1.0, float("nan"), 3.0], [2.0, 5.0, 5.0]])
    results = []
    for lib in (kitty, torch):
        x, c = lib.tensor(data, requires_grad=True), lib.tensor([2.0, -1.5], dtype=lib.float64, requires_grad=True)
        (getattr(lib, op)(x, 1) * c).sum().backward(create_graph=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            (x.grad * lib.tensor(data + 1.0)).sum().backward()
        results.append((x.grad.detach().numpy(), c.grad.detach().numpy()))
    for actual, expected in zip(*results):
        np.testing.assert_allclose(actual, expected, equal_nan=True)


def _second_derivative(lib, fn, data, seed):
    """The first gradient (recorded) and the second derivative of ``fn`` under random vectors."""
    rng = np.random.default_rng(seed)
    x = lib.tensor(data, requires_grad=True)
    out = fn(x)
    u = lib.tensor(rng.uniform(-2, 2, tuple(out.shape)).astype(data.dtype))
    v = lib.tensor(rng.uniform(-2, 2, data.shape).astype(data.dtype))
    (out * u).sum().backward(create_graph=True)
    first = x.grad
    x.grad = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's RuntimeWarnings inside the recorded ops
        (first * v).sum().backward()
    return first.detach().numpy(), x.grad.detach().numpy()


SECOND_AT_SPECIALS = {
    "prod": (lambda x: x.prod(), (4,)),
    "prod_dim": (lambda x: x.prod(1), (2, 3)),
    "norm": (lambda x: x.norm(), (3,)),
    "norm_dim": (lambda x: x.norm(dim=1), (3, 2)),
    "norm_3_dim": (lambda x: x.norm(3, dim=1), (3, 2)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SECOND_AT_SPECIALS))
def test_second_derivatives_at_non_finite_and_zero_inputs(name, dtype):
    # the recorded rule is torch's too: prod's out / x without a zero (so nan at nan and inf), the
    # exclusive products with zeros; the 2-norm's x / norm masked at a zero norm (0 / 0 below it)
    fn, shape = SECOND_AT_SPECIALS[name]
    tol = {"rtol": 1e-3, "atol": 1e-4} if dtype == "float32" else {"rtol": 1e-7, "atol": 1e-9}  # cancellation
    for seed, x in enumerate(_special_arrays(shape, dtype)):
        for actual, expected in zip(_second_derivative(kitty, fn, x, seed), _second_derivative(torch, fn, x, seed)):
            np.testing.assert_allclose(actual, expected, equal_nan=True, err_msg=str(x), **tol)
