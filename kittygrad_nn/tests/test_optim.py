"""Optimizers and schedulers against torch.optim: same initial weights, data order and hyper-parameters."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import close, copy_params, data

import kittygrad_core as kitty
import kittygrad_nn as nn
from kittygrad_nn import optim

STEPS = 50


def _mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))


def _torch_mlp():
    T = torch.nn
    return T.Sequential(T.Linear(6, 16), T.Tanh(), T.Linear(16, 8), T.ReLU(), T.Linear(8, 3))


OPTIMIZERS = {
    "sgd-momentum": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "sgd-nesterov-wd": (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
                        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "sgd-dampening": (lambda p: optim.SGD(p, lr=0.1, momentum=0.5, dampening=0.3),
                      lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, dampening=0.3)),
    "adam": (lambda p: optim.Adam(p, lr=1e-2), lambda p: torch.optim.Adam(p, lr=1e-2)),
    "adam-amsgrad-wd": (lambda p: optim.Adam(p, lr=1e-2, weight_decay=1e-2, amsgrad=True),
                        lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2, amsgrad=True)),
    "adamw": (lambda p: optim.AdamW(p, lr=1e-2), lambda p: torch.optim.AdamW(p, lr=1e-2)),
    "rmsprop": (lambda p: optim.RMSprop(p, lr=1e-3), lambda p: torch.optim.RMSprop(p, lr=1e-3)),
    "rmsprop-centered-momentum": (
        lambda p: optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-3),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-3)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_training_matches_torch(name):
    make_kitty, make_torch = OPTIMIZERS[name]
    kitty.manual_seed(1)
    model = _mlp()
    torch_model = copy_params(model, _torch_mlp())
    optimizer, torch_optimizer = make_kitty(model.parameters()), make_torch(torch_model.parameters())
    rng = np.random.default_rng(0)
    x = data(64, 6, seed=2)
    y = rng.integers(0, 3, 64)
    kitty_losses, torch_losses = [], []
    for _ in range(STEPS):
        batch = rng.choice(64, 16, replace=False)  # the same data order for both
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(kitty.tensor(x[batch])), y[batch])
        loss.backward()
        optimizer.step()
        torch_optimizer.zero_grad()
        torch_loss = torch.nn.functional.cross_entropy(torch_model(torch.tensor(x[batch])), torch.tensor(y[batch]))
        torch_loss.backward()
        torch_optimizer.step()
        kitty_losses.append(loss.item()), torch_losses.append(torch_loss.item())
    np.testing.assert_allclose(kitty_losses, torch_losses, rtol=1e-4, atol=1e-5)
    assert kitty_losses[-1] < kitty_losses[0]
    torch_params = dict(torch_model.named_parameters())
    for pname, p in model.named_parameters():
        close(p, torch_params[pname], rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("cls", ["Adam", "AdamW"])
def test_amsgrad_uses_the_running_maximum(cls):
    # Gradients that shrink after a large first one: exp_avg_sq decays, so max(exp_avg_sq) differs from
    # exp_avg_sq and only a real running maximum matches torch.
    scales = np.array([10.0] + [0.1] * 9 + [3.0] + [0.05] * 9)
    g0 = data(5, seed=3)

    def run(lib, module, amsgrad):
        p = lib.tensor(data(5, seed=4), requires_grad=True)
        optimizer = getattr(module, cls)([p], lr=0.1, betas=(0.5, 0.9), amsgrad=amsgrad)
        for scale in scales:
            optimizer.zero_grad()
            (p * lib.tensor(g0 * np.float32(scale))).sum().backward()
            optimizer.step()
        return np.array(p.detach().numpy())

    kitty_ams, torch_ams = run(kitty, optim, True), run(torch, torch.optim, True)
    np.testing.assert_allclose(kitty_ams, torch_ams, rtol=1e-5, atol=1e-6)
    plain = run(torch, torch.optim, False)
    assert np.abs(plain - torch_ams).max() > 1e-2  # the case does tell AMSGrad from Adam


def test_step_bumps_versions_and_saved_tensors_notice():
    layer = nn.Linear(3, 2)
    optimizer = optim.SGD(layer.parameters(), lr=0.1)
    out = layer(kitty.randn(4, 3)).sum()
    out.backward()
    version = layer.weight.version
    optimizer.step()
    assert layer.weight.version == version + 1
    # As torch: the weight is saved only for the input's gradient, so only then does a step between
    # the forward and the backward make the backward fail.
    unaffected = layer(kitty.randn(4, 3)).sum()
    stale = layer(kitty.randn(4, 3, requires_grad=True)).sum()
    optimizer.step()
    unaffected.backward()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        stale.backward()


def test_zero_grad_and_skipped_parameters():
    a, b = nn.Parameter(kitty.ones(2)), nn.Parameter(kitty.ones(2))
    optimizer = optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    optimizer.step()
    assert np.all(b.numpy() == 1) and b not in optimizer.state
    optimizer.zero_grad(set_to_none=False)
    assert np.all(a.grad.numpy() == 0)
    optimizer.zero_grad()
    assert a.grad is None


def test_param_groups_and_errors():
    a, b = nn.Parameter(kitty.ones(2)), nn.Parameter(kitty.ones(2))
    optimizer = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, 0.5]
    assert optimizer.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adam([a], lr=-1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2], lr=0.1)


def test_optimizer_state_dict_round_trip_continues_identically():
    def run(model, optimizer, steps, seed):
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(kitty.tensor(rng.normal(size=(4, 3)).astype("float32"))),
                                   kitty.zeros(4, 1)).backward()
            optimizer.step()

    kitty.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    run(model, optimizer, 5, 0)
    state, model_state = optimizer.state_dict(), model.state_dict()
    assert set(state) == {"state", "param_groups"} and set(state["state"]) == {0, 1}
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert state["param_groups"][0]["params"] == [0, 1]
    clone = nn.Linear(3, 1)
    clone.load_state_dict({k: v.numpy().copy() for k, v in model_state.items()})
    clone_optimizer = optim.Adam(clone.parameters(), lr=0.5)
    clone_optimizer.load_state_dict(state)
    assert clone_optimizer.param_groups[0]["lr"] == 0.01
    run(model, optimizer, 3, 1)
    run(clone, clone_optimizer, 3, 1)
    np.testing.assert_array_equal(clone.weight.numpy(), model.weight.numpy())


@pytest.mark.parametrize("kind", ["step", "cosine"])
def test_schedulers_match_torch(kind):
    p = nn.Parameter(kitty.ones(1))
    tp = torch.nn.Parameter(torch.ones(1))
    optimizer, torch_optimizer = optim.SGD([p], lr=0.1), torch.optim.SGD([tp], lr=0.1)
    if kind == "step":
        scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
        torch_scheduler = torch.optim.lr_scheduler.StepLR(torch_optimizer, step_size=3, gamma=0.5)
    else:
        scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10, eta_min=0.001)
        torch_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(torch_optimizer, T_max=10, eta_min=0.001)
    for _ in range(15):
        np.testing.assert_allclose(scheduler.get_last_lr(), torch_scheduler.get_last_lr(), rtol=1e-9, atol=1e-12)
        optimizer.step(), torch_optimizer.step()
        scheduler.step(), torch_scheduler.step()
