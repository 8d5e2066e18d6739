"""Shape ops, views and indexing against torch: values, gradients, memory and version sharing, errors."""
import warnings

import numpy as np
import pytest
from conftest import backward_both, close, pair, torch

import kittygrad_core as kitty

DTYPES = ["float32", "float64"]


def check(k_fn, t_fn, *shapes, dtype="float64", seed=0):
    """Same inputs through both; outputs (one or a tuple) and input gradients must agree."""
    pairs = [pair(s, dtype=dtype, seed=seed + i) for i, s in enumerate(shapes)]
    k_out, t_out = k_fn(*[p[0] for p in pairs]), t_fn(*[p[1] for p in pairs])
    k_outs = k_out if isinstance(k_out, tuple) else (k_out,)
    t_outs = t_out if isinstance(t_out, tuple) else (t_out,)
    assert len(k_outs) == len(t_outs)
    rng = np.random.default_rng(seed + 100)
    k_loss, t_loss = 0, 0
    for k, t in zip(k_outs, t_outs):
        close(k, t)
        g = rng.uniform(-1, 1, k.shape).astype(k.dtype)
        k_loss = k_loss + (k * kitty.tensor(g)).sum()
        t_loss = t_loss + (t * torch.tensor(g)).sum()
    k_loss.backward()
    t_loss.backward()
    for k, t in pairs:
        close(k.grad, t.grad)


