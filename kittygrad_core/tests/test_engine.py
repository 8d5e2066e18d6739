"""The lock-based backward engine, with PyTorch (float64) as the oracle."""
import gc
import time

import numpy as np
import pytest

import kittygrad_core as kitty

pytestmark = pytest.mark.usefixtures("ops")

MIDDLE = "A .backward\\(\\) call from the middle of the computational graph was noticed."
NOT_COMPLETED = "Backpropagation not completed"
SECOND = "Trying to backward through the graph a second time."


def leaves(torch, *arrays):
    """The same float64 data as kittygrad and torch leaves requiring grad."""
    kitty_leaves = [kitty.tensor(a, requires_grad=True) for a in arrays]
    torch_leaves = [torch.tensor(a, requires_grad=True) for a in arrays]
    return kitty_leaves, torch_leaves


def assert_grads_equal(kitty_leaves, torch_leaves):
    for k, t in zip(kitty_leaves, torch_leaves):
        assert k.grad is not None, "missing gradient"
        assert k.grad.dtype == np.dtype(str(t.grad.dtype).removeprefix("torch."))
        np.testing.assert_allclose(k.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def multi_use(x, y, exp):
    a = x * y
    b = exp(a)
    c = a * b + x      # a used twice, x used twice
    d = c * c * a      # c used twice, a a third time
    return d + b * 3


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (3, 4))


def test_multi_use_graph_matches_torch(torch, data):
    (kx, ky), (tx, ty) = leaves(torch, *data)
    kitty.sum(multi_use(kx, ky, kitty.exp)).backward()
    multi_use(tx, ty, torch.exp).sum().backward()
    assert_grads_equal([kx, ky], [tx, ty])


def test_gradients_accumulate_over_backward_calls(torch, data):
    (kx, ky), (tx, ty) = leaves(torch, *data)
    for _ in range(2):
        multi_use(kx, ky, kitty.exp).sum().backward()
        multi_use(tx, ty, torch.exp).sum().backward()
    assert_grads_equal([kx, ky], [tx, ty])


def test_same_tensor_as_both_operands(torch):
    (kx,), (tx,) = leaves(torch, np.array([1., -2., 3.]))
    (kx * kx).sum().backward()
    (tx * tx).sum().backward()
    assert_grads_equal([kx], [tx])


def test_backward_from_the_middle_of_the_graph_warns():
    x = kitty.tensor([1., 2.], requires_grad=True)
    a = x * 3
    b = a * 2  # noqa: F841 - a has a consumer that will never send it a gradient
    with pytest.warns(UserWarning, match=MIDDLE):
        a.backward(kitty.tensor([1., 1.]))
    assert x.grad.tolist() == [3., 3.]


def test_unfinished_backpropagation_warns_and_a_later_backward_completes_it(torch, data):
    def outputs(x, y, exp):
        shared = x * y * x
        return (exp(shared) * y).sum(), (shared * shared).sum()

    (kx, ky), (tx, ty) = leaves(torch, *data)
    first, second = outputs(kx, ky, kitty.exp)
    with pytest.warns(UserWarning, match=NOT_COMPLETED):
        first.backward()
    assert kx.grad is None  # the shared subgraph still waits for the second output's gradient
    second.backward()
    t_first, t_second = outputs(tx, ty, torch.exp)
    (t_first + t_second).backward()
    assert_grads_equal([kx, ky], [tx, ty])


def test_second_backward_raises():
    x = kitty.tensor([1., 2.], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=SECOND):
        loss.backward()


def test_backward_into_a_consumed_subgraph_raises():
    x = kitty.tensor([1., 2.], requires_grad=True)
    a = x * x
    a.sum().backward()
    later = a * 2  # built on a node that already ran
    with pytest.raises(RuntimeError, match=SECOND):
        later.sum().backward()


def test_non_scalar_backward_needs_a_gradient():
    x = kitty.tensor([1., 2.], requires_grad=True)
    with pytest.raises(RuntimeError, match="^Gradient can be implicitly created only for scalar outputs.$"):
        (x * 2).backward()


def test_one_element_non_scalar_backward_needs_a_gradient_as_in_the_original():
    """torch accepts any one-element output; the original kittygrad only a 0-d one."""
    x = kitty.tensor([[3.]], requires_grad=True)
    with pytest.raises(RuntimeError, match="^Gradient can be implicitly created only for scalar outputs.$"):
        (x * x).backward()
    (x * x).sum().backward()
    assert x.grad.tolist() == [[6.]]


@pytest.mark.parametrize("bad, error, text", [
    (kitty.tensor([1., 1., 1.]), RuntimeError, "Assigned grad has data of a different size."),
    (kitty.tensor([1., 1.], dtype=kitty.float64), TypeError, "Assigned grad has data of a different type.")])
