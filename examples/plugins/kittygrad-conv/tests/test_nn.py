"""kittygrad_conv.nn: Conv2d and MaxPool2d against torch with the same weights, torch's init, imports."""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import close

import kittygrad_core as kitty

nn = pytest.importorskip("kittygrad_conv.nn", reason="kittygrad_conv.nn needs kittygrad-nn")
import kittygrad_nn  # noqa: E402


def copy_into(kitty_module, torch_module):
    with torch.no_grad():
        for name, value in kitty_module.named_parameters():
            getattr(torch_module, name).copy_(torch.from_numpy(value.numpy().copy()))
    return torch_module


@pytest.mark.parametrize("args, kwargs", [
    ((3, 4, 3), {}),
    ((3, 4, (3, 2)), {"stride": 2, "padding": 1}),
    ((4, 6, 3), {"groups": 2, "dilation": 2, "padding": "same"}),
    ((3, 2, 2), {"bias": False}),
])
def test_conv2d_module_matches_torch_with_the_same_weights(args, kwargs):
    kitty.manual_seed(0)
    layer = nn.Conv2d(*args, **kwargs)
    reference = copy_into(layer, torch.nn.Conv2d(*args, **kwargs))
    data = np.random.default_rng(0).normal(size=(2, args[0], 7, 7)).astype(np.float32)
    x, tx = kitty.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = layer(x), reference(tx)
    close(y, ty, rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(1).normal(size=ty.shape).astype(np.float32)
    y.backward(kitty.tensor(g))
    ty.backward(torch.tensor(g))
    close(x.grad, tx.grad, rtol=1e-5, atol=1e-5)
    for name, param in layer.named_parameters():
        close(param.grad, getattr(reference, name).grad, rtol=1e-5, atol=1e-5)


def test_conv2d_module_is_a_module_with_torchs_parameters_and_repr():
    layer = nn.Conv2d(3, 8, 3, padding=1)
    assert isinstance(layer, kittygrad_nn.Module)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("weight", (8, 3, 3, 3)), ("bias", (8,))]
    assert all(isinstance(p, kittygrad_nn.Parameter) for p in layer.parameters())
    assert repr(layer) == repr(torch.nn.Conv2d(3, 8, 3, padding=1))
    kwargs = {"groups": 2, "bias": False, "padding": "same"}
    assert repr(nn.Conv2d(4, 4, 3, **kwargs)) == repr(torch.nn.Conv2d(4, 4, 3, **kwargs))


def test_conv2d_init_follows_torch():
    kitty.manual_seed(1)
    layer = nn.Conv2d(16, 32, 3, groups=2)
    bound = 1 / math.sqrt(8 * 9)  # kaiming_uniform_(a=sqrt(5)) and the bias bound are both 1/sqrt(fan_in)
    for param in (layer.weight, layer.bias):
        values = param.numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    assert layer.weight.dtype == np.float32
    assert nn.Conv2d(1, 1, 1, dtype=kitty.float64).weight.dtype == np.float64


@pytest.mark.parametrize("kwargs", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1},
                                    {"kernel_size": 2, "dilation": 2}])
def test_max_pool2d_module_matches_torch(kwargs):
    data = np.random.default_rng(2).normal(size=(2, 3, 8, 8))
    x, tx = kitty.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = nn.MaxPool2d(**kwargs)(x), torch.nn.MaxPool2d(**kwargs)(tx)
    close(y, ty)
    y.backward(kitty.ones(*y.shape, dtype=kitty.float64))
    ty.backward(torch.ones_like(ty))
    close(x.grad, tx.grad)
    assert repr(nn.MaxPool2d(**kwargs)) == repr(torch.nn.MaxPool2d(**kwargs))


def test_avg_pool2d_module_matches_torch():
    data = np.random.default_rng(3).normal(size=(2, 3, 8, 8))
    x, tx = kitty.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    close(nn.AvgPool2d(3, 2, 1)(x), torch.nn.AvgPool2d(3, 2, 1)(tx))


def test_a_small_cnn_trains_end_to_end():
    kitty.manual_seed(0)
    model = kittygrad_nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), kittygrad_nn.ReLU(), nn.MaxPool2d(2),
                                    kittygrad_nn.Flatten(), kittygrad_nn.Linear(16, 2))
    x = kitty.tensor(np.random.default_rng(0).normal(size=(8, 1, 4, 4)).astype(np.float32))
    y = np.array([0, 1] * 4)
    optimizer = kittygrad_nn.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        loss = kittygrad_nn.CrossEntropyLoss()(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]


def test_nn_without_kittygrad_nn_says_what_to_install():
    code = ("import sys; sys.modules['kittygrad_nn'] = None\n"
            "try:\n    import kittygrad_conv.nn\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "kittygrad_conv.nn needs kittygrad-nn" in out and "pip install" in out
    # the ops themselves do not need kittygrad-nn
    code = ("import sys; sys.modules['kittygrad_nn'] = None\n"
            "import kittygrad_core as k; print('conv2d' in k.registry)")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "True"
