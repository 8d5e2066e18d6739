"""nn.functional against torch where results used to differ: in-place activations, gradients of
targets, mixed dtypes in the binary losses, and state left untouched by failed calls."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import close, data

import kittygrad_core as kitty
import kittygrad_nn as nn
import kittygrad_nn.functional as F

TF = torch.nn.functional
LEAF_MESSAGE = "(?i)a leaf Variable that requires grad is being used in an in-place operation"  # torch: "a"

# name -> (kittygrad call, torch call); dropout is checked apart (the two libraries draw other masks)
INPLACE = {
    "relu": (lambda x: F.relu(x, inplace=True), lambda x: TF.relu(x, inplace=True)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2, inplace=True), lambda x: TF.leaky_relu(x, 0.2, inplace=True)),
    "silu": (lambda x: F.silu(x, inplace=True), lambda x: TF.silu(x, inplace=True)),
    "ReLU": (lambda x: nn.ReLU(inplace=True)(x), lambda x: torch.nn.ReLU(inplace=True)(x)),
    "LeakyReLU": (lambda x: nn.LeakyReLU(0.3, inplace=True)(x),
                  lambda x: torch.nn.LeakyReLU(0.3, inplace=True)(x)),
    "SiLU": (lambda x: nn.SiLU(inplace=True)(x), lambda x: torch.nn.SiLU(inplace=True)(x)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_activation_modifies_input_and_records_graph(name, dtype):
    kitty_fn, torch_fn = INPLACE[name]
    x = data(3, 4, dtype=dtype)
    g = data(3, 4, seed=1, dtype=dtype)
    kx, tx = kitty.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ky, ty = kx * 2, tx * 2
    version = ky.version
    assert kitty_fn(ky) is ky and torch_fn(ty) is ty
    assert ky.version == version + 1
    close(ky, ty, rtol=1e-6, atol=1e-7)  # the input itself holds the result
    ky.backward(kitty.tensor(g)), ty.backward(torch.tensor(g))
    close(kx.grad, tx.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(INPLACE) + ["dropout"])
def test_inplace_refuses_a_leaf_that_requires_grad(name):
    kitty_fn = INPLACE[name][0] if name != "dropout" else (lambda x: F.dropout(x, 0.5, inplace=True))
    torch_fn = INPLACE[name][1] if name != "dropout" else (lambda x: TF.dropout(x, 0.5, inplace=True))
    x = data(3, 4)
    # kitty.tensor shares a float array (the original kittygrad's rule): keep x apart from what changes
    kx, tx = kitty.tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match=LEAF_MESSAGE):
        torch_fn(tx)
    with pytest.raises(RuntimeError, match=LEAF_MESSAGE):
        kitty_fn(kx)
    np.testing.assert_array_equal(kx.numpy(), x)
    assert kx.version == 0 and kx.grad_fn is None
    with kitty.no_grad():  # allowed without grad mode, as in torch
        assert kitty_fn(kx) is kx
    assert kx.version == 1 and not np.array_equal(kx.numpy(), x)


@pytest.mark.parametrize("name", sorted(INPLACE) + ["dropout"])
def test_inplace_on_a_tensor_without_grad_modifies_it(name):
    kitty_fn = INPLACE[name][0] if name != "dropout" else (lambda x: F.dropout(x, 0.5, inplace=True))
    kx = kitty.tensor(data(3, 4))
    before = kx.numpy().copy()
    assert kitty_fn(kx) is kx
    assert kx.version == 1 and not np.array_equal(kx.numpy(), before)


def test_inplace_dropout_records_its_mask():
    kitty.manual_seed(0)
    x = kitty.tensor(data(20, 30, low=0.5, high=2.0), requires_grad=True)
    y = x * 1
    version = y.version
    assert F.dropout(y, 0.4, training=True, inplace=True) is y
    assert y.version == version + 1
    kept = y.numpy() != 0
    assert 0.5 < kept.mean() < 0.7
    np.testing.assert_allclose(y.numpy()[kept], x.numpy()[kept] / 0.6, rtol=1e-6)
    g = data(20, 30, seed=3)
    y.backward(kitty.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, g / 0.6, 0.0), rtol=1e-6)
    module = nn.Dropout(0.4, inplace=True)
    z = x * 1
    assert module(z) is z and z.version == 1


@pytest.mark.parametrize("kwargs", [{"training": False}, {"p": 0.0}])
def test_inplace_dropout_that_changes_nothing_leaves_input_alone(kwargs):
    # torch returns the input untouched (no version bump), even for a leaf that requires grad
    x = data(3, 4)
    for lib, functional in ((kitty, F), (torch, TF)):
        leaf = lib.tensor(x, requires_grad=True)
        assert functional.dropout(leaf, **{"p": 0.5, **kwargs}, inplace=True) is leaf
        assert getattr(leaf, "version", leaf._version) == 0 and leaf.grad_fn is None
        np.testing.assert_array_equal(leaf.detach().numpy(), x)


# ---------------------------------------------------------------------------------------------- losses

@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float32", "float64"), ("float64", "float32")])
def test_cross_entropy_probability_targets_get_gradients(dtypes, reduction, smoothing):
    rng = np.random.default_rng(0)
    x = data(4, 3, 2, dtype=dtypes[0])
    t = np.moveaxis(rng.dirichlet(np.ones(3), (4, 2)), -1, 1).astype(dtypes[1])
    w = np.array([0.5, 2.0, 1.0], dtypes[0])
    kx, kt = kitty.tensor(x, requires_grad=True), kitty.tensor(t, requires_grad=True)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    kloss = F.cross_entropy(kx, kt, weight=kitty.tensor(w), reduction=reduction, label_smoothing=smoothing)
    tloss = TF.cross_entropy(tx, tt, weight=torch.tensor(w), reduction=reduction, label_smoothing=smoothing)
    assert str(kloss.dtype).rsplit(".", 1)[-1] == str(tloss.dtype).rsplit(".", 1)[-1]
    close(kloss, tloss, rtol=1e-5, atol=1e-6)
    g = data(*tloss.shape, seed=5, dtype=str(tloss.dtype).rsplit(".", 1)[-1])
    kloss.backward(kitty.tensor(g)), tloss.backward(torch.tensor(g))
    close(kx.grad, tx.grad, rtol=1e-5, atol=1e-6)
    close(kt.grad, tt.grad, rtol=1e-5, atol=1e-6)
    assert kx.grad.dtype == kx.dtype and kt.grad.dtype == kt.dtype


def test_bce_refuses_mixed_dtypes_at_forward():
    x, t = data(3, 2, low=0.1, high=0.9), data(3, 2, seed=1, low=0.0, high=1.0)
    with pytest.raises(RuntimeError):
        TF.binary_cross_entropy(torch.tensor(x), torch.tensor(t.astype("float64")))
    for target in (kitty.tensor(t.astype("float64")), t.astype("float64")):
        with pytest.raises(RuntimeError, match="binary_cross_entropy.*float32.*float64"):
            F.binary_cross_entropy(kitty.tensor(x, requires_grad=True), target)
    with pytest.raises(RuntimeError, match="binary_cross_entropy.*float64.*float32"):
        F.binary_cross_entropy(kitty.tensor(x.astype("float64")), kitty.tensor(t))
    # a list target takes the input's dtype
    loss = F.binary_cross_entropy(kitty.tensor(x.astype("float64")), t.tolist())
    close(loss, TF.binary_cross_entropy(torch.tensor(x, dtype=torch.float64), torch.tensor(t.tolist(),
                                                                                          dtype=torch.float64)))


@pytest.mark.parametrize("pos_weight", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float64", "float32")])
def test_bce_with_logits_promotes_mixed_dtypes_as_torch(dtypes, reduction, pos_weight):
    x, t = data(4, 3, dtype=dtypes[0]), data(4, 3, seed=1, low=0.0, high=1.0, dtype=dtypes[1])
    w = data(4, 1, seed=2, low=0.5, high=2.0)
    pw = data(3, seed=3, low=0.5, high=2.0) if pos_weight else None
    kx, kt = kitty.tensor(x, requires_grad=True), kitty.tensor(t, requires_grad=True)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    kloss = F.binary_cross_entropy_with_logits(kx, kt, weight=w, reduction=reduction,
                                               pos_weight=None if pw is None else kitty.tensor(pw))
    tloss = TF.binary_cross_entropy_with_logits(tx, tt, weight=torch.tensor(w), reduction=reduction,
                                                pos_weight=None if pw is None else torch.tensor(pw))
    assert str(kloss.dtype).rsplit(".", 1)[-1] == str(tloss.dtype).rsplit(".", 1)[-1]
    close(kloss, tloss, rtol=1e-5, atol=1e-6)
    g = data(*tloss.shape, seed=4, dtype=str(tloss.dtype).rsplit(".", 1)[-1])
    kloss.backward(kitty.tensor(g)), tloss.backward(torch.tensor(g))
    close(kx.grad, tx.grad, rtol=1e-5, atol=1e-6)
    close(kt.grad, tt.grad, rtol=1e-5, atol=1e-6)


CONSTANT_WEIGHTS = {
    "binary_cross_entropy": lambda lib, f, x, w: f.binary_cross_entropy(lib.sigmoid(x), x.detach().sigmoid(),
                                                                        weight=w),
    "bce_with_logits-weight": lambda lib, f, x, w: f.binary_cross_entropy_with_logits(x, x.detach().sigmoid(),
                                                                                     weight=w),
    "bce_with_logits-pos_weight": lambda lib, f, x, w: f.binary_cross_entropy_with_logits(
        x, x.detach().sigmoid(), pos_weight=w),
    "nll_loss": lambda lib, f, x, w: f.nll_loss(x, lib.tensor([0, 2, 1, 0]) if lib is torch else [0, 2, 1, 0],
                                               weight=w),
    "cross_entropy": lambda lib, f, x, w: f.cross_entropy(x, lib.tensor([0, 2, 1, 0]) if lib is torch
                                                          else [0, 2, 1, 0], weight=w),
}


@pytest.mark.parametrize("name", sorted(CONSTANT_WEIGHTS))
def test_loss_weights_that_require_grad_are_refused_as_in_torch(name):
    call = CONSTANT_WEIGHTS[name]
    x, w = data(4, 3), data(3, seed=1, low=0.5, high=2.0)
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument"):
        call(torch, TF, torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument"):
        call(kitty, F, kitty.tensor(x, requires_grad=True), kitty.tensor(w, requires_grad=True))
    with kitty.no_grad():
        call(kitty, F, kitty.tensor(x), kitty.tensor(w, requires_grad=True))


def test_cross_entropy_probability_targets_refuse_a_weight_that_requires_grad():
    # torch differentiates this weight; kittygrad cannot (it is an option), so it says so
    x = kitty.tensor(data(4, 3), requires_grad=True)
    t = kitty.tensor(np.full((4, 3), 1 / 3, np.float32))
    with pytest.raises(NotImplementedError, match="weight that requires grad"):
        F.cross_entropy(x, t, weight=kitty.ones(3, requires_grad=True))


def test_binary_loss_weight_must_broadcast_to_the_input():
    x = kitty.tensor(data(4, 3, low=0.1, high=0.9))
    for fn in (F.binary_cross_entropy, F.binary_cross_entropy_with_logits):
        with pytest.raises(RuntimeError, match="weight of shape \\(4,\\) cannot be broadcast"):
            fn(x, x.detach(), weight=kitty.ones(4))
        with pytest.raises(RuntimeError, match="cannot be broadcast"):
            fn(x, x.detach(), weight=kitty.ones(2, 4, 3))


# ---------------------------------------------------------------------------------------------- atomicity

BAD_BATCH_NORM = {
    "running_var": ({"running_var": 4}, "running_var should contain 3 elements not 4"),
    "running_mean": ({"running_mean": 2}, "running_mean should contain 3 elements not 2"),
    "weight": ({"weight": 4}, "weight should contain 3 elements not 4"),
    "bias": ({"bias": 5}, "bias should contain 3 elements not 5"),
}


@pytest.mark.parametrize("wrong", sorted(BAD_BATCH_NORM))
@pytest.mark.parametrize("kind", ["tensor", "array"])
def test_batch_norm_validates_before_updating_running_statistics(wrong, kind):
    sizes, message = BAD_BATCH_NORM[wrong]
    make = kitty.tensor if kind == "tensor" else np.asarray

    def args(lib_tensor):
        values = {"running_mean": np.zeros(3, np.float32), "running_var": np.ones(3, np.float32),
                  "weight": np.ones(3, np.float32), "bias": np.zeros(3, np.float32)}
        for name, size in sizes.items():
            values[name] = np.full(size, 0.5, np.float32)
        return {name: lib_tensor(value) for name, value in values.items()}

    x = data(6, 3)
    with pytest.raises(RuntimeError, match=message):
        TF.batch_norm(torch.tensor(x), training=True, **args(torch.tensor))
    kitty_args = args(make)
    before = {name: np.array(value.numpy() if kind == "tensor" else value, copy=True)
              for name, value in kitty_args.items()}
    with pytest.raises(RuntimeError, match=message):
        F.batch_norm(kitty.tensor(x), training=True, **kitty_args)
    for name, value in kitty_args.items():
        np.testing.assert_array_equal(value.numpy() if kind == "tensor" else value, before[name])
        if kind == "tensor":
            assert value.version == 0


def test_batch_norm_other_refusals_leave_statistics_alone():
    x = kitty.tensor(data(6, 3))
    mean, var = np.zeros(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(ValueError, match="both be None or neither"):
        F.batch_norm(x, mean, None, training=True)
    read_only = np.ones(3, np.float32)
    read_only.flags.writeable = False
    with pytest.raises(RuntimeError, match="running_var must be a writable float buffer"):
        F.batch_norm(x, mean, read_only, training=True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(kitty.tensor(data(1, 3)), mean, var, training=True)
    np.testing.assert_array_equal(mean, 0.0)
    np.testing.assert_array_equal(var, 1.0)
    F.batch_norm(x, mean, var, training=True)  # and a valid call does update them
    assert np.all(mean != 0.0) and np.all(var != 1.0)


def test_optimizer_load_state_dict_validates_before_replacing_state():
    p = kitty.tensor(data(2, 3), requires_grad=True)
    optimizer = nn.optim.Adam([p], lr=0.1)
    (p * kitty.tensor(data(2, 3, seed=1))).sum().backward()
    optimizer.step()
    state = optimizer.state_dict()
    saved = {name: np.array(value.numpy(), copy=True) for name, value in optimizer.state[p].items()}
    bad = {"state": {0: {**state["state"][0], "exp_avg": kitty.zeros(3)}},
           "param_groups": [{**state["param_groups"][0], "lr": 5.0}]}
    with pytest.raises(ValueError, match="'exp_avg' of parameter 0 has shape \\(3,\\).*\\(2, 3\\)"):
        optimizer.load_state_dict(bad)
    assert optimizer.param_groups[0]["lr"] == 0.1
    for name, value in optimizer.state[p].items():
        np.testing.assert_array_equal(value.numpy(), saved[name])
    with pytest.raises(ValueError, match="must be a dict"):
        optimizer.load_state_dict({"state": {0: [1, 2]}, "param_groups": state["param_groups"]})
    assert set(optimizer.state[p]) == set(saved)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_index_fast_path_equals_the_general_path(reduction, dtype):
    # class indices in range, no weight, no smoothing: cross_entropy skips the one-hot targets; a weight
    # of ones takes the general path, whose arithmetic is then the same: values and gradients are equal
    # bit for bit, also at a second backward through the retained graph (the rule modifies no save)
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((7, 5)).astype(dtype) * 4
    target = rng.integers(0, 5, 7)
    upstream = kitty.tensor(rng.standard_normal(7).astype(dtype)) if reduction == "none" else None
    results = []
    for weight in (None, kitty.ones(5, dtype=kitty.tensor(logits).dtype)):
        x = kitty.tensor(logits, requires_grad=True)
        loss = F.cross_entropy(x, target, weight=weight, reduction=reduction)
        loss.backward(upstream, retain_graph=True)
        first = x.grad.numpy().copy()
        loss.backward(upstream)
        results.append((loss.numpy(), first, x.grad.numpy() - first))
    for fast, general in zip(*results):
        assert fast.dtype == general.dtype and np.array_equal(fast, general), (fast, general)
    xt = torch.tensor(logits, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(target), reduction=reduction)
    lt.backward(None if upstream is None else torch.tensor(upstream.numpy()))
    np.testing.assert_allclose(results[0][0], lt.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(results[0][1], xt.grad.numpy(), rtol=1e-5, atol=1e-7)


NAN, INF = float("nan"), float("inf")


def _same_as_torch(actual, expected):
    """nan at torch's places, the other values close (infinities equal), shapes and dtypes equal."""
    expected = expected.detach().numpy()
    actual = actual.numpy()
    assert actual.shape == expected.shape and actual.dtype == expected.dtype, (actual, expected)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
    return True


