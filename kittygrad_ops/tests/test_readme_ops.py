"""The ops the original README needs, checked against torch and finite differences."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import backward_both, close, pair, torch

import kittygrad_core as kitty

BINARY = {
    "add": lambda a, b: a + b, "radd": lambda a, b: 2.5 + b * a, "sub": lambda a, b: a - b,
    "rsub": lambda a, b: 1.5 - a * b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "rdiv": lambda a, b: 3 / b + a, "pow_scalar": lambda a, b: a ** 3 + b, "rpow": lambda a, b: 2 ** a * b,
    "pow_tensor": lambda a, b: b ** a,
}
SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((2, 1, 3), (4, 1)), ((), (2, 2)), ((1,), ())]


@pytest.mark.parametrize("shapes", SHAPES)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_against_torch(name, shapes):
    (ka, ta), (kb, tb) = pair(shapes[0], seed=1), pair(shapes[1], low=0.5, high=2.0, seed=2)
    f = BINARY[name]
    k_out, t_out = f(ka, kb), f(ta, tb)
    assert close(k_out, t_out)
    backward_both(k_out, t_out)
    assert close(ka.grad, ta.grad) and close(kb.grad, tb.grad)


UNARY = {
    "neg": lambda x: -x, "exp": lambda x: x.exp(), "log": lambda x: x.log(), "sum": lambda x: x.sum(),
    "sum_dim": lambda x: x.sum(-1, keepdim=True), "sum_dims": lambda x: x.sum((0, -1)),
    "mean": lambda x: x.mean(), "mean_dim": lambda x: x.mean(0), "var": lambda x: x.var(),
    "var_dim": lambda x: x.var(1, correction=0), "std": lambda x: x.std(),
    "std_dim": lambda x: x.std(dim=(0, 2), keepdim=True), "clone": lambda x: x.clone() * 2,
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_against_torch(name, dtype):
    kx, tx = pair((2, 3, 4), dtype=dtype, low=0.5, high=2.0)
    k_out, t_out = UNARY[name](kx), UNARY[name](tx)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else {}
    assert close(k_out, t_out, **tol)
    backward_both(k_out, t_out)
    assert close(kx.grad, tx.grad, **tol)


MATMUL_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
                 ((3,), (5, 3, 4)), ((5, 2, 3), (3,)), ((2, 1, 2, 3), (5, 3, 4))]


MATMUL_FORMS = {
    "operator": (lambda a, b: a @ b, lambda a, b: a @ b),
    "function": (lambda a, b: kitty.matmul(a, b), lambda a, b: torch.matmul(a, b)),
    "method": (lambda a, b: a.matmul(b), lambda a, b: a.matmul(b)),
}


@pytest.mark.parametrize("form", sorted(MATMUL_FORMS))
@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
def test_matmul_every_case(shapes, form):
    (ka, ta), (kb, tb) = pair(shapes[0], seed=3), pair(shapes[1], seed=4)
    kitty_fn, torch_fn = MATMUL_FORMS[form]
    k_out, t_out = kitty_fn(ka, kb), torch_fn(ta, tb)
    assert close(k_out, t_out)
    backward_both(k_out, t_out)
    assert close(ka.grad, ta.grad) and close(kb.grad, tb.grad)


def test_dot_and_reflected_matmul():
    (ka, ta), (kb, tb) = pair((4,)), pair((4,), seed=5)
    assert close(kitty.dot(ka, kb), torch.dot(ta, tb))
    m = np.arange(8.0).reshape(2, 4)
    assert close(m @ ka, torch.tensor(m) @ ta)


def _numeric_grad(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += eps
        minus[i] -= eps
        grad[i] = (f(plus) - f(minus)) / (2 * eps)
    return grad


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_finite_differences(name):
    data = np.random.default_rng(7).uniform(0.5, 2.0, size=(2, 3, 4))
    f = lambda array: UNARY[name](kitty.tensor(array)).sum().item()  # noqa: E731
    x = kitty.tensor(data, requires_grad=True)
    UNARY[name](x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), _numeric_grad(f, data), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_finite_differences(name):
    rng = np.random.default_rng(8)
    a_data, b_data = rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(0.5, 2.0, (3,))
    a, b = kitty.tensor(a_data, requires_grad=True), kitty.tensor(b_data, requires_grad=True)
    BINARY[name](a, b).sum().backward()
    fa = lambda arr: BINARY[name](kitty.tensor(arr), kitty.tensor(b_data)).sum().item()  # noqa: E731
    fb = lambda arr: BINARY[name](kitty.tensor(a_data), kitty.tensor(arr)).sum().item()  # noqa: E731
    np.testing.assert_allclose(a.grad.numpy(), _numeric_grad(fa, a_data), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(b.grad.numpy(), _numeric_grad(fb, b_data), rtol=1e-6, atol=1e-7)


def test_pow_gradient_edges_follow_torch():
    k_base, t_base = kitty.tensor([0.0, 0.0, 2.0], dtype="float64", requires_grad=True), \
        torch.tensor([0.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    k_exp, t_exp = kitty.tensor([0.0, 2.0, 0.0], dtype="float64", requires_grad=True), \
        torch.tensor([0.0, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
    (k_base ** k_exp).sum().backward()
    (t_base ** t_exp).sum().backward()
    assert close(k_base.grad, t_base.grad) and close(k_exp.grad, t_exp.grad)


@pytest.mark.parametrize("k_dtype, other, expected", [
    ("float32", np.float64(2.0), "float32"),       # NumPy scalars act as Python numbers
    ("float32", 2, "float32"),
    ("float16", 2.5, "float16"),
    ("float32", np.ones(3, dtype=np.float64), "float64"),
    ("float32", np.ones(3, dtype=np.int64), "float32"),
])
def test_promotion_with_numbers_and_arrays(k_dtype, other, expected):
    x = kitty.ones(3, dtype=k_dtype)
    assert (x * other).dtype == np.dtype(expected)
    assert (other * x).dtype == np.dtype(expected)


def test_promotion_between_tensors_follows_torch():
    for a_shape, b_shape in [((3,), (3,)), ((), (3,)), ((3,), ())]:
        ka, ta = pair(a_shape, dtype="float32")
        kb, tb = pair(b_shape, dtype="float64", seed=3)
        k_out, t_out = ka * kb, ta * tb
        assert close(k_out, t_out, rtol=1e-6)
        backward_both(k_out, t_out)
        assert ka.grad.dtype == np.float32 and kb.grad.dtype == np.float64
        assert close(ka.grad, ta.grad, rtol=1e-6) and close(kb.grad, tb.grad, rtol=1e-6)


def test_inplace_operators_against_torch():
    (ka, ta), (kb, tb) = pair((2, 3)), pair((3,), low=0.5, high=2.0, seed=9)
    kc, tc = ka * 1, ta * 1
    for k_op, t_op in [(lambda x: x.__iadd__(kb), lambda x: x.__iadd__(tb)),
                       (lambda x: x.__isub__(2.0), lambda x: x.__isub__(2.0)),
                       (lambda x: x.__imul__(kb), lambda x: x.__imul__(tb)),
                       (lambda x: x.__itruediv__(kb), lambda x: x.__itruediv__(tb)),
                       (lambda x: x.__ipow__(2), lambda x: x.__ipow__(2))]:
        version = kc.version
        assert k_op(kc) is kc
        t_op(tc)
        assert kc.version == version + 1
    assert close(kc, tc)
    backward_both(kc, tc)
    assert close(ka.grad, ta.grad) and close(kb.grad, tb.grad)


def test_inplace_methods():
    x = kitty.zeros(3)
    assert x.add_(1) is x and x.mul_(3) is x and x.sub_(1, alpha=0.5) is x and x.div_(2) is x
    np.testing.assert_allclose(x.numpy(), [1.25] * 3)
    assert x.version == 4


def test_inplace_rejects_dtype_and_shape_changes():
    x = kitty.ones(3)
    with pytest.raises(RuntimeError, match="dtype 'float32' doesn't match the promotion dtype 'float64'"):
        x += kitty.ones(3, dtype=kitty.float64)
    with pytest.raises(RuntimeError, match=r"shape \(3,\) doesn't match the broadcast shape \(2, 3\)"):
        x *= kitty.ones(2, 3)
    assert x.version == 0 and np.all(x.numpy() == 1)


def test_inplace_on_a_leaf_that_requires_grad():
    x = kitty.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x += 1
    with kitty.no_grad():
        x -= 1
    assert x.version == 1


def test_modified_saved_tensor_is_detected():
    x = kitty.ones(3, requires_grad=True)
    y = x * 2
    z = y * y
    y += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


@pytest.mark.parametrize("call, error, match", [
    (lambda: kitty.ones(2, 3) + kitty.ones(4), RuntimeError, r"add\(\): shapes \(2, 3\), \(4,\) cannot"),
    (lambda: kitty.ones(2, 3) @ kitty.ones(2, 3), RuntimeError,
     r"^input and mat2 shapes cannot be multiplied \(2x3 and 2x3\)\.$"),
    (lambda: kitty.matmul(kitty.ones(()), kitty.ones(3)), RuntimeError, "^Input tensors must not be scalars.$"),
    (lambda: kitty.dot(kitty.ones(2, 2), kitty.ones(2)), RuntimeError, "1D tensors expected"),
    (lambda: kitty.dot(kitty.ones(2), kitty.ones(3)), RuntimeError, "^Inconsistent tensor size"),
    (lambda: kitty.ones(2, 3).sum(2), IndexError, "Dimension out of range"),
    (lambda: kitty.ones(2, 3).mean((0, -2)), RuntimeError, "Duplicate dims are not allowed"),
    (lambda: kitty.ones(2, 3).sum("a"), TypeError, "dim must be an int"),
    (lambda: kitty.ones(2) * "a", TypeError, None),
    (lambda: kitty.exp(2.0), TypeError, r"Unsupported argument type\(s\) for exp: 'Tensor' and 'float'"),
    (lambda: kitty.add(2, 3), TypeError, "at least one operand must be a Tensor"),
    (lambda: kitty.ones(3)[5], IndexError, "out of bounds"),
])
def test_bad_input_gives_typed_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_getitem_and_iteration():
    kx, tx = pair((3, 4))
    parts = list(kx)
    assert len(parts) == 3 and close(parts[1], tx[1])
    k_out = kx[1:, ::2].sum() + kx[kitty.tensor([0, 0, 2])].sum() + kx[..., None][0].sum()
    t_out = tx[1:, ::2].sum() + tx[torch.tensor([0, 0, 2])].sum() + tx[..., None][0].sum()
    k_out.backward()
    t_out.backward()
    assert close(kx.grad, tx.grad)


def test_to_and_type():
    kx, tx = pair((3,), dtype="float32")
    k_out = kx.type(kitty.float64) * 2
    assert k_out.dtype == np.float64 and kx.type(kitty.float32) is kx
    k_out.sum().backward()
    (tx.double() * 2).sum().backward()
    assert close(kx.grad, tx.grad)


def test_bindings_are_generated_with_torch_signatures():
    import inspect
    assert str(inspect.signature(kitty.var)) == "(input, dim=None, *, correction=1, keepdim=False)"
    assert str(inspect.signature(kitty.Tensor.sum)) == "(self, dim=None, keepdim=False)"
    assert "Adds" in kitty.add.__doc__
