"""The op records of kittygrad-conv: 2-D convolution and pooling over NCHW arrays (or unbatched CHW).

Everything is vectorised with NumPy through one idea, im2col: ``sliding_window_view`` exposes the
(dilated, strided) windows of the padded input as a read-only view of shape ``(N, C, OH, OW, kh, kw)``,
without copying. Convolution copies that view once into a matrix (``(groups, N*OH*OW, C/groups*kh*kw)``)
and multiplies it by the weights with one batched ``matmul``; pooling reduces over the window axes.

The backward of the input is the reverse, col2im: each window's gradient is added back onto the
pixels it covers (:func:`_col2im`). Windows overlap, so that scatter-add is done as a loop over the
``kh * kw`` kernel offsets (9 for a 3x3 kernel), each step one strided add of an ``(N, C, OH, OW)``
block in which no two windows touch the same pixel. There is no loop over pixels, batch or channels.
(``numpy.add.at`` would avoid the loop but is an order of magnitude slower.)
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import kittygrad_core
from kittygrad_core import Composite, Conformance, Op

# ---------------------------------------------------------------------------------------------- helpers


def _pair(op: str, name: str, value) -> tuple[int, int]:
    """An int or a pair of ints as ``(h, w)``, as torch accepts them."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) in (1, 2) \
            and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return (int(value[0]),) * 2 if len(value) == 1 else (int(value[0]), int(value[1]))
    raise TypeError(f"{op}(): {name} must be an int or a tuple of two ints, got {value!r}")


def _batched(op: str, input: np.ndarray) -> tuple[np.ndarray, bool]:
    """The input as NCHW, and whether it was batched already (a CHW input gets N = 1)."""
    if input.ndim == 4:
        return input, True
    if input.ndim == 3:
        return input[None], False
    raise RuntimeError(f"{op}(): expected a 3-D (unbatched) or 4-D (batched) input, but got input of "
                       f"shape {input.shape}")


