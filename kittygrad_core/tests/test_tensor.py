"""Core alone and the Tensor: construction rules, autograd attributes, conversions, repr."""
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import kittygrad_core as kitty
from kittygrad_core import _registry

# ----------------------------------------------------------------------------- core without plugins


def test_core_imports_without_any_plugin():
    assert os.environ["KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD"] == "1"
    assert kitty.plugins.plugins == {}
    assert len(kitty.registry) == 0
    assert kitty.tensor([1., 2.]).shape == (2,)


def test_core_imports_in_a_fresh_interpreter_without_plugins():
    env = dict(os.environ, KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD="1",
               PYTHONPATH=os.path.dirname(os.path.dirname(kitty.__file__)))
    code = "import kittygrad_core as k; print(len(k.registry), k.tensor([[1, 2]]).shape)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            check=True)
    assert result.stdout.split() == ["0", "(1,", "2)"]


@pytest.mark.parametrize("call, attribute, op, dist", [
    (lambda t: t + 1, "__add__", "add", "kittygrad-ops"),
    (lambda t: 1 + t, "__radd__", "add", "kittygrad-ops"),
    (lambda t: t * t, "__mul__", "mul", "kittygrad-ops"),
    (lambda t: -t, "__neg__", "neg", "kittygrad-ops"),
    (lambda t: t[0], "__getitem__", "getitem", "kittygrad-ops"),
    (lambda t: kitty.exp(t), "exp", "exp", "kittygrad-ops"),
    (lambda t: t.exp(), "exp", "exp", "kittygrad-ops"),
    (lambda t: t.sum(), "sum", "sum", "kittygrad-ops"),
    (lambda t: kitty.multiply(t, t), "multiply", "mul", "kittygrad-ops"),
    (lambda t: kitty.conv2d(t, t), "conv2d", "conv2d", "kittygrad-conv"),
])
def test_a_declared_name_without_its_plugin_names_the_op_and_distribution(declared, call, attribute, op,
                                                                          dist):
    t = kitty.tensor([1.])
    with pytest.raises(kitty.MissingOpError,
                       match=rf"'{attribute}' belongs to op '{op}' of the distribution '{dist}', "
                             rf"whose plugin is not loaded: blocked \(KITTYGRAD_BLOCK_PLUGINS\)"
                             rf".*pip install {dist}") as info:
        call(t)
    assert isinstance(info.value, NotImplementedError) and isinstance(info.value, AttributeError)


def test_the_message_names_the_module_or_type_looked_up(declared):
    with pytest.raises(AttributeError,
                       match="^module 'kittygrad_core' has no attribute 'exp': 'exp' belongs"):
        kitty.exp  # noqa: B018
    with pytest.raises(AttributeError, match="^'Tensor' object has no attribute 'exp': 'exp' belongs"):
        kitty.tensor([1.]).exp  # noqa: B018
    with pytest.raises(AttributeError,
                       match=r"^'Tensor' object has no operator \+ \('__add__'\): '__add__' b"):
        kitty.tensor([1.]) + 1


def test_a_missing_declared_name_is_also_an_attribute_error(declared):
    t = kitty.tensor([1.])
    assert not hasattr(t, "exp")
    assert not hasattr(kitty, "exp")
    assert not hasattr(kitty, "conv2d")


def test_a_name_nobody_declares_is_a_plain_attribute_error(declared):
    with pytest.raises(AttributeError, match="^'Tensor' object has no attribute 'no_such_thing'$") as info:
        kitty.tensor([1.]).no_such_thing  # noqa: B018
    assert not isinstance(info.value, NotImplementedError)
    with pytest.raises(AttributeError,
                       match="^module 'kittygrad_core' has no attribute 'no_such_thing'$") as info:
        kitty.no_such_thing  # noqa: B018
    assert not isinstance(info.value, NotImplementedError)
    with pytest.raises(AttributeError, match="^module 'kittygrad_core' has no attribute '__add__'$"):
        kitty.__add__  # noqa: B018  (a module's dunders are never ops, declared or not)


