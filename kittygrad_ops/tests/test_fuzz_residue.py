"""Differences from torch the API fuzzer found after the first round of fixes (issue 10), one test each."""
import math

import numpy as np
import pytest
import torch

import kittygrad_core as kc

DIM_CALLS = {
    "sum": lambda m, x, d: m.sum(x, d), "sum tuple": lambda m, x, d: m.sum(x, (d, 0)),
    "mean": lambda m, x, d: m.mean(x, d), "amin": lambda m, x, d: m.amin(x, d),
    "var": lambda m, x, d: m.var(x, d), "cumprod": lambda m, x, d: m.cumprod(x, d),
    "unsqueeze": lambda m, x, d: m.unsqueeze(x, d), "log_softmax": lambda m, x, d: m.log_softmax(x, d),
    "transpose": lambda m, x, d: m.transpose(x, 0, d), "narrow": lambda m, x, d: m.narrow(x, d, 0, 1),
    "prod": lambda m, x, d: m.prod(x, d), "cat": lambda m, x, d: m.cat([x, x], d),
}


@pytest.mark.parametrize("call", DIM_CALLS.values(), ids=DIM_CALLS.keys())
def test_numpy_integer_dims_are_ints_as_in_torch(call):
    data = np.arange(24.0).reshape(2, 3, 4)
    expected = call(torch, torch.tensor(data), np.int64(1))
    got = call(kc, kc.tensor(data, dtype=np.float64), np.int64(1))
    np.testing.assert_allclose(got.numpy(), expected.numpy())


@pytest.mark.parametrize("call", [c for k, c in DIM_CALLS.items() if k != "sum tuple"],
                         ids=[k for k in DIM_CALLS if k != "sum tuple"])
@pytest.mark.parametrize("dim", [np.array(1), np.array([1]), np.bool_(True)], ids=["0-d", "1-d", "np.bool"])
def test_numpy_arrays_as_dims_are_refused_as_in_torch(call, dim):
    with pytest.raises((TypeError, RuntimeError)):  # torch's reductions fail an internal assert on 0-d
        call(torch, torch.ones(2, 3, 4), dim)
    with pytest.raises(TypeError, match=r"dim must be an int"):
        call(kc, kc.ones(2, 3, 4), dim)


def test_flip_takes_ints_or_a_sequence_of_them_as_torch():
    x = kc.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert kc.flip(x, 1).tolist() == [[2.0, 1.0], [4.0, 3.0]]
    assert kc.flip(x, (np.int64(0),)).tolist() == [[3.0, 4.0], [1.0, 2.0]]
    for dims in (np.int64(1), np.array([1]), True, "ab"):
        with pytest.raises(TypeError, match=r"^flip\(\): dims must be an int or a tuple of ints"):
            kc.flip(x, dims)


@pytest.mark.parametrize("name", ["add", "sub"])
def test_alpha_is_read_as_a_number_as_torch_reads_it(name):
    data = np.array([1.0, -2.0, 3.0], dtype=np.float16)
    expected = getattr(torch, name)(torch.tensor(data), torch.tensor(data), alpha=torch.tensor(2.0))
    for alpha in (kc.tensor(2.0), np.float64(2.0), np.int64(2)):
        got = getattr(kc, name)(kc.tensor(data), kc.tensor(data), alpha=alpha)
        assert got.dtype == np.float16  # a NumPy float64 scalar must not promote the result
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    leaf = kc.tensor(data, requires_grad=True)
    getattr(kc, name)(kc.ones(3, dtype=np.float16), leaf, alpha=kc.tensor(2.0)).sum().backward()
    assert leaf.grad.tolist() == ([2.0] * 3 if name == "add" else [-2.0] * 3)
    with pytest.raises(TypeError, match=rf"^{name}\(\): alpha must be a number, not ndarray"):
        getattr(kc, name)(kc.ones(3), kc.ones(3), alpha=np.array(2.0))