def test_backward_of_a_leaf_checks_the_gradient_as_an_assignment(bad, error, text):
    x = kitty.tensor([1., 2.], requires_grad=True)
    with pytest.raises(error, match=f"^{text}$"):
        x.backward(bad)
    assert x.grad is None
    x.backward(kitty.tensor([1., 2.]))
    assert x.grad.tolist() == [1., 2.]


def test_backward_with_an_explicit_gradient():
    x = kitty.tensor([1., 2.], requires_grad=True)
    (x * 3).backward(kitty.tensor([1., 10.]))
    assert x.grad.tolist() == [3., 30.]


def test_initial_gradient_shape_is_checked():
    y = kitty.tensor([1., 2.], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="^Initial gradient has data of a different size.$"):
        y.backward(kitty.tensor([1., 1., 1.]))


def test_initial_gradient_dtype_is_checked():
    y = kitty.tensor([1., 2.], requires_grad=True) * 2
    with pytest.raises(TypeError, match="^Initial gradient has data of a different type.$"):
        y.backward(kitty.tensor([1., 1.], dtype=kitty.float64))


def test_initial_gradient_must_be_a_tensor():
    y = kitty.tensor([1., 2.], requires_grad=True) * 2
    with pytest.raises(TypeError, match="gradient must be a Tensor, got ndarray"):
        y.backward(np.ones(2, dtype=np.float32))


def test_backward_of_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (kitty.tensor([1.]) * 2).sum().backward()


def test_backward_on_a_leaf_accumulates_into_its_grad():
    x = kitty.tensor(2., requires_grad=True)
    x.backward()
    x.backward()
    assert x.grad.item() == 2.


def test_retain_grad_on_non_leaves(torch, data):
    (kx, ky), (tx, ty) = leaves(torch, *data)
    results = []
    for x, y, exp in ((kx, ky, kitty.exp), (tx, ty, torch.exp)):
        a = x * y
        a.retain_grad()
        b = exp(a) * a
        b.retain_grad()
        (b * x).sum().backward()
        results.append((a, b))
    (ka, kb), (ta, tb) = results
    assert_grads_equal([ka, kb, kx, ky], [ta, tb, tx, ty])


def test_non_leaves_do_not_keep_their_grad_by_default():
    x = kitty.tensor([1., 2.], requires_grad=True)
    a = x * 2
    (a * a).sum().backward()
    with pytest.warns(UserWarning, match="not a leaf"):
        assert a.grad is None


def test_leaves_have_accumulate_grad_nodes_as_next_functions():
    x = kitty.tensor([1., 2.], requires_grad=True)
    y = kitty.tensor([3., 4.], requires_grad=True)
    z = x * y
    acc_x, acc_y = z.grad_fn.next_functions
    assert isinstance(acc_x, kitty.AccumulateGrad) and isinstance(acc_y, kitty.AccumulateGrad)
    assert acc_x.variable is x and acc_y.variable is y
    assert acc_x.next_functions == ()
    assert (x * 5).grad_fn.next_functions[0] is acc_x  # one cached node per leaf
    assert (x * kitty.tensor([1., 1.])).grad_fn.next_functions[1] is None
    w = z * 2
    assert w.grad_fn.next_functions == (z.grad_fn, None)
    assert f"{w.grad_fn}" == "<MulBackward>"
    assert w.grad_fn.name == "mul"
    assert w.grad_fn.needs_input_grad == (True, False)


def test_saved_arrays_are_released_once_the_node_ran():
    x = kitty.tensor([1., 2.], requires_grad=True)
    y = kitty.exp(x * x)
    mul, exp = y.grad_fn.next_functions[0], y.grad_fn
    assert set(vars(mul)) == {"input", "other"} and set(vars(exp)) == {"out"}
    kitty.sum(y).backward()
    assert vars(mul) == {} and vars(exp) == {}


def test_no_graph_is_recorded_without_requires_grad():
    y = kitty.tensor([1.]) * kitty.tensor([2.])
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf


def test_a_million_node_chain_backpropagates_iteratively():
    x = kitty.tensor(1., requires_grad=True)
    y = x
    for _ in range(1_000_000):
        y = y + 1.
    start = time.perf_counter()
    y.backward()
    elapsed = time.perf_counter() - start
    print(f"backward through 1,000,000 ops: {elapsed:.2f} s")
    assert y.item() == 1_000_001.
    assert x.grad.item() == 1.
    del y  # freeing the chain must not recurse either
    gc.collect()


