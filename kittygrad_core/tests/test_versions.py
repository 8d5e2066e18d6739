"""Version counters: in-place ops, views sharing counters, and the checks of saved tensors."""
from contextlib import nullcontext

import numpy as np
import pytest

import kittygrad_core as kitty

pytestmark = pytest.mark.usefixtures("ops")

MODIFIED = "modified by an inplace operation"


def test_inplace_operator_bumps_version_and_returns_the_same_tensor():
    t = kitty.tensor([1., 2.])
    alias = t
    t *= 3
    assert t is alias
    assert t.version == 1 and t.tolist() == [3., 6.]
    assert t.mul_(2) is t
    assert t.version == 2 and t.tolist() == [6., 12.]


def test_out_of_place_op_does_not_bump_version():
    t = kitty.tensor([1., 2.])
    t * 3
    assert t.version == 0


def test_view_shares_memory_and_version_with_its_base():
    base = kitty.tensor([[1., 2.], [3., 4.]])
    view = base.t()
    assert np.shares_memory(view.numpy(), base.numpy())
    view *= 10
    assert base.tolist() == [[10., 20.], [30., 40.]]
    assert base.version == view.version == 1
    base += 1
    assert view.version == 2 and view.tolist() == [[11., 31.], [21., 41.]]


def test_view_of_a_view_shares_the_counter():
    base = kitty.tensor([[1., 2.]])
    view = base.t().t()
    view.mul_(2)
    assert base.version == 1 and base.tolist() == [[2., 4.]]


def test_view_of_a_tensor_requiring_grad_is_part_of_the_graph(torch):
    x = kitty.tensor([[1., 2.], [3., 4.]], requires_grad=True)
    v = x.t()
    assert v.grad_fn is not None and f"{v.grad_fn}" == "<TBackward>"
    assert v.version == x.version


def test_modifying_a_saved_input_before_backward_raises():
    x = kitty.tensor([1., 2.], requires_grad=True)
    y = kitty.tensor([3., 4.])
    z = x * y  # mul saves y
    y *= 2
    with pytest.raises(RuntimeError) as info:
        z.sum().backward()
    # the original kittygrad's exact text, then a note with the versions and the node
    assert str(info.value) == ("One of the variables needed for gradient computation has been modified "
                               "by an inplace operation.")
    assert info.value.__notes__ == ["The variable is at version 1; expected version 0 instead. Raised by "
                                    "MulBackward of op 'mul' (registered by kittygrad-core-tests, plugin "
                                    "'core-tests')."]


def test_modifying_a_saved_output_before_backward_raises():
    x = kitty.tensor([1., 2.], requires_grad=True)
    e = kitty.exp(x)  # exp saves its output
    e *= 2
    with pytest.raises(RuntimeError, match=f"(?s){MODIFIED}.*ExpBackward"):
        e.sum().backward()


def test_modifying_a_saved_tensor_through_a_view_raises():
    x = kitty.tensor([[1., 2.]], requires_grad=True)
    y = kitty.tensor([[3., 4.]])
    z = x * y
    y.t().mul_(2)
    with pytest.raises(RuntimeError, match=MODIFIED):
        z.sum().backward()


def test_modifying_an_unsaved_input_is_fine():
    x = kitty.tensor([1., 2.], requires_grad=True)
    y = kitty.tensor([3., 4.])
    z = x + y  # add saves nothing
    y *= 2
    z.sum().backward()
    assert x.grad.tolist() == [1., 1.]


def test_inplace_on_a_non_leaf_is_recorded(torch):
    data = np.array([1., -2., 3.])
    k_leaf, t_leaf = kitty.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for leaf in (k_leaf, t_leaf):
        a = leaf * 2
        a *= leaf  # saves a copy of a's old value, since backward needs it
        a += leaf
        (a * a).sum().backward()
    np.testing.assert_allclose(k_leaf.grad.numpy(), t_leaf.grad.numpy())
    a = k_leaf * 2
    a *= 3
    assert f"{a.grad_fn}" == "<MulBackward>" and a.version == 1 and not a.is_leaf