@pytest.mark.parametrize("call", [lambda m, x: m.sub(x, x, alpha=1e30), lambda m, x: m.add(x, x, alpha=-70000),
                                  lambda m, x: x ** 1e30, lambda m, x: x.pow_(-1e5), lambda m, x: m.pow(x, 70000)])
def test_numbers_float16_cannot_hold_are_refused_as_in_torch(call):
    with pytest.raises(RuntimeError, match="without overflow"):
        call(torch, torch.ones(3, dtype=torch.float16))
    x = kc.ones(3, dtype=np.float16)
    with pytest.raises(RuntimeError, match="cannot be converted to float16 without overflow"):
        call(kc, x)
    assert x.tolist() == [1.0, 1.0, 1.0]


def test_infinite_numbers_stay_accepted_in_float16():
    x = kc.tensor([0.5, 1.0, 2.0], dtype=np.float16)
    np.testing.assert_array_equal((x ** math.inf).numpy(), [0.0, 1.0, math.inf])
    np.testing.assert_array_equal(kc.add(x, x, alpha=-math.inf).numpy(), [-math.inf] * 3)


@pytest.mark.parametrize("name", ["isclose", "allclose"])
@pytest.mark.parametrize("tolerances", [(-1.0, 0.0), (math.nan, 0.0), (-math.inf, 0.5), (0.0, -1e-9),
                                        (0.0, math.nan)])
def test_negative_or_nan_tolerances_are_refused_as_in_torch(name, tolerances):
    with pytest.raises(RuntimeError, match="must be greater than or equal to zero"):
        getattr(torch, name)(torch.ones(3), torch.ones(3), *tolerances)
    with pytest.raises(RuntimeError, match=rf"^{name}\(\): [ra]tol must be greater than or equal to zero"):
        getattr(kc, name)(kc.ones(3), kc.ones(3), *tolerances)
    assert getattr(kc, name)(kc.ones(3), kc.ones(3), 0.0, 0.0) is not False


@pytest.mark.parametrize("key", [[[1], [2, 3]], [[0, 1], [2]]])
def test_a_ragged_list_index_is_an_index_error(key):
    x = kc.zeros(3, 3)
    with pytest.raises(IndexError, match="must be rectangular"):
        x[key]
    with pytest.raises(IndexError, match="must be rectangular"):
        x[key] = 1.0
    assert not x.numpy().any()


@pytest.mark.parametrize("p", [-7, -0.5, 2, 3, "fro", math.inf])
def test_float16_norms_accumulate_in_float32_as_torch(p):
    data = np.random.default_rng(3).uniform(0.05, 0.3, size=(2, 3, 4)).astype(np.float16)
    data[0, 0, 0] = 300.0  # its square overflows float16, its norm does not
    got = kc.norm(kc.tensor(data), p, -2)
    expected = torch.norm(torch.tensor(data), p, -2)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.numpy().astype(np.float64), expected.numpy().astype(np.float64), rtol=2e-3)