_LOGITS = [[NAN, 1.0, 2.0], [-INF, 0.0, 1.0], [0.5, -INF, 1.0], [0.0, 1.0, INF], [1.0, -1.0, 0.5]]
_CLASSES = [0, 1, 2, 1, 0]
_WEIGHT = [1.0, 2.0, 3.0]

# name: (kittygrad call, torch call, inputs); the class targets, weights and pos_weight are constants
LOSSES_AT_SPECIALS = {
    "l1_loss": (lambda x, t: F.l1_loss(x, t, reduction="none"), lambda x, t: TF.l1_loss(x, t, reduction="none"),
                ([NAN, 1.0, -0.0, INF, 2.0, NAN], [2.0, NAN, 0.0, INF, -INF, NAN])),
    "l1_loss_mean": (F.l1_loss, TF.l1_loss, ([NAN, 1.0, -0.0, INF], [2.0, NAN, 0.0, 1.0])),
    **{f"{name}_{reduction}{'_weight' if weighted else ''}": (
        lambda x, name=name, reduction=reduction, weighted=weighted: getattr(F, name)(
            x, kitty.tensor(_CLASSES), ignore_index=0, reduction=reduction,
            weight=kitty.tensor(_WEIGHT) if weighted else None),
        lambda x, name=name, reduction=reduction, weighted=weighted: getattr(TF, name)(
            x, torch.tensor(_CLASSES), ignore_index=0, reduction=reduction,
            weight=torch.tensor(_WEIGHT, dtype=torch.float64) if weighted else None),
        (_LOGITS,))
       for name in ("nll_loss", "cross_entropy") for reduction in ("none", "sum", "mean")
       for weighted in (False, True)},
    "cross_entropy_smoothing": (
        lambda x: F.cross_entropy(x, kitty.tensor(_CLASSES), ignore_index=0, label_smoothing=0.1, reduction="sum"),
        lambda x: TF.cross_entropy(x, torch.tensor(_CLASSES), ignore_index=0, label_smoothing=0.1, reduction="sum"),
        (_LOGITS,)),
    "bce_with_logits_pos_weight": (
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=kitty.tensor([0.5, 2.0])),
        lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction="none",
                                                         pos_weight=torch.tensor([0.5, 2.0], dtype=torch.float64)),
        # infinite targets too (torch does not check this loss's target)
        ([[-INF, INF], [INF, -INF], [NAN, 1.0], [-0.0, 0.0], [-INF, -INF], [-INF, -INF]],
         [[0.0, 0.3], [-0.0, 1.0], [0.5, NAN], [1.0, 0.0], [INF, INF], [-INF, -INF]])),
}


