"""Modules against their torch counterparts: forward values, input and parameter gradients."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import close, copy_params, data

import kittygrad_core as kitty
import kittygrad_nn as nn

T = torch.nn

# (kittygrad module factory, torch module factory, input shape, input value range)
CASES = {
    "Linear": (lambda: nn.Linear(4, 3), lambda: T.Linear(4, 3), (5, 4), (-2, 2)),
    "Linear-nobias-3d": (lambda: nn.Linear(4, 2, bias=False), lambda: T.Linear(4, 2, bias=False), (2, 3, 4), (-2, 2)),
    "Identity": (lambda: nn.Identity(), lambda: T.Identity(), (3, 2), (-2, 2)),
    "Flatten": (lambda: nn.Flatten(), lambda: T.Flatten(), (2, 3, 4), (-2, 2)),
    "Dropout-eval": (lambda: nn.Dropout(0.3).eval(), lambda: T.Dropout(0.3).eval(), (4, 5), (-2, 2)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(3), lambda: T.BatchNorm1d(3), (6, 3), (-2, 2)),
    "BatchNorm1d-3d": (lambda: nn.BatchNorm1d(3), lambda: T.BatchNorm1d(3), (4, 3, 5), (-2, 2)),
    "BatchNorm1d-noaffine": (lambda: nn.BatchNorm1d(3, affine=False), lambda: T.BatchNorm1d(3, affine=False),
                             (6, 3), (-2, 2)),
    "LayerNorm": (lambda: nn.LayerNorm(4), lambda: T.LayerNorm(4), (3, 4), (-2, 2)),
    "LayerNorm-2d": (lambda: nn.LayerNorm((2, 4)), lambda: T.LayerNorm((2, 4)), (3, 2, 4), (-2, 2)),
    "ReLU": (lambda: nn.ReLU(), lambda: T.ReLU(), (4, 5), (-2, 2)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), lambda: T.LeakyReLU(0.2), (4, 5), (-2, 2)),
    "GELU": (lambda: nn.GELU(), lambda: T.GELU(), (4, 5), (-2, 2)),
    "GELU-tanh": (lambda: nn.GELU("tanh"), lambda: T.GELU("tanh"), (4, 5), (-2, 2)),
    "SiLU": (lambda: nn.SiLU(), lambda: T.SiLU(), (4, 5), (-2, 2)),
    "Sigmoid": (lambda: nn.Sigmoid(), lambda: T.Sigmoid(), (4, 5), (-2, 2)),
    "Tanh": (lambda: nn.Tanh(), lambda: T.Tanh(), (4, 5), (-2, 2)),
    "Softmax": (lambda: nn.Softmax(dim=1), lambda: T.Softmax(dim=1), (4, 5), (-2, 2)),
    "LogSoftmax": (lambda: nn.LogSoftmax(dim=-1), lambda: T.LogSoftmax(dim=-1), (4, 5), (-2, 2)),
    "Sequential": (lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)),
                   lambda: T.Sequential(T.Linear(4, 6), T.Tanh(), T.Linear(6, 2)), (5, 4), (-2, 2)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_module_matches_torch(name, dtype):
    make_kitty, make_torch, shape, (low, high) = CASES[name]
    kitty.manual_seed(0)
    km = make_kitty().to(dtype)
    tm = copy_params(km, make_torch().to(getattr(torch, dtype)))
    x = data(*shape, dtype=dtype, low=low, high=high)
    kx, tx = kitty.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    kout, tout = km(kx), tm(tx)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    close(kout, tout, **tol)
    g = data(*tout.shape, seed=1, dtype=dtype)
    kout.backward(kitty.tensor(g))
    tout.backward(torch.tensor(g))
    close(kx.grad, tx.grad, **tol)
    tparams = dict(tm.named_parameters())
    for pname, p in km.named_parameters():
        close(p.grad, tparams[pname].grad, **tol)
    for bname, buffer in tm.named_buffers():  # running statistics after one training step
        close(dict(km.named_buffers())[bname], buffer.float() if "num_batches" in bname else buffer, **tol)


def test_batchnorm_eval_and_momentum_none_match_torch():
    km, tm = nn.BatchNorm1d(3, momentum=None), T.BatchNorm1d(3, momentum=None)
    copy_params(km, tm)
    for seed in range(3):
        x = data(5, 3, seed=seed)
        close(km(kitty.tensor(x)), tm(torch.tensor(x)), rtol=1e-5, atol=1e-5)
    close(km.running_mean, tm.running_mean)
    close(km.running_var, tm.running_var)
    km.eval(), tm.eval()
    x = data(4, 3, seed=9)
    close(km(kitty.tensor(x)), tm(torch.tensor(x)), rtol=1e-5, atol=1e-5)


def test_batchnorm_rejects_single_sample_in_training():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(kitty.tensor(data(1, 3)))


def test_embedding_matches_torch_with_padding():
    km = nn.Embedding(6, 3, padding_idx=1)
    assert np.all(km.weight.numpy()[1] == 0)
    tm = copy_params(km, T.Embedding(6, 3, padding_idx=1))
    idx = np.array([[0, 1, 5], [1, 2, 0]])
    kout, tout = km(idx), tm(torch.tensor(idx))
    close(kout, tout)
    g = data(2, 3, 3, seed=3)
    kout.backward(kitty.tensor(g)), tout.backward(torch.tensor(g))
    close(km.weight.grad, tm.weight.grad)
    assert np.all(km.weight.grad.numpy()[1] == 0)
    with pytest.raises(IndexError, match="out of range"):
        km(np.array([6]))


def test_dropout_training_statistics_and_reproducibility():
    x = kitty.ones(200, 50, requires_grad=True)
    kitty.manual_seed(3)
    out = nn.Dropout(0.3)(x)
    values = out.numpy()
    np.testing.assert_allclose(np.unique(values), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((values == 0).mean() - 0.3) < 0.02
    g = data(200, 50, seed=4)
    out.backward(kitty.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), g * values, rtol=1e-6)  # the gradient uses the same mask
    kitty.manual_seed(3)
    np.testing.assert_array_equal(nn.Dropout(0.3)(kitty.ones(200, 50)).numpy(), values)
    assert np.all(nn.Dropout(1.0)(x).numpy() == 0)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


LOSSES = {
    "MSELoss": (nn.MSELoss, T.MSELoss, {}, "float"),
    "L1Loss": (nn.L1Loss, T.L1Loss, {}, "float"),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, T.CrossEntropyLoss, {}, "index"),
    "CrossEntropyLoss-smooth": (nn.CrossEntropyLoss, T.CrossEntropyLoss, {"label_smoothing": 0.2}, "index"),
    "CrossEntropyLoss-weight": (nn.CrossEntropyLoss, T.CrossEntropyLoss,
                                {"weight": [1.0, 2.0, 0.5, 1.5], "ignore_index": 2, "label_smoothing": 0.1},
                                "index"),
    "CrossEntropyLoss-probs": (nn.CrossEntropyLoss, T.CrossEntropyLoss, {"label_smoothing": 0.1}, "probs"),
    "NLLLoss": (nn.NLLLoss, T.NLLLoss, {"weight": [1.0, 2.0, 0.5, 1.5]}, "index"),
    "BCELoss": (nn.BCELoss, T.BCELoss, {}, "prob"),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, T.BCEWithLogitsLoss, {}, "binary"),
    "BCEWithLogitsLoss-pos": (nn.BCEWithLogitsLoss, T.BCEWithLogitsLoss, {"pos_weight": [2.0, 0.5, 1.0, 3.0]},
                              "binary"),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_matches_torch(name, reduction):
    kcls, tcls, kwargs, kind = LOSSES[name]
    tkwargs = {k: torch.tensor(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    rng = np.random.default_rng(0)
    x = data(6, 4, low=0.05, high=0.95) if kind == "prob" else data(6, 4, low=-3, high=3)
    if kind == "index":
        target = rng.integers(0, 4, 6)
        kt, tt = target.tolist(), torch.tensor(target)  # a list for kittygrad, as the brief allows
    elif kind == "probs":
        target = rng.dirichlet(np.ones(4), 6).astype("float32")
        kt, tt = kitty.tensor(target), torch.tensor(target)
    elif kind in ("prob", "binary"):
        target = rng.integers(0, 2, (6, 4)).astype("float32")
        kt, tt = kitty.tensor(target), torch.tensor(target)
    else:
        target = data(6, 4, seed=5)
        kt, tt = kitty.tensor(target), torch.tensor(target)
    if name.startswith("NLL"):
        x = np.log(np.exp(x) / np.exp(x).sum(1, keepdims=True)).astype("float32")
    kx, tx = kitty.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    kloss, tloss = kcls(**kwargs, reduction=reduction)(kx, kt), tcls(**tkwargs, reduction=reduction)(tx, tt)
    close(kloss, tloss, rtol=1e-5, atol=1e-6)
    g = data(*tloss.shape, seed=2)
    kloss.backward(kitty.tensor(g)), tloss.backward(torch.tensor(g))
    close(kx.grad, tx.grad, rtol=1e-5, atol=1e-6)


def test_cross_entropy_targets_as_array_tensor_and_list_agree():
    x = kitty.tensor(data(5, 3))
    target = np.array([0, 2, 1, 1, 0])
    losses = [nn.functional.cross_entropy(x, t).item()
              for t in (target, target.tolist(), kitty.tensor(target.astype("float32")))]
    assert losses[0] == losses[1] == losses[2]


def test_cross_entropy_errors():
    x = kitty.tensor(data(3, 4))
    # the op's own message, for the largest index just past the classes and for a negative one
    for loss in (nn.functional.cross_entropy, nn.functional.nll_loss):
        with pytest.raises(IndexError, match=rf"{loss.__name__}\(\): target 4 is out of bounds for 4 classes"):
            loss(x, [0, 4, 1])
        with pytest.raises(IndexError, match=rf"{loss.__name__}\(\): target -2 is out of bounds"):
            loss(x, [0, -2, 1])
    with pytest.raises(RuntimeError, match="expected target of shape"):
        nn.functional.cross_entropy(x, [0, 1])
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.functional.cross_entropy(x, [0, 1, 2], reduction="avg")
    with pytest.raises(RuntimeError, match="must hold integers"):
        nn.functional.cross_entropy(x, kitty.tensor([0.5, 1.0, 2.0]))


def test_bce_with_logits_is_stable_for_large_logits():
    x = kitty.tensor([[-200.0, 200.0, 0.0]], requires_grad=True)
    loss = nn.functional.binary_cross_entropy_with_logits(x, kitty.tensor([[1.0, 0.0, 1.0]]), reduction="sum")
    tx = torch.tensor([[-200.0, 200.0, 0.0]], requires_grad=True)
    tloss = torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor([[1.0, 0.0, 1.0]]),
                                                                 reduction="sum")
    assert np.isfinite(loss.item())
    close(loss, tloss)
    loss.backward(), tloss.backward()
    close(x.grad, tx.grad)


def test_inplace_leaky_relu_matches_torch():
    import kittygrad_nn.functional as F
    for lib, functional in ((kitty, F), (torch, torch.nn.functional)):
        x = lib.tensor([-1.0, 0.5, 2.0], requires_grad=True)
        y = x * 1
        assert functional.leaky_relu(y, 0.1, inplace=True) is y
        y.sum().backward()
        if lib is kitty:
            kitty_result = (y.tolist(), x.grad.tolist())
    assert kitty_result[0] == pytest.approx(y.tolist())
    assert kitty_result[1] == pytest.approx(x.grad.tolist())
