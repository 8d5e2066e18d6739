"""Module registration, traversal, modes, state dicts and repr, as PyTorch's."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import kittygrad_core as kitty
import kittygrad_nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU())
        self.head = nn.Linear(4, 2)
        self.scale = nn.Parameter(kitty.ones(2))
        self.register_buffer("offset", kitty.zeros(2))
        self.plain = 5

    def forward(self, x):
        return self.head(self.body(x)) * self.scale + self.offset


def test_registration_and_traversal():
    net = Net()
    names = [name for name, _ in net.named_parameters()]
    assert names == ["scale", "body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias",
                     "head.weight", "head.bias"]
    assert len(list(net.parameters())) == 7
    assert [name for name, _ in net.named_children()] == ["body", "head"]
    assert [name for name, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "body.2", "head"]
    assert [name for name, _ in net.named_buffers()] == ["offset", "body.1.running_mean", "body.1.running_var",
                                                       "body.1.num_batches_tracked"]
    assert isinstance(net.scale, nn.Parameter) and net.scale.requires_grad and net.scale.is_leaf
    assert net.plain == 5 and "plain" not in net._parameters
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, shared)
    assert len(list(seq.parameters())) == 2  # shared parameters once
    with pytest.raises(TypeError, match="cannot assign"):
        net.scale = kitty.ones(2)
    net.scale = None
    assert "scale" not in [n for n, _ in net.named_parameters()]
    del net.head
    assert not hasattr(net, "head")


def test_parameter_is_a_tensor_sharing_memory():
    t = kitty.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, kitty.Tensor) and p.requires_grad
    assert np.shares_memory(p.numpy(), t.numpy())
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    assert type(p * 2) is kitty.Tensor
    assert not nn.Parameter(kitty.ones(2), requires_grad=False).requires_grad
    clone = copy.deepcopy(p)
    assert isinstance(clone, nn.Parameter) and not np.shares_memory(clone.numpy(), p.numpy())


def test_train_eval_requires_grad_zero_grad_apply():
    net = Net()
    assert net.training and net.body[1].training
    assert net.eval() is net and not net.training and not net.body[1].training
    net.train()
    assert net.body[1].training
    net(kitty.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "BatchNorm1d", "ReLU", "Sequential", "Linear", "Net"]


def test_repr_like_torch():
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))
    torch_model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                      torch.nn.Linear(32, 10))
    assert repr(model) == repr(torch_model)
    for module, torch_module in [(nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)),
                                 (nn.LayerNorm(4), torch.nn.LayerNorm(4)),
                                 (nn.Embedding(5, 2, padding_idx=0), torch.nn.Embedding(5, 2, padding_idx=0)),
                                 (nn.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)), (nn.GELU(), torch.nn.GELU()),
                                 (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)), (nn.Flatten(), torch.nn.Flatten()),
                                 (nn.ModuleList([nn.Tanh()]), torch.nn.ModuleList([torch.nn.Tanh()]))]:
        assert repr(module) == repr(torch_module)


def test_containers():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    layers.append(nn.ReLU())
    assert len(layers) == 4 and isinstance(layers[-1], nn.ReLU) and len(layers[1:]) == 3
    assert len(list(layers.parameters())) == 6
    table = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.Tanh()})
    assert list(table) == ["a", "b"] and "a" in table and len(list(table.parameters())) == 2
    seq = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1))
    assert isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear) and len(seq[:2]) == 2
    assert seq(kitty.randn(4, 2)).shape == (4, 1)


def test_state_dict_round_trip_and_sharing():
    a, b = Net(), Net()
    state = a.state_dict()
    assert list(state) == ["scale", "offset", "body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias",
                           "body.1.running_mean", "body.1.running_var", "body.1.num_batches_tracked",
                           "head.weight", "head.bias"]
    assert all(type(v) is kitty.Tensor and not v.requires_grad for v in state.values())
    assert np.shares_memory(state["head.weight"].numpy(), a.head.weight.numpy())
    version = b.head.weight.version
    result = b.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.head.weight.version == version + 1
    x = kitty.randn(4, 3)
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    arrays = {k: v.numpy().copy() for k, v in state.items()}  # plain arrays load too
    b.load_state_dict(arrays)


def test_state_dict_keys_match_torch():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LayerNorm(4), nn.Embedding(3, 4))
    torch_model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.LayerNorm(4),
                                      torch.nn.Embedding(3, 4))
    assert list(model.state_dict()) == list(torch_model.state_dict())


def test_load_state_dict_errors():
    net = Net()
    state = dict(net.state_dict())
    del state["head.bias"]
    state["extra"] = kitty.zeros(1)
    with pytest.raises(RuntimeError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "Error(s) in loading state_dict for Net" in message
    assert 'Missing key(s) in state_dict: "head.bias"' in message
    assert 'Unexpected key(s) in state_dict: "extra"' in message
    missing, unexpected = net.load_state_dict(state, strict=False)
    assert missing == ["head.bias"] and unexpected == ["extra"]
    state = dict(net.state_dict())
    state["head.weight"] = kitty.zeros(3, 4)
    before = net.head.bias.numpy().copy()
    with pytest.raises(RuntimeError, match=r"size mismatch for head.weight: copying a param with shape \(3, 4\)"):
        net.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(net.head.bias.numpy(), before)  # nothing was copied


def test_linear_init_matches_torch_bounds():
    kitty.manual_seed(0)
    layer = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    assert w.dtype == np.float32 and w.shape == (300, 400)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.01 * bound
    assert np.abs(b).max() <= bound
    kitty.manual_seed(0)
    np.testing.assert_array_equal(nn.Linear(400, 300).weight.numpy(), w)


def test_module_to_double():
    net = nn.Linear(2, 2).double()
    assert net.weight.dtype == np.float64
    assert net(kitty.tensor(np.ones((1, 2)))).dtype == np.float64