CASES = {
    "transpose": (lambda x: x.transpose(0, 2), [(2, 3, 4)]),
    "swapaxes": (lambda x: x.swapaxes(-1, 0), [(2, 3, 4)]),
    "permute*": (lambda x: x.permute(2, 0, 1), [(2, 3, 4)]),
    "permute()": (lambda x: x.permute((1, 2, 0)), [(2, 3, 4)]),
    "mT": (lambda x: x.mT, [(2, 3, 4)]),
    "T": (lambda x: x.T, [(3, 4)]),
    "squeeze": (lambda x: x.squeeze(), [(1, 3, 1, 2)]),
    "squeeze int": (lambda x: x.squeeze(-2), [(1, 3, 1, 2)]),
    "squeeze tuple": (lambda x: x.squeeze((0, 1, 2)), [(1, 3, 1, 2)]),
    "unsqueeze": (lambda x: x.unsqueeze(-1), [(2, 3)]),
    "expand": (lambda x: x.expand(4, -1, 3), [(2, 1)]),
    "broadcast_to": (lambda x: x.broadcast_to((2, 2, 3)), [(1, 3)]),
    "reshape view": (lambda x: x.reshape(3, -1), [(2, 3, 2)]),
    "reshape copy": (lambda x: x.transpose(0, 1).reshape(-1), [(2, 3)]),
    "view": (lambda x: x.view(6, 2), [(2, 3, 2)]),
    "flatten": (lambda x: x.flatten(1), [(2, 3, 2)]),
    "narrow": (lambda x: x.narrow(1, 1, 2), [(2, 4)]),
    "split": (lambda x: x.split(2, 1), [(2, 5)]),
    "split sections": (lambda x: x.split([1, 3, 1]), [(5, 2)]),
    "chunk": (lambda x: x.chunk(3, -1), [(2, 5)]),
    "getitem basic": (lambda x: x[1:, ::2, None, -1], [(3, 4, 2)]),
    "getitem ellipsis": (lambda x: x[..., 1], [(3, 4, 2)]),
    "getitem repeated": (lambda x: x[[0, 2, 0, 0]], [(3, 4)]),
    "getitem int next to a list": (lambda x: x[:, 0, [1, 1, 3]], [(2, 3, 4)]),
    "getitem two arrays": (lambda x: x[[0, 1, 1], :, [3, 3, 0]], [(2, 3, 4)]),
    "double": (lambda x: x.double() * 2, [(3,)]),
    "contiguous": (lambda x: x.mT.contiguous(), [(2, 3)]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_backward_match_torch(case, dtype):
    fn, shapes = CASES[case]
    check(fn, fn, *shapes, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_functions_match_torch(dtype):
    check(lambda a, b, c: kitty.cat([a, b, c], dim=1), lambda a, b, c: torch.cat([a, b, c], dim=1),
          (2, 1), (2, 3), (2, 0), dtype=dtype)
    check(lambda a, b: kitty.concat((a, b), dim=-1), lambda a, b: torch.concat((a, b), dim=-1),
          (2, 1), (2, 3), dtype=dtype)
    check(lambda a, b: kitty.stack([a, b], dim=1), lambda a, b: torch.stack([a, b], dim=1),
          (2, 3), (2, 3), dtype=dtype)
    check(lambda a, b: kitty.broadcast_tensors(a, b), torch.broadcast_tensors, (3, 1), (4,), dtype=dtype)
    check(lambda a: kitty.permute(a, (1, 0)), lambda a: torch.permute(a, (1, 0)), (2, 3), dtype=dtype)
    check(lambda a: kitty.reshape(a, (3, 2)), lambda a: torch.reshape(a, (3, 2)), (2, 3), dtype=dtype)
    check(lambda a: kitty.split(a, 2), lambda a: torch.split(a, 2), (5,), dtype=dtype)
    check(lambda a: kitty.chunk(a, 4), lambda a: torch.chunk(a, 4), (6,), dtype=dtype)


def test_cat_promotes_and_returns_gradients_in_each_dtype():
    a32, t32 = pair((2,), dtype="float32")
    a64, t64 = pair((3,), dtype="float64", seed=1)
    out = kitty.cat([a32, a64])
    assert out.dtype == np.float64
    out.sum().backward()
    torch.cat([t32, t64]).sum().backward()
    assert close(a32.grad, t32.grad) and close(a64.grad, t64.grad)


def test_index_with_tensor_and_mask_accumulates_like_torch():
    mask = np.array([True, False, True])
    check(lambda x: (x[kitty.tensor([2, 2, 0])], x[mask]), lambda x: (x[torch.tensor([2, 2, 0])], x[mask]),
          (3, 2))
    check(lambda x: x[[True, False, True], 1:], lambda x: x[[True, False, True], 1:], (3, 2))
    x = kitty.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 0, 2]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_0d_integer_tensor_indexes_like_an_int_and_gives_a_view():
    x = kitty.ones(3, 2)
    assert x[kitty.tensor(1.0)]._base is x and x[kitty.tensor(1.0)].shape == (2,)


VIEWS = {
    "transpose": lambda x: x.transpose(0, 1), "permute": lambda x: x.permute(2, 0, 1),
    "mT": lambda x: x.mT, "squeeze": lambda x: x[:1].squeeze(0), "unsqueeze": lambda x: x.unsqueeze(0),
    "expand": lambda x: x[:, :1].expand(-1, 4, -1), "reshape": lambda x: x.reshape(6, 2),
    "view": lambda x: x.view(-1), "flatten": lambda x: x.flatten(0, 1), "narrow": lambda x: x.narrow(2, 1, 1),
    "split": lambda x: x.split(1)[1], "chunk": lambda x: x.chunk(2, 1)[0], "int": lambda x: x[1],
    "slice": lambda x: x[:, ::2, None], "ellipsis": lambda x: x[..., 0], "iter": lambda x: list(x)[1],
    "broadcast_tensors": lambda x: kitty.broadcast_tensors(x, kitty.ones(2, 1, 1, 1))[0],
}


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("name", VIEWS)
def test_views_share_memory_version_and_base(name, grad):
    leaf = kitty.tensor(np.arange(12.0).reshape(2, 3, 2), requires_grad=grad)
    x = leaf * 1 if grad else leaf
    out = VIEWS[name](x)
    assert np.shares_memory(out.numpy(), x.numpy())
    assert out._version is x._version and out._base is x
    assert out.requires_grad == grad


@pytest.mark.parametrize("fn", [lambda x: x.transpose(0, 1).reshape(-1), lambda x: x.mT.flatten(),
                                lambda x: x[[0, 1]], lambda x: x[x.numpy() > 2], lambda x: kitty.cat([x, x]),
                                lambda x: kitty.stack([x]), lambda x: x.mT.contiguous()])
def test_copies_share_nothing(fn):
    x = kitty.tensor(np.arange(6.0).reshape(2, 3))
    out = fn(x)
    assert not np.shares_memory(out.numpy(), x.numpy())
    assert out._version is not x._version and out._base is None


def test_contiguous_and_casts_return_the_tensor_itself_when_nothing_changes():
    x = kitty.ones(2, 3)
    assert x.contiguous() is x and x.float() is x and x.double().dtype == np.float64
    assert x.half().dtype == np.float16 and x.T.contiguous().numpy().flags.c_contiguous


def test_versions_bump_through_base_and_view():
    x = kitty.zeros(2, 3)
    row, col = x[0], x[:, 1]
    x.add_(1.0)
    assert row.version == col.version == x.version == 1 and row.tolist() == [1.0, 1.0, 1.0]
    row.mul_(3.0)
    assert x.version == col.version == 2 and x.tolist() == [[3.0, 3.0, 3.0], [1.0, 1.0, 1.0]]
    x[1, 2] = 5.0
    assert x.version == row.version == 3 and col.tolist() == [3.0, 1.0]


def test_saved_view_modified_through_its_base_fails_at_backward():
    a = kitty.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x = a * 1
    v = x[0]
    y = v * v  # mul saves v
    x.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_unsaved_view_may_be_modified_after_use():
    a, ta = pair((2, 3))
    x, tx = a * 1, ta * 1
    y, ty = x.transpose(0, 1).sum(), tx.transpose(0, 1).sum()
    x.mul_(2.0)
    tx.mul_(2.0)
    (y + x.sum()).backward()  # the lock engine wants every consumer of x's old node reached
    (ty + tx.sum()).backward()
    assert close(a.grad, ta.grad)


def test_inplace_on_expanded_view_is_rejected():
    with pytest.raises(RuntimeError, match="read-only"):
        kitty.ones(3, 1).expand(3, 4).add_(1.0)


SET_KEYS = [
    (1, (4,)), ((slice(None), 2), (3,)), ((slice(0, 2), slice(1, None)), (1, 3)), ([0, 2], (4,)),
    (([0, 2], [1, 3]), ()), ((0, [1, 3]), (2,)), ((Ellipsis, -1), (1,)), (np.array([True, False, True]), (2, 4)),
    ((None, 1), (1, 1, 4)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key,value_shape", SET_KEYS, ids=str)
def test_setitem_gradients_match_torch(key, value_shape, dtype):
    ka, ta = pair((3, 4), dtype=dtype)
    kv, tv = pair(value_shape, dtype=dtype, seed=1)
    kx, tx = ka * 1, ta * 1
    kx[key] = kv
    tx[key] = tv
    close(kx, tx)
    g = np.random.default_rng(2).uniform(-1, 1, (3, 4)).astype(dtype)
    (kx * kitty.tensor(g)).sum().backward()
    (tx * torch.tensor(g)).sum().backward()
    assert close(ka.grad, ta.grad) and close(kv.grad, tv.grad)


def test_setitem_numbers_arrays_and_version():
    ka, ta = pair((3, 4))
    kx, tx = ka * 1, ta * 1
    version = kx.version
    kx[0] = 2.0
    tx[0] = 2.0
    kx[1:, 1] = np.array([5, 6])
    tx[1:, 1] = torch.tensor([5.0, 6.0])
    assert kx.version == version + 2 and close(kx, tx)
    backward_both(kx, tx)
    assert close(ka.grad, ta.grad)


def test_setitem_on_a_leaf_requiring_grad_raises_unless_no_grad():
    x = kitty.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 2.0
    with kitty.no_grad():
        x[0] = 2.0
    assert x.tolist() == [2.0, 1.0, 1.0]


def test_iteration_gives_views_and_gradients():
    ka, ta = pair((3, 2))
    rows = list(ka)
    assert len(rows) == 3 and all(r._base is ka for r in rows)
    sum(r * i for i, r in enumerate(rows)).sum().backward()
    sum(r * i for i, r in enumerate(ta)).sum().backward()
    assert close(ka.grad, ta.grad)


def test_T_warns_beyond_2d_and_reverses_like_torch():
    x, tx = pair((2, 3, 4))
    with pytest.warns(UserWarning, match="deprecated"):
        out = x.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert close(out, tx.T)


ERRORS = [
    (IndexError, r"Dimension out of range \(expected to be in range of", lambda x: x.transpose(0, 2)),
    (IndexError, r"Dimension out of range \(expected to be in range of", lambda x: x.unsqueeze(3)),
    (IndexError, r"Dimension out of range \(expected to be in range of", lambda x: x.squeeze(-3)),
    (IndexError, r"Dimension out of range \(expected to be in range of", lambda x: kitty.cat([x, x], dim=2)),
    (RuntimeError, r"reshape.*\[4, 2\].*\(2, 3\)", lambda x: x.reshape(4, 2)),
    (RuntimeError, r"view.*\[6\].*\(3, 2\).*reshape", lambda x: x.T.view(6)),
    (RuntimeError, r"cat.*\(2, 3\), \(2, 2\)", lambda x: kitty.cat([x, x[:, :2]])),
    (RuntimeError, "stack.*equal size", lambda x: kitty.stack([x, x[0]])),
    (RuntimeError, "^Number of dimensions in the tensor input does not match", lambda x: x.permute(0)),
    (RuntimeError, "^Duplicate dims are not allowed.$", lambda x: x.permute(1, -1)),
    (RuntimeError, "expand", lambda x: x.expand(3, 3)),
    (RuntimeError, "mT.*Got 1D tensor", lambda x: x[0].mT),
    (RuntimeError, "split.*sum", lambda x: x.split([1, 1], 1)),
    (RuntimeError, "narrow.*exceeds", lambda x: x.narrow(1, 2, 3)),
    (IndexError, r"__getitem__.*out of bounds.*\(2, 3\)", lambda x: x[2]),
    (IndexError, "__getitem__.*out of bounds", lambda x: x[:, [0, 3]]),
    (IndexError, "__getitem__.*boolean", lambda x: x[np.array([True, False, True])]),
    (IndexError, "integer-valued", lambda x: x[kitty.tensor([0.5])]),
    (IndexError, "__setitem__.*out of bounds", lambda x: x.__setitem__((0, 7), 1.0)),
    (RuntimeError, "__setitem__.*shape", lambda x: x.__setitem__(0, kitty.ones(2))),
]


@pytest.mark.parametrize("error,match,fn", ERRORS, ids=[e[1] for e in ERRORS])
def test_errors_are_typed_and_name_the_op(error, match, fn):
    with pytest.raises(error, match=match):
        fn(kitty.ones(2, 3))
