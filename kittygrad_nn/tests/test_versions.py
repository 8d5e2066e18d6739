"""kittygrad-nn writes tensors only through the public API and ``kittygrad_core.extend``: every in-place
write the library makes moves the tensor's version counter as torch's does, and sharing is torch's."""
import copy

import numpy as np
import pytest
import torch

import kittygrad_core as kitty
import kittygrad_nn as nn
from kittygrad_nn import Parameter, utils


def test_parameter_of_a_tensor_shares_its_version_counter_as_torch():
    t, ref = kitty.ones(2), torch.ones(2)
    p, ref_p = Parameter(t), torch.nn.Parameter(ref)
    t.add_(1.)
    with torch.no_grad():
        ref.add_(1.)
    assert p.version == ref_p._version == 1 and p.tolist() == ref_p.tolist()
    assert Parameter(np.ones(2, np.float32)).version == 0


def test_parameter_deepcopy_copies_data_and_flag_but_not_the_gradient_as_torch():
    p = Parameter(kitty.ones(2), requires_grad=False)
    p.requires_grad_(True)
    kitty.sum(p * 2.).backward()
    clone = copy.deepcopy(p)
    ref = torch.nn.Parameter(torch.ones(2))
    (ref * 2).sum().backward()
    assert clone.grad is None and copy.deepcopy(ref).grad is None
    assert clone.requires_grad and not np.shares_memory(clone.numpy(), p.numpy())
    pair = copy.deepcopy([p, p])
    assert pair[0] is pair[1]  # the memo is honoured


def test_double_converts_parameters_buffers_and_gradients():
    bn = nn.BatchNorm1d(3)
    bn(kitty.randn(4, 3)).sum().backward()
    version = bn.weight.version
    bn.double()
    assert bn.weight.dtype == bn.running_mean.dtype == np.float64
    assert bn.weight.grad.dtype == bn.bias.grad.dtype == np.float64
    assert bn.weight.version == version  # swapping the array is no in-place write (torch's .data rule)


def test_batch_norm_running_statistics_move_their_versions():
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    bn, ref = nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    names = ("running_mean", "running_var", "num_batches_tracked")
    before = [getattr(bn, name).version for name in names]
    ref_before = [getattr(ref, name)._version for name in names]
    for _ in range(2):
        bn(kitty.tensor(x))
        ref(torch.from_numpy(x))
    moved = [getattr(bn, name).version - v for name, v in zip(names, before)]
    ref_moved = [getattr(ref, name)._version - v for name, v in zip(names, ref_before)]
    # torch's kernel writes the running statistics without bumping their counters (it bumps
    # num_batches_tracked's); kittygrad bumps every write, so a graph that saved them notices
    assert moved == [2, 2, 2] and ref_moved[2] == 2
    np.testing.assert_allclose(bn.running_var.numpy(), ref.running_var.numpy(), rtol=1e-6)
    bn.eval()
    bn(kitty.tensor(x))
    assert [getattr(bn, name).version for name in names] == [v + 2 for v in before]


@pytest.mark.parametrize("set_to_none", [False, True])
def test_zero_grad_and_clipping_write_gradients_in_place(set_to_none):
    net = nn.Linear(3, 2)
    net(kitty.randn(4, 3)).sum().backward()
    grad = net.weight.grad
    utils.clip_grad_norm_(net.parameters(), 1e-3)
    assert grad.version == 1 and net.weight.grad is grad
    utils.clip_grad_value_(net.parameters(), 1e-4)
    assert grad.version == 2 and float(np.abs(grad.numpy()).max()) <= 1e-4
    net.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert net.weight.grad is None
    else:
        assert net.weight.grad is grad and grad.version == 3 and not grad.numpy().any()


def test_load_state_dict_and_optimizer_steps_move_the_parameters_versions():
    net, ref = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    assert net.weight.version == ref.weight._version == 1  # the initialiser's write
    state = {k: v.numpy() + 1 for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    assert net.weight.version == ref.weight._version == 2
    assert np.array_equal(net.weight.numpy(), state["weight"])
    net(kitty.randn(4, 3)).sum().backward()
    nn.optim.SGD(net.parameters(), lr=0.1).step()
    assert net.weight.version == net.bias.version == 3
