"""The extension API (kittygrad_core.extend): what plugins use instead of core's private modules."""
import numpy as np
import pytest

import kittygrad_core as kitty
from kittygrad_core import extend


def test_write_changes_data_and_version_together_and_records_nothing(ops):
    x = kitty.tensor([1., 2., 3.], requires_grad=True)
    y = kitty.exp(x)  # saves its output
    extend.write_(y, 0., slice(0, 2))
    assert y.tolist()[:2] == [0., 0.] and y.version == 1 and y.grad_fn.name == "exp"
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        kitty.sum(y).backward()
    z = kitty.zeros(2, dtype=kitty.float64)
    extend.write_(z, kitty.ones(2))  # a tensor value, cast to the target's dtype
    assert z.tolist() == [1., 1.] and z.dtype == np.float64 and z.version == 1


def test_write_refuses_read_only_data():
    array = np.ones(2, dtype=np.float32)
    array.flags.writeable = False
    with pytest.raises(RuntimeError, match="read-only"):
        extend.write_(extend.wrap(array), 0.)


def test_wrap_shares_the_array_and_init_tensor_builds_a_subclass():
    array = np.arange(3.)
    t = extend.wrap(array, requires_grad=True)
    assert t.numpy() is array and t.requires_grad and t.is_leaf and t.version == 0

    class Param(kitty.Tensor):
        __slots__ = ()

        def __init__(self, data):
            extend.init_tensor(self, data, requires_grad=True)

    p = Param(array)
    assert p.numpy() is array and p.requires_grad and p.grad is None and p.grad_fn is None
    with pytest.raises(TypeError, match="floating NumPy array"):
        Param([1, 2])


def test_call_reaches_an_op_by_name(ops):
    assert extend.call("mul", kitty.tensor([2.]), kitty.tensor([3.])).tolist() == [6.]


def test_dtype_helpers_are_the_tensor_rules():
    assert extend.resolve_dtype("float64") == np.float64
    assert extend.as_float_array([1, 2]).dtype == extend.DEFAULT_DTYPE
    assert extend.result_dtype([(np.dtype(np.float32), 1), (np.dtype(np.float64), 0)]) == np.float32


def test_data_assignment_swaps_the_array():
    t = kitty.ones(2)
    t.data = kitty.zeros(3, dtype=kitty.float64)
    assert t.shape == (3,) and t.dtype == np.float64
    with pytest.raises(TypeError, match="must be set to a Tensor"):
        t.data = [1.]


def test_init_tensor_around_a_tensor_shares_memory_and_version_counter():
    source = kitty.ones(3)
    alias = kitty.Tensor.__new__(kitty.Tensor)
    extend.init_tensor(alias, source, requires_grad=True)
    assert alias.numpy() is source.numpy() and alias.requires_grad and alias.is_leaf
    extend.write_(source, 2.)
    assert alias.version == 1 and alias.tolist() == [2., 2., 2.]
    fresh = kitty.Tensor.__new__(kitty.Tensor)
    extend.init_tensor(fresh, source.numpy())  # an array: a counter of its own
    extend.write_(source, 3.)
    assert fresh.version == 0 and alias.version == 2


def test_node_output_is_the_shape_and_dtype_the_gradient_must_have(ops):
    x = kitty.ones(2, 3, dtype=kitty.float64, requires_grad=True)
    y = kitty.t(x * 2.)
    assert extend.node_output(y.grad_fn) == ((3, 2), np.float64)
    leaf = y.grad_fn.next_functions[0].next_functions[0]
    assert extend.node_output(leaf) == ((2, 3), np.float64)
    assert extend.node_output(object()) is None