def test_inplace_on_a_leaf_requiring_grad_raises():
    x = kitty.tensor([1., 2.], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        x *= 2
    assert str(info.value) == "A leaf Variable that requires grad is being used in an in-place operation."
    assert x.version == 0 and x.tolist() == [1., 2.]


def test_inplace_on_a_view_of_a_leaf_requiring_grad_raises():
    x = kitty.tensor([[1., 2.]], requires_grad=True)
    v = x.t()
    with pytest.raises(RuntimeError,
                       match=r"(?s)^A leaf Variable that requires grad.*in-place mul on a view of a leaf"):
        v *= 2
    assert x.version == 0 and x.tolist() == [[1., 2.]]
    with kitty.no_grad():
        v *= 2
    assert x.version == v.version == 1 and x.tolist() == [[2., 4.]]


def test_recorded_inplace_on_a_view_rewrites_the_base_history(torch):
    # torch's CopySlices: the base's gradient takes the view's region from the in-place op.
    results = []
    for lib in (kitty, torch):
        x = lib.tensor([[1., 2.], [3., 4.]], requires_grad=True)
        w = lib.tensor([5., 6.], requires_grad=True)
        base = x * 1
        earlier = base.t()  # a view created before the in-place op: its history is refreshed
        view = base.t()
        view *= w
        (base * base + earlier.t()).sum().backward()
        results.append((base.tolist(), x.grad.tolist(), w.grad.tolist()))
    assert results[0] == results[1]


def test_an_unused_view_does_not_hold_the_backward_back():
    x = kitty.tensor([1., 2., 3., 4.], requires_grad=True)
    y = x * 2
    first, _unused = y.t(), y.t()
    first.sum().backward()
    assert x.grad.tolist() == [2., 2., 2., 2.]


def test_inplace_that_would_change_dtype_raises():
    t = kitty.tensor([1., 2.])
    with pytest.raises(RuntimeError, match="^Output with dtype 'float32' doesn't match the promotion "
                                           "dtype 'float64'.\n"):
        t *= kitty.tensor([1., 2.], dtype=kitty.float64)
    assert t.version == 0


def test_inplace_that_would_change_shape_raises():
    t = kitty.tensor([1., 2.])
    with pytest.raises(RuntimeError, match=r"^Output with shape \(2,\) doesn't match the broadcast "
                                           r"shape \(3, 2\).\n"):
        t *= kitty.tensor(np.ones((3, 2), dtype=np.float32))
    assert t.version == 0 and t.tolist() == [1., 2.]


def test_inplace_with_a_broadcast_operand_of_smaller_shape_is_fine():
    t = kitty.tensor([[1., 2.], [3., 4.]])
    t *= kitty.tensor([10., 100.])
    assert t.tolist() == [[10., 200.], [30., 400.]]


def test_inplace_under_no_grad_on_a_leaf_requiring_grad_is_allowed():
    x = kitty.tensor([1., 2.], requires_grad=True)
    with kitty.no_grad():
        x *= 2
        x.add_(1)
    assert x.tolist() == [3., 5.]
    assert x.version == 2 and x.is_leaf and x.requires_grad
    (x * x).sum().backward()
    assert x.grad.tolist() == [6., 10.]


def test_inplace_on_read_only_data_raises():
    t = kitty.tensor([1., 2.])
    t.numpy().flags.writeable = False
    with pytest.raises(RuntimeError, match="read-only"):
        t *= 2


def test_retained_grad_follows_the_tensor_modified_in_place(torch):
    # As the original kittygrad: the node of the overwritten value warns instead of filling .grad.
    results = []
    for leaf in (kitty.tensor([1., 2.], requires_grad=True), torch.tensor([1., 2.], requires_grad=True)):
        a = leaf * 2
        a.retain_grad()
        a += 1  # add saves nothing, so backward may go through
        with pytest.warns(UserWarning, match="retains_grad=True and modified by inplace operation") \
                if isinstance(a, kitty.Tensor) else nullcontext():
            (a * a).sum().backward()
        results.append(a.grad.numpy())
    np.testing.assert_allclose(*results)


def test_retained_grad_is_not_filled_from_the_pre_modification_node():
    x = kitty.tensor([1., 2.], requires_grad=True)
    a = x * 2
    a.retain_grad()
    b = a + 0  # consumes the pre-modification a
    a += 1
    with pytest.warns(UserWarning, match="retains_grad=True and modified by inplace operation"):
        (a * b).sum().backward()
    assert a.grad.tolist() == [2., 4.]  # d(a*b)/da after the +=, with b = [2., 4.]


class Times(kitty.Op):
    """times(input, other) -> Tensor

    Multiplies; each input is read only for the other's gradient."""

    name = "times"
    functions, methods = ("times",), ()
    saves = {0: (1,), 1: (0,)}

    def forward(self, xp, input, other):
        self.input, self.other = input, other
        return input * other

    def backward(self, xp, grad):
        return grad * self.other, grad * self.input


@pytest.fixture
def times():
    kitty.registry.register(Times)
    yield kitty.times
    kitty.registry.unregister("times")


def test_an_input_is_checked_only_when_a_gradient_that_reads_it_is_needed(times):
    x = kitty.tensor([1., 2.], requires_grad=True)
    base = x * 1
    constant = kitty.tensor([3., 4.])
    y = times(base, constant)  # base is read only for constant's gradient, which nobody needs
    base += 1
    (y.sum() + base.sum()).backward()  # the in-place op consumed base's old node too (lock design)
    assert x.grad.tolist() == [4., 5.]
    w = kitty.tensor([3., 4.], requires_grad=True)
    base = x * 1
    z = times(base, w)  # now w's gradient reads base
    base += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        (z.sum() + base.sum()).backward()