def _padded(x: np.ndarray, pads: tuple[int, int, int, int], value: float = 0.0) -> np.ndarray:
    top, bottom, left, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _output_size(op: str, size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int]) -> tuple[int, int]:
    """The output height and width for a padded input of ``size``; raises when the kernel does not fit."""
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(e > s for e, s in zip(effective, size)):
        raise RuntimeError(f"{op}(): padded input size per channel ({size[0]} x {size[1]}) is smaller "
                           f"than the dilated kernel size ({effective[0]} x {effective[1]})")
    return tuple((s - e) // st + 1 for s, e, st in zip(size, effective, stride))


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int]) -> np.ndarray:
    """The ``(N, C, OH, OW, kh, kw)`` windows of the padded NCHW array ``x``: a view, no copy."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    view = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return view[:, :, ::sh, ::sw, ::dh, ::dw]


def _col2im(xp, cols: np.ndarray, shape: tuple[int, ...], stride: tuple[int, int],
            dilation: tuple[int, int]) -> np.ndarray:
    """Adds window gradients ``cols`` ``(N, C, OH, OW, kh, kw)`` onto zeros of the padded ``shape``.

    One strided add per kernel offset: within a step the windows hit distinct pixels, so nothing is
    lost to overlap (see the module docstring). Written with ``xp`` only: a ``create_graph`` pass
    records the same adds."""
    out = xp.zeros(shape, dtype=cols.dtype)
    _, _, oh, ow, kh, kw = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    for i in range(kh):
        for j in range(kw):
            out[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw] \
                += cols[:, :, :, :, i, j]
    return out


def _recorded_windows(xp, x, pads: tuple[int, int, int, int], kernel: tuple[int, int],
                      stride: tuple[int, int], dilation: tuple[int, int]):
    """``_windows`` of the padded NCHW ``x`` with ``xp`` alone (one strided slice per kernel offset,
    no view tricks), so that a ``create_graph`` pass records them: ``(N, C, OH, OW, kh, kw)``."""
    top, bottom, left, right = pads
    if any(pads):
        padded = xp.zeros(x.shape[:2] + (x.shape[2] + top + bottom, x.shape[3] + left + right), x.dtype)
        padded[:, :, top:top + x.shape[2], left:left + x.shape[3]] = x
        x = padded
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    oh, ow = _output_size("conv2d", x.shape[2:], kernel, stride, dilation)
    patches = [xp.expand_dims(x[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw],
                              -1) for i in range(kh) for j in range(kw)]
    return xp.concatenate(patches, axis=-1).reshape(x.shape[:2] + (oh, ow, kh, kw))


def _crop(x: np.ndarray, pads: tuple[int, int, int, int], batched: bool) -> np.ndarray:
    top, bottom, left, right = pads
    x = x[:, :, top:x.shape[2] - bottom, left:x.shape[3] - right]
    return x if batched else x[0]


# ---------------------------------------------------------------------------------------------- conv2d


def _conv_padding(padding, kernel: tuple[int, int], stride: tuple[int, int],
                  dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)``; ``"same"`` puts an odd extra pixel at the end, as torch does."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise RuntimeError(f"conv2d(): invalid padding string {padding!r}; expected 'valid' or 'same'")
        if stride != (1, 1):
            raise RuntimeError("conv2d(): padding='same' is not supported for strided convolutions")
        pads = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    ph, pw = _pair("conv2d", "padding", padding)
    if ph < 0 or pw < 0:
        raise RuntimeError("conv2d(): negative padding is not supported")
    return ph, ph, pw, pw


def _check_conv(input: np.ndarray, weight: np.ndarray, bias: np.ndarray, groups) -> None:
    if weight.ndim != 4:
        raise RuntimeError(f"conv2d(): expected a 4-D weight (out_channels, in_channels/groups, kH, kW), "
                           f"but got weight of shape {weight.shape}")
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups <= 0:
        raise RuntimeError(f"conv2d(): groups must be a positive int, got {groups!r}")
    out_channels, group_channels = weight.shape[:2]
    if input.shape[1] != group_channels * groups:
        raise RuntimeError(f"conv2d(): given groups={groups} and weight of shape {weight.shape}, expected "
                           f"input of shape {input.shape} to have {group_channels * groups} channels, but "
                           f"got {input.shape[1]} channels instead")
    if out_channels % groups:
        raise RuntimeError(f"conv2d(): given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of shape {weight.shape}")
    if bias.shape != (out_channels,):
        raise RuntimeError(f"conv2d(): given weight of shape {weight.shape}, expected bias to be 1-D with "
                           f"{out_channels} elements, but got bias of shape {bias.shape}")
    if not input.dtype == weight.dtype == bias.dtype:
        raise RuntimeError(f"conv2d(): expected input, weight and bias of the same dtype, but got "
                           f"{input.dtype}, {weight.dtype} and {bias.dtype}")


class Conv2dRecord(Op):
    """_conv2d(input, weight, bias, stride=1, padding=0, dilation=1, groups=1) -> Tensor

    The record behind ``conv2d``, with ``bias`` required (``conv2d`` passes zeros, which get no
    gradient, for ``bias=None``). Cross-correlation as in torch: ``input`` is ``(N, C, H, W)`` or
    ``(C, H, W)``, ``weight`` ``(O, C/groups, kH, kW)``, ``bias`` ``(O,)``."""

    # what backward reads; input and weight only when recording (cols and wmat are constant copies)
    __slots__ = ("input", "weight", "cols", "wmat", "geometry")

    name = "_conv2d"
    functions = methods = ()
    differentiable_backward = True

    def forward(self, xp, input, weight, bias, stride=1, padding=0, dilation=1, groups=1):
        x, batched = _batched("conv2d", input)
        _check_conv(x, weight, bias, groups)
        kernel = weight.shape[2:]
        stride, dilation = _pair("conv2d", "stride", stride), _pair("conv2d", "dilation", dilation)
        if min(stride) <= 0:
            raise RuntimeError("conv2d(): non-positive stride is not supported")
        if min(dilation) <= 0:
            raise RuntimeError("conv2d(): dilation should be greater than zero")
        pads = _conv_padding(padding, kernel, stride, dilation)
        x = _padded(x, pads)
        oh, ow = _output_size("conv2d", x.shape[2:], kernel, stride, dilation)
        n, c = x.shape[:2]
        o, cg, kh, kw = weight.shape
        g, og = groups, o // groups
        # im2col: the one copy of the windows, grouped, as (G, N*OH*OW, C/G*kh*kw) rows
        cols = _windows(x, kernel, stride, dilation).reshape(n, g, cg, oh, ow, kh, kw) \
            .transpose(1, 0, 3, 4, 2, 5, 6).reshape(g, n * oh * ow, cg * kh * kw)
        wmat = weight.reshape(g, og, cg * kh * kw).transpose(0, 2, 1)  # (G, K, O/G)
        out = (cols @ wmat).reshape(g, n, oh, ow, og).transpose(1, 0, 4, 2, 3).reshape(n, o, oh, ow)
        out += bias[:, None, None]
        self.input, self.weight, self.cols, self.wmat = input, weight, cols, wmat
        self.geometry = (x.shape, weight.shape, stride, dilation, pads, batched)
        return out if batched else out[0]

    def backward(self, xp, grad):
        padded_shape, weight_shape, stride, dilation, pads, batched = self.geometry
        n, c = padded_shape[:2]
        o, cg, kh, kw = weight_shape
        g = self.cols.shape[0]
        og = o // g
        grad = grad if batched else grad[None]
        oh, ow = grad.shape[2:]
        rows = grad.reshape(n, g, og, oh, ow).transpose(1, 0, 3, 4, 2).reshape(g, n * oh * ow, og)
        grad_input = grad_weight = grad_bias = None
        wmat = self.wmat
        if xp is not np and self.needs_input_grad[0]:  # recorded: from the (differentiable) weight
            wmat = self.weight.reshape(g, og, cg * kh * kw).transpose(0, 2, 1)
        if self.needs_input_grad[0]:
            dcols = (rows @ wmat.transpose(0, 2, 1)).reshape(g, n, oh, ow, cg, kh, kw) \
                .transpose(1, 0, 4, 2, 3, 5, 6).reshape(n, c, oh, ow, kh, kw)
            grad_input = _crop(_col2im(xp, dcols, padded_shape, stride, dilation), pads, batched)
        if self.needs_input_grad[1]:
            cols = self.cols
            if xp is not np:  # recorded: the windows of the (differentiable) input
                x = self.input if batched else self.input[None]
                cols = _recorded_windows(xp, x, pads, (kh, kw), stride, dilation) \
                    .reshape(n, g, cg, oh, ow, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6) \
                    .reshape(g, n * oh * ow, cg * kh * kw)
            grad_weight = (cols.transpose(0, 2, 1) @ rows).transpose(0, 2, 1).reshape(weight_shape)
        if self.needs_input_grad[2]:
            grad_bias = grad.sum(axis=(0, 2, 3))
        return grad_input, grad_weight, grad_bias


# Hypothesis helpers for the conformance metadata (imported lazily: hypothesis is a test extra).

def _conv_shapes(draw, bias=None):
    """Valid NCHW (or CHW) input, weight and, maybe, bias shapes; groups is read back from them."""
    from hypothesis import strategies as st
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    n, cg, og = draw(st.integers(0, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(2, 6)), draw(st.integers(2, 6))
    batch = (n,) if n or draw(st.booleans()) else ()  # n == 0: an empty batch, or a CHW input
    shapes = [(*batch, cg * groups, h, w), (og * groups, cg, kh, kw)]
    if bias if bias is not None else draw(st.booleans()):
        shapes.append((og * groups,))
    return shapes


def _groups(draw, shapes):
    return shapes[0][-3] // shapes[1][1]


_CONV_OPTIONS = {"stride": [1, 2, (2, 1)], "padding": [0, 1, (0, 2), "valid", "same"],
                 "dilation": [1, 2, (1, 2)], "groups": _groups}


class Conv2d(Composite):
    """conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor

    2-D convolution (cross-correlation) as ``torch.nn.functional.conv2d``: ``input`` ``(N, C, H, W)``
    or ``(C, H, W)``, ``weight`` ``(O, C/groups, kH, kW)``, optional ``bias`` ``(O,)``; ``stride``,
    ``dilation`` an int or ``(h, w)``; ``padding`` an int, ``(h, w)``, ``"valid"`` or ``"same"``."""

    name = "conv2d"
    methods = ()
    conformance = Conformance(torch="nn.functional.conv2d", shapes=_conv_shapes, options=_CONV_OPTIONS,
                              rtol=1e-4, atol=1e-4)

    @staticmethod
    def call(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if bias is None:
            if not hasattr(weight, "shape"):  # the op itself names the argument; say it here too
                raise TypeError(f"conv2d(): argument 'weight' must be Tensor, not {type(weight).__name__}")
            bias = np.zeros(weight.shape[:1], dtype=weight.dtype)  # an array: it gets no gradient
        return kittygrad_core.registry.call("_conv2d", input, weight, bias, stride, padding, dilation,
                                            groups)


Conv2dRecord.conformance = Conformance(
    torch=lambda torch, x, w, b, **options: torch.nn.functional.conv2d(x, w, b, **options),
    call=lambda kitty, x, w, b, **options: kitty.registry.call("_conv2d", x, w, b, **options),
    shapes=lambda draw: _conv_shapes(draw, bias=True), options=_CONV_OPTIONS, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------- pooling


def _pool_geometry(op: str, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    if ceil_mode:
        raise NotImplementedError(f"{op}(): ceil_mode=True is not supported")
    kernel = _pair(op, "kernel_size", kernel_size)
    stride = kernel if stride is None or stride == [] or stride == () else _pair(op, "stride", stride)
    padding, dilation = _pair(op, "padding", padding), _pair(op, "dilation", dilation)
    if min(kernel) <= 0:
        raise RuntimeError(f"{op}(): kernel_size must be greater than zero, got {kernel}")
    if min(stride) <= 0:
        raise RuntimeError(f"{op}(): stride must be greater than zero, got {stride}")
    if min(dilation) <= 0:
        raise RuntimeError(f"{op}(): dilation must be greater than zero, got {dilation}")
    if min(padding) < 0 or any(p > k // 2 for p, k in zip(padding, kernel)):
        raise RuntimeError(f"{op}(): pad should be at most half of kernel size, but got pad={padding} "
                           f"and kernel_size={kernel}")
    return kernel, stride, (padding[0], padding[0], padding[1], padding[1]), dilation


class MaxPool2d(Op):
    """max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False) -> Tensor

    The maximum over each (dilated) window of ``input`` ``(N, C, H, W)`` or ``(C, H, W)``; ``stride``
    defaults to ``kernel_size`` and padding counts as ``-inf``. The gradient goes to the first maximum of
    each window in row-major order, as in torch; ``ceil_mode=True`` is not supported."""

    __slots__ = ("index", "geometry")  # what backward reads

    name = "max_pool2d"
    methods = ()
    n_inputs = 1
    differentiable_backward = True  # linear in grad: the window maxima are constants
    conformance = Conformance(
        torch="nn.functional.max_pool2d", shapes=lambda draw: _pool_shapes(draw),
        options={"kernel_size": [1, 2, 3, (2, 3)], "stride": [None, 1, 2, (1, 2)], "padding": [0, 1],
                 "dilation": [1, 2]})

    def forward(self, xp, input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        kernel, stride, pads, dilation = _pool_geometry("max_pool2d", kernel_size, stride, padding,
                                                        dilation, ceil_mode)
        x, batched = _batched("max_pool2d", input)
        x = _padded(x, pads, -np.inf)
        oh, ow = _output_size("max_pool2d", x.shape[2:], kernel, stride, dilation)
        n, c = x.shape[:2]
        flat = _windows(x, kernel, stride, dilation).reshape(n, c, oh, ow, kernel[0] * kernel[1])
        self.index = flat.argmax(axis=-1)[..., None]  # the first maximum, as torch
        self.geometry = (x.shape, kernel, stride, dilation, pads, batched)
        out = xp.take_along_axis(flat, self.index, axis=-1)[..., 0]
        return out if batched else out[0]

    def backward(self, xp, grad):
        padded_shape, kernel, stride, dilation, pads, batched = self.geometry
        grad = grad if batched else grad[None]
        if xp is np:
            cols = xp.zeros(grad.shape + (kernel[0] * kernel[1],), dtype=grad.dtype)
            xp.put_along_axis(cols, self.index, grad[..., None], axis=-1)
        else:  # recorded: put_along_axis as a product with the constant one-hot of the maxima
            cols = grad[..., None] * (np.arange(kernel[0] * kernel[1]) == self.index)
        cols = cols.reshape(grad.shape + kernel)
        return _crop(_col2im(xp, cols, padded_shape, stride, dilation), pads, batched)


class AvgPool2d(Op):
    """avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
    divisor_override=None) -> Tensor

    The mean over each window of ``input`` ``(N, C, H, W)`` or ``(C, H, W)``; ``stride`` defaults to
    ``kernel_size``, padding is zeros and counts in the divisor unless ``count_include_pad=False``.
    ``ceil_mode=True`` is not supported."""

    __slots__ = ("divisor", "geometry")  # what backward reads

    name = "avg_pool2d"
    methods = ()
    n_inputs = 1
    differentiable_backward = True  # linear in grad (the divisor is a constant)
    conformance = Conformance(
        torch="nn.functional.avg_pool2d", shapes=lambda draw: _pool_shapes(draw),
        options={"kernel_size": [1, 2, 3, (2, 3)], "stride": [None, 1, 2, (1, 2)], "padding": [0, 1],
                 "ceil_mode": [False], "count_include_pad": "bool", "divisor_override": [None, None, 3]})

    def forward(self, xp, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        kernel, stride, pads, dilation = _pool_geometry("avg_pool2d", kernel_size, stride, padding,
                                                        1, ceil_mode)
        if divisor_override is not None and divisor_override <= 0:
            raise RuntimeError("avg_pool2d(): divisor must be not zero")
        x, batched = _batched("avg_pool2d", input)
        x = _padded(x, pads)
        _output_size("avg_pool2d", x.shape[2:], kernel, stride, dilation)
        if divisor_override is not None:
            divisor = x.dtype.type(divisor_override)
        elif count_include_pad or not any(pads):
            divisor = x.dtype.type(kernel[0] * kernel[1])  # every window lies inside the padded input
        else:  # the real pixels of each window: pool a padded mask of ones
            mask = _padded(xp.ones((1, 1) + input.shape[-2:], dtype=x.dtype), pads)
            divisor = _windows(mask, kernel, stride, dilation).sum(axis=(-2, -1))[0, 0]
        self.divisor = divisor
        self.geometry = (x.shape, kernel, stride, dilation, pads, batched)
        out = _windows(x, kernel, stride, dilation).sum(axis=(-2, -1)) / divisor
        return out if batched else out[0]

    def backward(self, xp, grad):
        padded_shape, kernel, stride, dilation, pads, batched = self.geometry
        grad = grad if batched else grad[None]
        share = (grad / self.divisor)[..., None, None]
        cols = xp.broadcast_to(share, grad.shape + kernel)
        return _crop(_col2im(xp, cols, padded_shape, stride, dilation), pads, batched)


def _pool_shapes(draw):
    """One NCHW (or CHW) input at least as large as the largest dilated kernel the options draw."""
    from hypothesis import strategies as st
    n, c = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(5, 7)), draw(st.integers(5, 7))
    batch = (n,) if n or draw(st.booleans()) else ()
    return [(*batch, c, h, w)]


#: Every op record this distribution registers.
OPS = (Conv2dRecord, Conv2d, MaxPool2d, AvgPool2d)