@pytest.mark.parametrize("name", sorted(LOSSES_AT_SPECIALS))
def test_losses_at_non_finite_and_signed_zero_inputs(name):
    # torch's rules where the conformance suite's finite inputs cannot tell: sgn(nan) is 0 (l1_loss's
    # gradient), an ignored target gives 0 even at nan logits, a -inf logit off the target gives no
    # 0 * -inf, and bce_with_logits' pos_weight gradients at infinite logits follow torch's formulas
    kitty_fn, torch_fn, values = LOSSES_AT_SPECIALS[name]
    ks = [kitty.tensor(np.array(v), requires_grad=True) for v in values]
    ts = [torch.tensor(np.array(v), requires_grad=True) for v in values]
    k_out, t_out = kitty_fn(*ks), torch_fn(*ts)
    assert _same_as_torch(k_out, t_out)
    g = np.random.default_rng(0).uniform(0.5, 1.5, tuple(t_out.shape))
    k_out.backward(kitty.tensor(g))
    t_out.backward(torch.tensor(g))
    for k, t in zip(ks, ts):
        assert _same_as_torch(k.grad, t.grad)


@pytest.mark.parametrize("which", ["input", "target"])
@pytest.mark.parametrize("bad", [NAN, 1.5, -0.5])
def test_binary_cross_entropy_rejects_what_torch_rejects(which, bad):
    # torch checks both arguments, in a way that nan fails too
    values = {"input": [0.5, 0.25], "target": [0.5, 1.0]}
    values[which] = [0.5, bad]
    with pytest.raises(RuntimeError, match=f"all elements of {which} should be between 0 and 1"):
        TF.binary_cross_entropy(torch.tensor(values["input"]), torch.tensor(values["target"]))
    with pytest.raises(RuntimeError, match=f"all elements of {which} should be between 0 and 1"):
        F.binary_cross_entropy(kitty.tensor(values["input"]), kitty.tensor(values["target"]))