@pytest.mark.parametrize("p", [-7, -1, -math.inf])
def test_negative_norms_over_an_empty_dim_are_refused_as_in_torch(p):
    with pytest.raises(RuntimeError, match="cannot compute"):
        torch.norm(torch.ones(2, 0), p, -1)
    with pytest.raises(RuntimeError, match=r"^norm\(\): cannot compute the .* norm over a zero-size dim"):
        kc.norm(kc.ones(2, 0), p, -1)
    assert kc.norm(kc.ones(2, 0), p, 0).shape == (0,)  # a non-empty reduced dim is fine


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("correction", [5, 4, 3.5, "0-d tensor", np.float64(2.0)])
def test_var_and_std_corrections_as_torch(name, correction):
    data = np.random.default_rng(0).standard_normal((3, 4))
    k_correction = kc.tensor(1.0) if isinstance(correction, str) else correction
    t_correction = torch.tensor(1.0) if isinstance(correction, str) else correction
    t = torch.tensor(data, requires_grad=True)
    expected = getattr(torch, name)(t, -1, correction=t_correction)
    expected.backward(torch.ones(3, dtype=torch.float64))
    k = kc.tensor(data, dtype=np.float64, requires_grad=True)
    got = getattr(kc, name)(k, -1, correction=k_correction)
    got.backward(kc.ones(3, dtype=np.float64))
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy())
    # past N the divisor is clamped at 0 forward, but torch's backward divides by N - correction
    np.testing.assert_allclose(k.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_triangle_diagonals_are_ints_as_in_torch(name):
    for diagonal in (np.int64(1), np.array(-1), 2):
        expected = getattr(torch, name)(torch.ones(3, 4), diagonal)
        np.testing.assert_array_equal(getattr(kc, name)(kc.ones(3, 4), diagonal).numpy(), expected.numpy())
    for diagonal in (np.array([1]), 1.0, True, kc.tensor(1.0), "a"):
        with pytest.raises(TypeError, match=rf"^{name}\(\): argument 'diagonal' must be int, not "):
            getattr(kc, name)(kc.ones(3, 4), diagonal)


@pytest.mark.parametrize("number", [1e30, 1e5, 70000, 1e-6, 1e-30])
@pytest.mark.parametrize("call", [lambda x, n: x * n, lambda x, n: n * x, lambda x, n: x / n,
                                  lambda x, n: n / x], ids=["mul", "rmul", "div", "rdiv"])
def test_float16_with_a_number_it_cannot_hold_computes_in_float32_as_torch(call, number):
    data = np.array([math.inf, -math.inf, 60000.0, 1e4, 0.0, 1.0, -2.0, 1e-3], dtype=np.float16)
    expected = call(torch.tensor(data), number)
    got = call(kc.tensor(data), number)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.numpy().astype(np.float64), expected.numpy().astype(np.float64),
                               rtol=2e-3)  # one float16 step: torch rounds n / x its own way


def test_a_nan_exponent_is_not_an_overflow_in_float16():
    expected = torch.pow(torch.ones(3, dtype=torch.float16), math.nan)
    np.testing.assert_array_equal(kc.pow(kc.ones(3, dtype=np.float16), math.nan).numpy(), expected.numpy())


def test_a_ragged_nested_list_of_values_is_a_type_error_as_in_torch():
    x = kc.zeros(2, 3)
    with pytest.raises(TypeError, match=r"^__setitem__\(\): values given as a nested list must be rectangular"):
        x[..., -1] = [[1], [2, 3]]
    assert not x.numpy().any()



def test_var_and_std_over_no_element_are_nan_whatever_the_correction():
    data = np.zeros((0, 3), dtype=np.float32)
    for correction in (1, 0, -7):
        for name in ("var", "std"):
            got = getattr(kc.tensor(data), name)(0, correction=correction).numpy()
            expected = getattr(torch.from_numpy(data), name)(0, correction=correction).numpy()
            np.testing.assert_array_equal(got, expected)  # nan, nan, nan


def test_arange_of_an_impossible_size_is_torchs_runtime_error():
    with pytest.raises(RuntimeError, match="arange\\(\\): invalid size, possible overflow"):
        kc.arange(1e30)


def test_cumprod_of_a_0d_zero_passes_the_gradient_and_var_with_a_nan_correction_is_inf():
    x, tx = kc.tensor(np.float32(0.0), requires_grad=True), torch.tensor(np.float32(0.0), requires_grad=True)
    kc.cumprod(x, -1).backward(kc.tensor(np.float32(0.5)))
    torch.cumprod(tx, -1).backward(torch.tensor(np.float32(0.5)))
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())  # 0.5, not 0 / 0
    data = np.arange(6, dtype=np.float32).reshape(2, 1, 3)
    got = kc.tensor(data).var(None, correction=float("nan"), keepdim=True).numpy()
    np.testing.assert_array_equal(got, torch.from_numpy(data).var(None, correction=float("nan"), keepdim=True).numpy())
