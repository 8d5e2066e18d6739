"""conv2d, max_pool2d and avg_pool2d against torch: stride, padding, dilation, groups, ties, errors."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import close, pair

import kittygrad_core as kitty

CONV_CASES = [  # input shape, weight shape, options
    ((2, 3, 7, 7), (4, 3, 3, 3), {}),
    ((2, 3, 7, 6), (4, 3, 3, 2), {"stride": 2}),
    ((1, 2, 8, 7), (3, 2, 3, 3), {"stride": (2, 3), "padding": (1, 2)}),
    ((2, 2, 9, 9), (2, 2, 3, 3), {"dilation": 2, "padding": 2}),
    ((2, 2, 9, 8), (2, 2, 2, 3), {"dilation": (2, 1), "stride": (1, 2), "padding": 1}),
    ((2, 4, 6, 6), (6, 2, 3, 3), {"groups": 2, "padding": 1}),
    ((1, 6, 5, 5), (6, 1, 3, 3), {"groups": 6, "padding": 1}),  # depthwise
    ((2, 3, 6, 7), (4, 3, 2, 4), {"padding": "same"}),  # even kernel: the odd pixel goes to the end
    ((2, 3, 6, 7), (4, 3, 3, 2), {"padding": "same", "dilation": (1, 3)}),
    ((2, 3, 6, 7), (4, 3, 3, 3), {"padding": "valid"}),
    ((3, 5, 5), (2, 3, 3, 3), {"padding": 1}),  # unbatched CHW
    ((0, 3, 5, 5), (2, 3, 3, 3), {}),  # empty batch
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own notice
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("x_shape, w_shape, options", CONV_CASES)
def test_conv2d_matches_torch(x_shape, w_shape, options, bias):
    (kx, tx), (kw, tw) = pair(x_shape, seed=1), pair(w_shape, seed=2)
    kb, tb = pair(w_shape[:1], seed=3) if bias else (None, None)
    ky, ty = kitty.conv2d(kx, kw, kb, **options), F.conv2d(tx, tw, tb, **options)
    close(ky, ty)
    g = np.random.default_rng(4).normal(size=ty.shape)
    ky.backward(kitty.tensor(g))
    ty.backward(torch.tensor(g))
    for k, t in [(kx, tx), (kw, tw)] + ([(kb, tb)] if bias else []):
        close(k.grad, t.grad)


def test_conv2d_float32_keeps_its_dtype():
    (kx, tx), (kw, tw) = pair((2, 3, 6, 6), "float32"), pair((4, 3, 3, 3), "float32", seed=1)
    ky, ty = kitty.conv2d(kx, kw, stride=2, padding=1), F.conv2d(tx, tw, stride=2, padding=1)
    close(ky, ty, rtol=1e-5, atol=1e-5)
    ky.backward(kitty.ones(*ky.shape))
    assert kx.grad.dtype == kw.grad.dtype == np.float32


def test_conv2d_gradient_only_where_asked():
    kx, _ = pair((1, 2, 5, 5), requires_grad=False)
    kw, tw = pair((3, 2, 3, 3), seed=1)
    y = kitty.conv2d(kx, kw)
    y.backward(kitty.ones(*y.shape, dtype=kitty.float64))
    assert kx.grad is None and kw.grad.shape == (3, 2, 3, 3)


def test_conv2d_signature_is_torchs():
    assert list(inspect.signature(kitty.conv2d).parameters) == \
        ["input", "weight", "bias", "stride", "padding", "dilation", "groups"]
    assert list(inspect.signature(kitty.max_pool2d).parameters)[:5] == \
        ["input", "kernel_size", "stride", "padding", "dilation"]
    assert list(inspect.signature(kitty.avg_pool2d).parameters)[:4] == \
        ["input", "kernel_size", "stride", "padding"]


@pytest.mark.parametrize("x_shape, w_shape, options, message", [
    ((2, 3, 5, 5), (4, 2, 3, 3), {}, "expected input of shape .* to have 2 channels"),
    ((2, 4, 5, 5), (3, 2, 3, 3), {"groups": 2}, "divisible by 2"),
    ((2, 3, 2, 2), (4, 3, 3, 3), {}, "smaller than the dilated kernel"),
    ((2, 3, 5, 5), (4, 3, 3, 3), {"stride": 0}, "non-positive stride"),
    ((2, 3, 5, 5), (4, 3, 3, 3), {"padding": -1}, "negative padding"),
    ((2, 3, 5, 5), (4, 3, 3, 3), {"padding": "same", "stride": 2}, "strided convolutions"),
    ((5, 5), (4, 3, 3, 3), {}, "3-D \\(unbatched\\) or 4-D"),
])
def test_conv2d_errors_follow_torch(x_shape, w_shape, options, message):
    (kx, tx), (kw, tw) = pair(x_shape), pair(w_shape)
    with pytest.raises(RuntimeError):
        F.conv2d(tx, tw, **options)
    with pytest.raises(RuntimeError, match=message):
        kitty.conv2d(kx, kw, **options)


def test_conv2d_rejects_mixed_dtypes():
    with pytest.raises(RuntimeError, match="same dtype"):
        kitty.conv2d(kitty.ones(1, 1, 3, 3), kitty.ones(1, 1, 2, 2, dtype=kitty.float64))


POOL_CASES = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 1, "padding": 1},
    {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 0)},
    {"kernel_size": 3, "stride": 2},
]


@pytest.mark.parametrize("options", POOL_CASES + [{"kernel_size": 2, "dilation": 2, "padding": 1},
                                                  {"kernel_size": 3, "dilation": (1, 2)}])
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 6, 6)], ids=["NCHW", "CHW"])
def test_max_pool2d_matches_torch(shape, options):
    kx, tx = pair(shape)
    ky, ty = kitty.max_pool2d(kx, **options), F.max_pool2d(tx, **options)
    close(ky, ty)
    g = np.random.default_rng(5).normal(size=ty.shape)
    ky.backward(kitty.tensor(g))
    ty.backward(torch.tensor(g))
    close(kx.grad, tx.grad)


@pytest.mark.parametrize("options", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1},
                                     {"kernel_size": 2, "stride": 1}])
def test_max_pool2d_ties_send_the_gradient_to_the_first_maximum_as_torch(options):
    data = np.array([[[[1., 1., 0., 2.], [1., 1., 2., 2.], [3., 0., 3., 3.], [0., 3., 3., 3.]]]])
    kx, tx = kitty.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    ky, ty = kitty.max_pool2d(kx, **options), F.max_pool2d(tx, **options)
    ky.backward(kitty.ones(*ky.shape, dtype=kitty.float64))
    ty.backward(torch.ones_like(ty))
    close(ky, ty)
    close(kx.grad, tx.grad)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("options", POOL_CASES + [{"kernel_size": 3, "padding": 1, "divisor_override": 5}])
def test_avg_pool2d_matches_torch(options, count_include_pad):
    kx, tx = pair((2, 3, 7, 8))
    ky = kitty.avg_pool2d(kx, **options, count_include_pad=count_include_pad)
    ty = F.avg_pool2d(tx, **options, count_include_pad=count_include_pad)
    close(ky, ty)
    g = np.random.default_rng(6).normal(size=ty.shape)
    ky.backward(kitty.tensor(g))
    ty.backward(torch.tensor(g))
    close(kx.grad, tx.grad)


def test_avg_pool2d_counts_padding_by_default_as_torch():
    x = kitty.ones(1, 1, 2, 2)
    assert kitty.avg_pool2d(x, 3, 1, 1).numpy()[0, 0, 0, 0] == pytest.approx(4 / 9)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pool_errors_follow_torch(op):
    kx, tx = pair((1, 1, 4, 4))
    with pytest.raises(RuntimeError):
        getattr(F, op)(tx, 2, padding=2)
    with pytest.raises(RuntimeError, match="pad should be at most half"):
        getattr(kitty, op)(kx, 2, padding=2)
    with pytest.raises(NotImplementedError, match="ceil_mode"):
        getattr(kitty, op)(kx, 2, ceil_mode=True)


def test_ops_are_registered_by_the_plugin_with_provenance():
    for name in ("conv2d", "_conv2d", "max_pool2d", "avg_pool2d"):
        record = kitty.registry[name]
        assert (record.plugin, record.distribution) == ("conv", "kittygrad-conv")
    assert sorted(kitty.plugins.plugins["conv"].ops) == ["_conv2d", "avg_pool2d", "conv2d", "max_pool2d"]
    assert not hasattr(kitty, "_conv2d")  # the record behind conv2d has no binding of its own


def test_pyproject_declares_every_public_name_so_a_missing_plugin_is_named():
    # Without this plugin loaded, `kitty.conv2d` then names kittygrad-conv and `pip install kittygrad-conv`.
    from pathlib import Path

    from kittygrad_core.testing import check_provides
    check_provides("kittygrad-conv", Path(__file__).resolve().parents[1] / "pyproject.toml")


def test_conv2d_without_bias_names_a_weight_of_the_wrong_type():
    with pytest.raises(TypeError, match=r"^conv2d\(\): argument 'weight' must be Tensor, not str"):
        kitty.conv2d(kitty.ones(1, 1, 3, 3), "bogus")


def test_importing_the_plugin_package_first_keeps_its_ops():
    # kittygrad_conv imports kittygrad_core, whose autoload meets kittygrad_conv half-imported: its entry
    # point waits (no warning) and loads with the first tensor made
    import subprocess
    import sys
    code = ("import kittygrad_conv\nimport kittygrad_core as k\nx = k.ones(1, 1, 3, 3)\n"
            "print('conv2d' in k.registry, k.plugins.deferred)")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "[]"]