def _derivatives(lib, fn, values, seed):
    """The value, the first gradients (recorded) and the second derivatives of ``fn`` w.r.t. the
    inputs and the upstream gradient, under random vectors."""
    rng = np.random.default_rng(seed)
    xs = [lib.tensor(np.array(v), requires_grad=True) for v in values]
    out = fn(*xs)
    g = lib.tensor(rng.uniform(-1.5, 1.5, tuple(out.shape)), requires_grad=True)
    out.backward(g, create_graph=True)
    firsts = [x.grad for x in xs]
    for x in xs:
        x.grad = None
    total = sum((f * lib.tensor(rng.uniform(-1.5, 1.5, tuple(f.shape)))).sum() for f in firsts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's RuntimeWarnings inside the recorded ops
        total.backward()
    return [t.detach().numpy() for t in [out] + firsts + [x.grad for x in xs] + [g.grad]]


# name: (kittygrad call, torch call, inputs)
SECOND_DERIVATIVES_AT_SPECIALS = {
    "mse_loss": (lambda x, t: F.mse_loss(x, t, reduction="none"), lambda x, t: TF.mse_loss(x, t, reduction="none"),
                 ([-1.5, 0.5, 2.0, -0.0, 0.0, NAN], [INF, 0.5, -INF, -0.0, 0.0, 1.0])),
    "mse_loss_mean": (F.mse_loss, TF.mse_loss, ([[-1.5, 0.5], [-0.0, 3.0]], [[INF, 0.5], [0.0, -INF]])),
    "binary_cross_entropy": (
        lambda x, t: F.binary_cross_entropy(x, t, reduction="none"),
        lambda x, t: TF.binary_cross_entropy(x, t, reduction="none"),
        ([0.0, -0.0, 1.0, 0.3, 0.0, -0.0, 0.0, 1.0], [0.5, 0.5, 0.5, 0.0, 0.0, -0.0, -0.0, 1.0])),
    "bce_with_logits_pos_weight": (
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none", pos_weight=kitty.tensor([0.5, 2.0])),
        lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction="none",
                                                         pos_weight=torch.tensor([0.5, 2.0], dtype=torch.float64)),
        ([[INF, -1.5], [100.0, -INF], [-0.0, 0.0]], [[INF, 0.3], [-INF, 0.5], [1.0, 0.0]])),
    "cross_entropy_ignored_row": (
        lambda x: F.cross_entropy(x, kitty.tensor([2, 4, 0]), ignore_index=0, reduction="sum"),
        lambda x: TF.cross_entropy(x, torch.tensor([2, 4, 0]), ignore_index=0, reduction="sum"),
        ([[0.0, -0.0, 1.0, -0.5, -INF], [-1.8, -1.5, 1.8, -0.0, 1.5], [2.5, 0.0, 1.0, INF, NAN]],)),
    "cross_entropy_probabilities": (
        lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1, reduction="none"),
        lambda x, t: TF.cross_entropy(x, t, label_smoothing=0.1, reduction="none"),
        ([[0.1, 0.0], [0.1, NAN], [-2.5, -0.5]], [[0.9, -INF], [0.3, NAN], [NAN, 0.0]])),
}