@pytest.mark.parametrize("op, message", [
    (lambda x: x.wrong_count(), r"WrongCountBackward of op 'wrong_count'.*returned 2 gradients for 1 "
                                r"inputs"),
    (lambda x: x.wrong_shape(), r"WrongShapeBackward of op 'wrong_shape'.*gradient of shape \(2, 2\) "
                                r"for input 0, whose shape is \(2,\)"),
    (lambda x: x.wrong_dtype(), r"WrongDtypeBackward of op 'wrong_dtype'.*gradient of dtype float64 "
                                r"for input 0, whose dtype is float32"),
    (lambda x: x.int_grad(), r"IntGradBackward of op 'int_grad'.*expected a floating array"),
])
def test_engine_rejects_broken_backward_rules(wrong_ops, op, message):
    x = kitty.tensor([1., 2.], requires_grad=True)
    with pytest.raises(RuntimeError, match=message):
        op(x).sum().backward()


def test_broken_rule_names_the_distribution_that_registered_it(wrong_ops):
    x = kitty.tensor([1., 2.], requires_grad=True)
    with pytest.raises(RuntimeError, match="registered by kittygrad-core-tests"):
        x.wrong_count().sum().backward()


@pytest.mark.parametrize("shape_x, shape_y", [((3, 1), (4,)), ((2, 3, 4), (3, 1)), ((), (2, 2)),
                                              ((1, 4), (3, 1)), ((5,), (5,))])
def test_broadcast_gradients_are_reduced_to_input_shapes(torch, shape_x, shape_y):
    rng = np.random.default_rng(1)
    (kx, ky), (tx, ty) = leaves(torch, rng.normal(size=shape_x), rng.normal(size=shape_y))
    (kx * ky + kx).sum().backward()
    (tx * ty + tx).sum().backward()
    assert kx.grad.shape == shape_x and ky.grad.shape == shape_y
    assert_grads_equal([kx, ky], [tx, ty])


def test_shapes_that_do_not_broadcast_raise():
    with pytest.raises(RuntimeError, match=r"mul\(\): shapes \(2,\), \(3,\) cannot be broadcast"):
        kitty.tensor([1., 2.]) * kitty.tensor([1., 2., 3.])


def test_float32_times_float64_promotes_and_keeps_input_grad_dtypes(torch):
    k32 = kitty.tensor([1., 2.], requires_grad=True)
    k64 = kitty.tensor([3., 4.], dtype=kitty.float64, requires_grad=True)
    out = k32 * k64
    assert out.dtype == np.float64
    out.sum().backward()
    assert k32.grad.dtype == np.float32 and k64.grad.dtype == np.float64
    t32 = torch.tensor([1., 2.], requires_grad=True)
    t64 = torch.tensor([3., 4.], dtype=torch.float64, requires_grad=True)
    (t32 * t64).sum().backward()
    assert_grads_equal([k32, k64], [t32, t64])


def test_zero_dim_float64_times_one_dim_float32_gives_float32(torch):
    k0 = kitty.tensor(2., dtype=kitty.float64, requires_grad=True)
    k1 = kitty.tensor([3., 4.], requires_grad=True)
    t0 = torch.tensor(2., dtype=torch.float64, requires_grad=True)
    t1 = torch.tensor([3., 4.], requires_grad=True)
    out, t_out = k0 * k1, t0 * t1
    assert t_out.dtype == torch.float32
    assert out.dtype == np.float32
    out.sum().backward()
    t_out.sum().backward()
    assert_grads_equal([k0, k1], [t0, t1])


@pytest.mark.parametrize("scalar", [2, 2.5, True, np.float64(2.5), np.int64(3)])
def test_python_and_numpy_scalars_do_not_promote(scalar):
    x = kitty.tensor([1., 2.], requires_grad=True)
    for out in (x * scalar, scalar * x):
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), np.array([1., 2.]) * float(scalar))


def test_ndarray_operand_promotes_like_a_tensor():
    x = kitty.tensor([1., 2.])
    assert (x * np.array([1., 2.])).dtype == np.float64
    assert (x * np.array([1, 2])).dtype == np.float32


def test_view_op_gradient(torch):
    rng = np.random.default_rng(2)
    (kx,), (tx,) = leaves(torch, rng.normal(size=(2, 3)))
    w = rng.normal(size=(3, 2))
    (kx.t() * kitty.tensor(w)).sum().backward()
    (tx.t() * torch.tensor(w)).sum().backward()
    assert_grads_equal([kx], [tx])


def test_leaves_never_share_a_gradient_array():
    # add's rule returns the same array for both inputs: each leaf must still own its .grad.
    a, b = kitty.tensor([1., 2.], requires_grad=True), kitty.tensor([3., 4.], requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.numpy()[:] = 0
    assert b.grad.tolist() == [1., 1.]


def test_a_leaf_gradient_is_independent_of_the_initial_gradient():
    a = kitty.tensor([1., 2.], requires_grad=True)
    seed = kitty.tensor([5., 6.])
    (a * 1).backward(seed)
    seed.numpy()[:] = 0
    assert a.grad.tolist() == [5., 6.]
    (a * 1).backward(kitty.tensor([1., 1.]))
    assert a.grad.tolist() == [6., 7.] and seed.tolist() == [0., 0.]
