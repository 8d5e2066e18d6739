"""Tensor creation functions, with PyTorch's signatures."""
import numpy as np
import pytest

import kittygrad_core as kitty

SIZED = [kitty.ones, kitty.zeros, kitty.empty, kitty.rand, kitty.randn]
LIKE = [kitty.ones_like, kitty.zeros_like, kitty.empty_like, kitty.rand_like, kitty.randn_like]


@pytest.mark.parametrize("create", SIZED)
@pytest.mark.parametrize("args, shape", [((2, 3), (2, 3)), (((2, 3),), (2, 3)), (([4],), (4,)),
                                         ((), ()), ((0, 2), (0, 2))])
def test_sizes_as_varargs_or_sequence(create, args, shape):
    t = create(*args)
    assert t.shape == shape
    assert t.dtype == np.float32
    assert t.is_leaf and not t.requires_grad


@pytest.mark.parametrize("create", SIZED)
@pytest.mark.parametrize("dtype", [kitty.float16, kitty.float64, "float64"])
def test_dtype_and_requires_grad(create, dtype):
    t = create(2, dtype=dtype, requires_grad=True)
    assert t.dtype == np.dtype(dtype)
    assert t.requires_grad


@pytest.mark.parametrize("create", SIZED)
def test_negative_size_raises(create):
    with pytest.raises(RuntimeError, match=r"negative dimension -1: \[2, -1\]"):
        create(2, -1)


@pytest.mark.parametrize("create", SIZED)
def test_non_int_size_raises(create):
    with pytest.raises(TypeError, match="sequence of ints.*float"):
        create(2.5)


def test_unsupported_dtype_raises():
    with pytest.raises(TypeError, match="^Data type 'int32' is not supported.$"):
        kitty.rand(2, dtype=np.int32)
    with pytest.raises(TypeError, match="^Data type 'int' is not supported.$"):
        kitty.full((2,), 1, dtype=int)


@pytest.mark.parametrize("create", [lambda dt: kitty.ones(2, dtype=dt), lambda dt: kitty.zeros(2, dtype=dt),
                                    lambda dt: kitty.empty(2, dtype=dt),
                                    lambda dt: kitty.ones_like(kitty.ones(2), dtype=dt),
                                    lambda dt: kitty.zeros_like(kitty.ones(2), dtype=dt),
                                    lambda dt: kitty.empty_like(kitty.ones(2), dtype=dt)])
def test_filled_tensors_cast_integer_dtypes_with_a_warning(create):
    """The original kittygrad builds ones/zeros/empty from a NumPy array of the requested dtype, so an
    integer dtype takes the array path: a warning and the default dtype, not an error."""
    with pytest.warns(UserWarning, match="^Passed NumPy array has an unsupported data type 'int32'"):
        out = create(np.int32)
    assert out.dtype == kitty.float32 and out.shape == (2,)
    with pytest.raises(TypeError, match="not supported"):
        create(np.complex64)


def test_values():
    assert kitty.ones(2).tolist() == [1., 1.]
    assert kitty.zeros(2).tolist() == [0., 0.]
    r = kitty.rand(1000)
    assert 0 <= r.numpy().min() and r.numpy().max() < 1
    n = kitty.randn(10000, dtype=kitty.float64).numpy()
    assert abs(n.mean()) < 0.1 and abs(n.std() - 1) < 0.1


@pytest.mark.parametrize("create", [kitty.rand, kitty.randn])
def test_manual_seed_reproducibility(create):
    kitty.manual_seed(123)
    first = create(5).numpy().copy()
    other = create(5).numpy()
    kitty.manual_seed(123)
    np.testing.assert_array_equal(create(5).numpy(), first)
    assert not np.array_equal(first, other)


def test_generator_is_reseeded():
    kitty.manual_seed(7)
    assert kitty.generator() is kitty.generator()
    value = kitty.generator().random()
    kitty.manual_seed(7)
    assert kitty.generator().random() == value


@pytest.mark.parametrize("create", LIKE)
def test_like_functions_take_shape_and_dtype(create):
    source = kitty.zeros(2, 3, dtype=kitty.float64)
    t = create(source)
    assert t.shape == (2, 3) and t.dtype == np.float64 and not t.requires_grad
    t = create(source, dtype=kitty.float16, requires_grad=True)
    assert t.dtype == np.float16 and t.requires_grad


@pytest.mark.parametrize("create", LIKE)
def test_like_functions_require_a_tensor(create):
    with pytest.raises(TypeError, match="expected a Tensor as input, got ndarray"):
        create(np.zeros(2))


def test_full():
    t = kitty.full((2, 3), 7.5)
    assert t.shape == (2, 3) and t.dtype == np.float32
    assert (t.numpy() == 7.5).all()
    assert kitty.full([2], 1, dtype=kitty.float64).tolist() == [1., 1.]
    assert kitty.full((), 2.).shape == ()
    with pytest.raises(RuntimeError, match="negative dimension"):
        kitty.full((-2,), 0.)


def test_full_like():
    t = kitty.full_like(kitty.zeros(3, dtype=kitty.float64), 4.)
    assert t.tolist() == [4., 4., 4.] and t.dtype == np.float64


@pytest.mark.parametrize("args, kwargs, expected", [
    ((5,), {}, [0., 1., 2., 3., 4.]),
    ((1, 3), {}, [1., 2.]),
    ((1, 2, 0.25), {}, [1., 1.25, 1.5, 1.75]),
    ((3, 0, -1), {}, [3., 2., 1.]),
    ((0,), {}, []),
])
def test_arange(args, kwargs, expected):
    t = kitty.arange(*args, **kwargs)
    assert t.dtype == np.float32
    assert t.tolist() == expected


def test_arange_dtype_and_errors():
    assert kitty.arange(3, dtype=kitty.float64).dtype == np.float64
    assert kitty.arange(3, requires_grad=True).requires_grad
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        kitty.arange(0, 3, 0)
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        kitty.arange(0, 3, -1)


def test_eye():
    np.testing.assert_array_equal(kitty.eye(3).numpy(), np.eye(3))
    assert kitty.eye(3).dtype == np.float32
    np.testing.assert_array_equal(kitty.eye(2, 3, dtype=kitty.float64).numpy(), np.eye(2, 3))
    assert kitty.eye(2, 3, dtype=kitty.float64).dtype == np.float64
    with pytest.raises(RuntimeError, match="negative dimension"):
        kitty.eye(-1)


def test_created_tensors_own_their_memory():
    a, b = kitty.zeros(2), kitty.zeros(2)
    a.numpy()[0] = 1
    assert b.tolist() == [0., 0.]