@pytest.mark.parametrize("name", sorted(SECOND_DERIVATIVES_AT_SPECIALS))
def test_loss_second_derivatives_at_non_finite_and_signed_zero_inputs(name):
    # mse_loss: the target's gradient is torch's own 2 * (target - input) * grad (+0 at equal values;
    # its derivative w.r.t. the upstream gradient is nan, not inf, at an infinite difference);
    # binary_cross_entropy: torch's loss is +0 at input 0 and target 0, and the target's gradient
    # (-logit(input)) has the derivative +inf at input -0.0 as at 0.0; bce_with_logits' recorded
    # sigmoid has torch's derivative beyond +-88 (not a clip's 0, which hid a nan factor);
    # cross_entropy's recorded rule is torch's composition: the upstream gradient's derivative skips
    # ignored rows and keeps an infinite probability's inf
    kitty_fn, torch_fn, values = SECOND_DERIVATIVES_AT_SPECIALS[name]
    for seed in range(3):
        for actual, expected in zip(_derivatives(kitty, kitty_fn, values, seed),
                                    _derivatives(torch, torch_fn, values, seed)):
            np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-9, equal_nan=True)
            # (cross_entropy's zeros at -inf logits and ignored rows keep NumPy's signs: not checked)
            zeros = (actual == 0) & (expected == 0) & (not name.startswith("cross_entropy"))
            assert (np.signbit(actual[zeros]) == np.signbit(expected[zeros])).all(), (actual, expected)