@pytest.mark.parametrize("call, symbol, attribute", [
    (lambda t: t @ t, "@", "__matmul__"), (lambda t: 2 @ t, "@", "__rmatmul__"),
    (lambda t: t - 1, "-", "__sub__"), (lambda t: t & t, "&", "__and__"),
    (lambda t: abs(t), r"abs\(\)", "__abs__"), (lambda t: ~t, "unary ~", "__invert__"),
])
def test_an_operator_nobody_declares_is_a_type_error_naming_the_standard_distribution(declared, call,
                                                                                      symbol, attribute):
    with pytest.raises(TypeError, match=rf"^'Tensor' object has no operator {symbol}: no installed plugin "
                                        rf"provides '{attribute}'. The standard ops come from the "
                                        r"distribution 'kittygrad-ops' \(pip install kittygrad-ops\)\.$"):
        call(kitty.tensor([1.]))


def test_an_undeclared_operator_lets_the_other_operand_answer(declared):
    class Other:
        def __rsub__(self, tensor):
            return "other's answer"
    assert kitty.tensor([1.]) - Other() == "other's answer"


def test_an_undeclared_inplace_operator_falls_back_to_the_plain_one(declared):
    class Sub(kitty.Op):
        """Subtracts other from input."""
        name = "sub"
        operators = ("__sub__",)
        functions, methods = (), ()

        def forward(self, xp, input, other):
            return input - other
    tensor_type = type("FakeTensor", (kitty.Tensor,), {"__slots__": ()})
    kitty.OpRegistry(types.ModuleType("fake"), tensor_type).register(Sub)
    t = tensor_type([3.])
    t -= tensor_type([1.])  # no op binds __isub__ and nobody declares it: Python falls back to __sub__
    assert t.tolist() == [2.]


def test_without_any_declaration_every_missing_name_is_plain(monkeypatch):
    monkeypatch.setattr(_registry, "_declared", dict)
    with pytest.raises(AttributeError, match="^module 'kittygrad_core' has no attribute 'exp'$"):
        kitty.exp  # noqa: B018
    with pytest.raises(TypeError, match="no installed plugin provides '__add__'"):
        kitty.tensor([1.]) + 1


def provides_entry(name, op, dist):
    return types.SimpleNamespace(name=name, attr=op, dist=types.SimpleNamespace(name=dist))


def test_declarations_come_from_the_provides_group_and_are_never_loaded():
    class Unloadable:
        name, attr, dist = "conv2d", "conv2d", types.SimpleNamespace(name="kittygrad-conv")

        def load(self):
            raise AssertionError("core must not load a kittygrad.provides entry point")
    other = provides_entry("conv2d", "convolution", "aaa-conv")
    assert _registry.declarations([Unloadable(), other, Unloadable()]) == {
        "conv2d": [("convolution", "aaa-conv"), ("conv2d", "kittygrad-conv")]}
    standard = provides_entry("conv2d", "conv2d", "kittygrad-ops")
    assert _registry.declarations([other, standard])["conv2d"][0] == ("conv2d", "kittygrad-ops")
    assert kitty.PROVIDES_GROUP == "kittygrad.provides"


# ----------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("data", [[1, 2, 3], [True, False], 3, 2.5, [[1.5], [2]]])
def test_python_data_becomes_float32(data):
    assert kitty.tensor(data).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_float_ndarray_keeps_its_dtype(dtype):
    assert kitty.tensor(np.zeros(3, dtype=dtype)).dtype == dtype


def test_tensor_shares_a_float_array_and_copies_otherwise():
    """The original kittygrad's rule: a NumPy array of a supported dtype is used as is (no copy) when no
    cast is requested; a cast, other dtypes and Python data give a fresh array."""
    array = np.zeros(3)
    t = kitty.tensor(array)
    array[0] = 1
    assert t.numpy()[0] == 1
    cast = kitty.tensor(array, dtype=kitty.float32)
    array[0] = 2
    assert cast.numpy()[0] == 1
    nested = [0.0, 0.0]
    assert kitty.tensor(nested).numpy().base is None


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.uint16, np.bool_])
def test_non_float_ndarray_warns_and_converts(dtype):
    with pytest.warns(UserWarning, match=f"unsupported data type '{np.dtype(dtype)}'.*float32"):
        t = kitty.tensor(np.ones(2, dtype=dtype))
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.numpy(), [1., 1.])


def test_explicit_dtype_converts():
    assert kitty.tensor([1, 2], dtype=kitty.float64).dtype == np.float64
    assert kitty.tensor(np.ones(2, dtype=np.int32), dtype="float16").dtype == np.float16


@pytest.mark.parametrize("dtype", [np.int32, "int64", np.complex64, bool])
def test_explicit_unsupported_dtype_raises(dtype):
    with pytest.raises(TypeError, match="is not supported"):
        kitty.tensor([1, 2], dtype=dtype)


