"""Module hooks against torch: order, replacement, removal, grad_input and grad_output."""
import types

import numpy as np
import pytest
import torch

import kittygrad_core
import kittygrad_nn

# kittygrad-nn's session installs core, ops and nn only (no umbrella): the names the tests use
kitty = types.SimpleNamespace(nn=kittygrad_nn, tensor=kittygrad_core.tensor, float64=kittygrad_core.float64,
                              no_grad=kittygrad_core.no_grad, ones=kittygrad_core.ones)

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
W = np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]])


def model(lib):
    layer = lib.nn.Linear(3, 2).double()
    with lib.no_grad():
        layer.weight.copy_(lib.tensor(W)) if lib is torch else None
    if lib is kitty:
        layer.weight = kitty.nn.Parameter(kitty.tensor(W, dtype=kitty.float64))
    layer.bias = lib.nn.Parameter(lib.tensor([0.05, -0.05], dtype=lib.float64))
    return layer


def run(lib, register):
    log = []
    layer = model(lib)
    handles = register(lib, layer, log)
    x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
    out = layer(x)
    (out * out).sum().backward()
    for h in handles:
        h.remove()
    again = layer(x)
    return log, out.detach().numpy(), x.grad.numpy(), layer.weight.grad.numpy(), again.detach().numpy()


def compare(register):
    k, t = run(kitty, register), run(torch, register)
    assert len(k[0]) == len(t[0])
    for (kn, kv), (tn, tv) in zip(k[0], t[0]):
        assert kn == tn
        for a, b in zip(kv, tv):
            if a is None or b is None:
                assert a is None and b is None
            else:
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)
    for a, b in zip(k[1:], t[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def arrays(values):
    return [None if v is None else v.detach().numpy().copy() for v in values]


def test_forward_pre_and_forward_hooks_modify_args_and_output_in_order():
    def register(lib, layer, log):
        return [layer.register_forward_pre_hook(lambda m, args: log.append(("pre1", arrays(args)))),
                layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,)),
                layer.register_forward_pre_hook(lambda m, args: log.append(("pre3", arrays(args)))),
                layer.register_forward_hook(lambda m, args, out: out + 1),
                layer.register_forward_hook(lambda m, args, out: log.append(("fwd", arrays([out])))),
                layer.register_forward_pre_hook(lambda m, args: log.append(("first", arrays(args))),
                                                prepend=True)]
    compare(register)


def test_full_backward_hook_sees_and_replaces_grad_input():
    def register(lib, layer, log):
        def record(module, grad_input, grad_output):
            log.append(("bwd", arrays(grad_input) + arrays(grad_output)))

        return [layer.register_full_backward_hook(record),
                layer.register_full_backward_hook(lambda m, gi, go: (gi[0] * 3,)),
                layer.register_full_backward_hook(record)]
    compare(register)


def test_full_backward_hook_when_the_input_needs_no_gradient():
    for lib in (kitty, torch):
        log = []
        layer = model(lib)
        layer.register_full_backward_hook(lambda m, gi, go, log=log: log.append((gi[0], go[0].shape)))
        layer(lib.tensor(X, dtype=lib.float64)).sum().backward()
        assert log == [(None, (2, 2))], lib


def test_several_inputs_requiring_grad_are_refused_clearly():
    class Add(kitty.nn.Module):
        def forward(self, a, b):
            return a + b

    add = Add()
    add.register_full_backward_hook(lambda m, gi, go: None)
    a, b = kitty.ones(2, requires_grad=True), kitty.ones(2, requires_grad=True)
    with pytest.raises(NotImplementedError, match="Add: a full backward hook"):
        add(a, b)