def test_not_understood_dtype_raises():
    with pytest.raises(TypeError, match="not understood"):
        kitty.tensor([1.], dtype="floaty")


@pytest.mark.parametrize("data", ["abc", ["a", "b"], np.array(["x"]), [object()], None])
def test_non_numeric_data_raises_type_error(data):
    with pytest.raises(TypeError, match="cannot build a tensor"):
        kitty.tensor(data)


def test_ragged_data_raises_value_error():
    with pytest.raises(ValueError, match="could not build a tensor from list"):
        kitty.tensor([[1, 2], [3]])


def test_tensor_from_tensor_is_refused():
    with pytest.raises(RuntimeError, match=r"detach\(\)"):
        kitty.tensor(kitty.tensor([1.]))


# ----------------------------------------------------------------------------- autograd attributes


def test_leaf_attributes():
    t = kitty.tensor([1., 2.], requires_grad=True)
    assert t.is_leaf and t.grad_fn is None and t.grad is None and t.requires_grad
    assert not t.retains_grad and t.version == 0
    assert t.requires_grad_(False) is t and not t.requires_grad


def test_requires_grad_setter_on_non_leaf_raises(ops):
    y = kitty.tensor([1.], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"^You can only change requires_grad flags of leaf "
                                           r"variables\.$"):
        y.requires_grad = True
    with pytest.raises(RuntimeError, match="use var_no_grad = var.detach()"):
        y.requires_grad = False
    assert y.requires_grad


class TestGradAssignment:
    def test_valid_assignment(self):
        t = kitty.tensor([1., 2.], requires_grad=True)
        g = kitty.tensor([3., 4.])
        t.grad = g
        assert t.grad is g
        t.grad = None
        assert t.grad is None

    def test_type(self):
        t = kitty.tensor([1., 2.], requires_grad=True)
        with pytest.raises(TypeError, match="expected to be a Tensor or None but got grad of 'ndarray'"):
            t.grad = np.ones(2, dtype=np.float32)

    def test_itself(self):
        t = kitty.tensor([1., 2.], requires_grad=True)
        with pytest.raises(RuntimeError, match="Can't assign Variable as its own grad"):
            t.grad = t

    def test_dtype(self):
        t = kitty.tensor([1., 2.], requires_grad=True)
        with pytest.raises(TypeError, match="^Assigned grad has data of a different type.$"):
            t.grad = kitty.tensor([1., 2.], dtype=kitty.float64)

    def test_shape(self):
        t = kitty.tensor([1., 2.], requires_grad=True)
        with pytest.raises(RuntimeError, match="^Assigned grad has data of a different size.$"):
            t.grad = kitty.tensor([1., 2., 3.])

    def test_assigning_to_a_tensor_without_requires_grad_warns_and_sets_it(self):
        t = kitty.tensor([1., 2.])
        with pytest.warns(UserWarning, match="doesn't need it"):
            t.grad = kitty.tensor([1., 1.])
        assert t.requires_grad


def test_reading_grad_of_non_leaf_warns(ops):
    y = kitty.tensor([1.], requires_grad=True) * 2
    with pytest.warns(UserWarning, match="is not a leaf Tensor is being accessed"):
        assert y.grad is None


def test_reading_grad_of_non_leaf_with_retain_grad_does_not_warn(ops, recwarn):
    y = kitty.tensor([1.], requires_grad=True) * 2
    y.retain_grad()
    assert y.retains_grad
    assert y.grad is None
    assert not recwarn.list


def test_retain_grad_without_requires_grad_raises():
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        kitty.tensor([1.]).retain_grad()


# ----------------------------------------------------------------------------- conversions and size


def test_item():
    assert kitty.tensor(2.5).item() == 2.5
    assert kitty.tensor([[2.5]]).item() == 2.5
    assert type(kitty.tensor([1.]).item()) is float
    with pytest.raises(RuntimeError, match="A Tensor with 2 elements cannot be converted to Scalar"):
        kitty.tensor([1., 2.]).item()


def test_numpy_shares_memory():
    t = kitty.tensor([1., 2.])
    t.numpy()[0] = 7
    assert t.numpy().tolist() == [7., 2.]
    assert t.tolist() == [7., 2.]


def test_detach_copies_as_in_the_original(ops):
    """The original kittygrad's detach() copies (torch's shares memory and version counter)."""
    x = kitty.tensor([1., 2.], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    assert not np.shares_memory(d.numpy(), y.numpy())
    d *= 3
    np.testing.assert_array_equal(y.numpy(), [2., 4.])
    assert d.version == 1 and y.version == 0
    d *= x  # a detached copy can take part in a recorded in-place op
    d.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6., 12.])


def test_data_shares_memory_but_not_version(ops):
    x = kitty.tensor([1., 2.])
    d = x.data
    d *= 2
    assert x.tolist() == [2., 4.]
    assert x.version == 0 and d.version == 1


def test_sizes():
    t = kitty.tensor(np.zeros((2, 3, 4)))
    assert t.nelement() == t.numel() == 24
    assert len(t) == 2
    assert t.size() == t.shape == (2, 3, 4)
    assert t.size(1) == 3
    assert t.ndim == t.dim() == 3
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(kitty.tensor(1.))


def test_type_and_dtype_conversion_names():
    assert kitty.tensor([1.]).type() == "kittygrad.float32"
    t = kitty.tensor([1.])
    assert t.type(kitty.float32) is t


def test_bool_and_float():
    assert bool(kitty.tensor([1.])) and not bool(kitty.tensor(0.))
    assert float(kitty.tensor([2.5])) == 2.5 and int(kitty.tensor(3.7)) == 3
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(kitty.tensor([1., 2.]))


@pytest.mark.parametrize("compare, expected", [
    (lambda a, b: a == b, [False, True, False]),
    (lambda a, b: a != b, [True, False, True]),
    (lambda a, b: a < b, [True, False, False]),
    (lambda a, b: a <= b, [True, True, False]),
    (lambda a, b: a > b, [False, False, True]),
    (lambda a, b: a >= b, [False, True, True]),
])
def test_comparisons_return_boolean_arrays(compare, expected):
    a = kitty.tensor([1., 2., 3.], requires_grad=True)
    for b in (kitty.tensor([2., 2., 2.]), 2, np.array([2., 2., 2.])):
        result = compare(a, b)
        assert isinstance(result, np.ndarray) and result.dtype == np.bool_
        assert result.tolist() == expected


def test_tensor_is_hashable():
    t = kitty.tensor([1.])
    assert {t: 1}[t] == 1


# ----------------------------------------------------------------------------- repr


def test_repr_with_grad_fn(ops):
    a = kitty.tensor(2., requires_grad=True)
    assert repr(a * 7) == "tensor(14., grad_fn=<MulBackward>)"


def test_repr_vector():
    assert repr(kitty.tensor([-5., 4., 13.])) == "tensor([-5.,  4., 13.])"
    assert str(kitty.tensor([-5., 4., 13.])) == "tensor([-5.,  4., 13.])"


def test_repr_requires_grad():
    assert repr(kitty.tensor(3., requires_grad=True)) == "tensor(3., requires_grad=True)"


def test_repr_dtype_suffix():
    assert repr(kitty.tensor([1., 2.], dtype=kitty.float64)) == "tensor([1., 2.], dtype=float64)"
    assert (repr(kitty.tensor(1.5, dtype=kitty.float16, requires_grad=True))
            == "tensor(1.5, dtype=float16, requires_grad=True)")


def test_repr_matrix_aligns_rows():
    assert repr(kitty.tensor([[1., 2.], [3., 4.]])) == "tensor([[1., 2.],\n        [3., 4.]])"


def test_hot_attributes_are_slots_and_rare_ones_are_lazy():
    # The op path sets only the slots; rarely used attributes fall back to class defaults.
    assert {"_data", "_requires_grad", "_grad_fn", "_version"} <= set(kitty.Tensor.__slots__)
    t = kitty.tensor([1.])
    assert t.__dict__ == {} and t._base is None and t._grad is None and not t._retains_grad


def test_requires_grad_of_a_non_leaf_is_checked_as_a_bool_first():
    # an array used to reach the leaf check's message, whose `if value` raised NumPy's ambiguity error
    x = kitty.tensor([1.0, 2.0], requires_grad=True)
    y = kitty.tensor(x.numpy())
    y._grad_fn = kitty.AccumulateGrad(x)  # any node: y is not a leaf
    with pytest.raises(TypeError, match="requires_grad must be a bool, not ndarray"):
        y.requires_grad_(np.array([], dtype=np.int64))
