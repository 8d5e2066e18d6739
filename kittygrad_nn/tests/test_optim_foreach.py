"""The optimizers' multi-tensor (``foreach``) step against their per-parameter step: the same numbers bit
for bit (parameters, every state entry, versions), and the per-parameter step whenever the group or
its state is not the one laid out (optim/_foreach.py)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

import kittygrad_core as kitty
from kittygrad_nn import optim

SHAPES = [(6, 16), (16,), (16, 8), (8,), (8, 3), (3,)]

MAKERS = {
    "sgd": lambda p, f: optim.SGD(p, lr=0.05, foreach=f),
    "sgd-momentum-nesterov-wd": lambda p, f: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True,
                                                       weight_decay=1e-3, foreach=f),
    "sgd-dampening-maximize": lambda p, f: optim.SGD(p, lr=0.1, momentum=0.5, dampening=0.3, maximize=True,
                                                     foreach=f),
    "adam": lambda p, f: optim.Adam(p, lr=1e-2, foreach=f),
    "adam-amsgrad-wd": lambda p, f: optim.Adam(p, lr=1e-2, weight_decay=1e-2, amsgrad=True, foreach=f),
    "adamw-maximize": lambda p, f: optim.AdamW(p, lr=1e-2, maximize=True, foreach=f),
    "rmsprop": lambda p, f: optim.RMSprop(p, lr=1e-3, foreach=f),
    "rmsprop-centered-momentum": lambda p, f: optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True,
                                                            weight_decay=1e-3, foreach=f),
}


def _params(dtype=np.float32, shapes=SHAPES, seed=0):
    rng = np.random.default_rng(seed)
    return [kitty.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _grads(params, step, skip=()):
    rng = np.random.default_rng(100 + step)
    for i, p in enumerate(params):
        g = rng.standard_normal(p.shape).astype(p.numpy().dtype)
        p.grad = None if i in skip else kitty.tensor(g)


def _assert_same(a_params, a_opt, b_params, b_opt, versions=True):
    for p, q in zip(a_params, b_params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
        assert p.version == q.version or not versions
        sa, sb = a_opt.state.get(p), b_opt.state.get(q)
        assert (sa is None) == (sb is None)
        if sa is not None:
            assert sorted(sa) == sorted(sb)
            for name in sa:
                np.testing.assert_array_equal(sa[name].numpy(), sb[name].numpy(), err_msg=name)


def _count_flat_updates(optimizer):
    """Counts the calls of the optimizer's rule on a whole group laid end to end."""
    calls, rule = [0], optimizer._update

    def counting(group, param, grad, state):
        calls[0] += param.ndim == 1 and param.size == sum(p.numpy().size for p in group["params"])
        return rule(group, param, grad, state)
    optimizer._update = counting
    return calls


def _pair(name, shapes=SHAPES, dtype=np.float32):
    fast, slow = _params(dtype, shapes), _params(dtype, shapes)
    return fast, MAKERS[name](fast, None), slow, MAKERS[name](slow, False)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_foreach_equals_per_parameter_bit_for_bit(name):
    fast, fast_opt, slow, slow_opt = _pair(name)
    flat, slow_flat = _count_flat_updates(fast_opt), _count_flat_updates(slow_opt)
    for step in range(6):
        _grads(fast, step), _grads(slow, step)
        fast_opt.step(), slow_opt.step()
        _assert_same(fast, fast_opt, slow, slow_opt)
    assert flat[0] == 6 and slow_flat[0] == 0  # every step of the fast one took the flat path


@pytest.mark.parametrize("name", ["adam", "sgd-momentum-nesterov-wd", "rmsprop-centered-momentum"])
def test_a_parameter_without_gradient_steps_per_parameter(name):
    fast, fast_opt, slow, slow_opt = _pair(name)
    for step, skip in enumerate([(1,), (), (), (0, 4), ()]):  # a first step with one parameter missing
        _grads(fast, step, skip), _grads(slow, step, skip)
        fast_opt.step(), slow_opt.step()
        _assert_same(fast, fast_opt, slow, slow_opt)


def test_state_tensors_are_live_views():
    fast, fast_opt, slow, slow_opt = _pair("adam")
    _grads(fast, 0), _grads(slow, 0)
    fast_opt.step(), slow_opt.step()
    held = fast_opt.state[fast[2]]["exp_avg"]
    before = held.numpy().copy()
    _grads(fast, 1), _grads(slow, 1)
    fast_opt.step(), slow_opt.step()
    assert not np.array_equal(held.numpy(), before)  # a tensor taken from the state sees later steps
    np.testing.assert_array_equal(held.numpy(), slow_opt.state[slow[2]]["exp_avg"].numpy())
    # and a write into it is the optimizer's state (as in torch, where the state tensor is the state)
    held.numpy()[...] = 0
    slow_opt.state[slow[2]]["exp_avg"].numpy()[...] = 0
    _grads(fast, 2), _grads(slow, 2)
    fast_opt.step(), slow_opt.step()
    _assert_same(fast, fast_opt, slow, slow_opt)


@pytest.mark.parametrize("change", ["replace-buffer", "replace-step", "write-step", "drop-state",
                                    "swap-param", "clear-state"])
def test_state_changed_from_outside_is_honoured(change):
    fast, fast_opt, slow, slow_opt = _pair("adam")
    for step in range(2):
        _grads(fast, step), _grads(slow, step)
        fast_opt.step(), slow_opt.step()
    for params, opt in ((fast, fast_opt), (slow, slow_opt)):
        p = params[2]
        if change == "replace-buffer":
            opt.state[p]["exp_avg"] = kitty.ones(*p.shape)
        elif change == "replace-step":
            opt.state[p]["step"] = kitty.tensor(10.0)
        elif change == "write-step":
            opt.state[p]["step"].numpy().fill(7.0)
        elif change == "drop-state":
            del opt.state[p]
        elif change == "clear-state":
            opt.state = {}
        elif change == "swap-param":
            new = kitty.tensor(params[2].numpy() * 2, requires_grad=True)
            opt.param_groups[0]["params"][2] = new
            opt.state[new] = opt.state.pop(params[2])  # the state moves with it
            params[2] = new
    for step in range(2, 5):
        _grads(fast, step), _grads(slow, step)
        fast_opt.step(), slow_opt.step()
        _assert_same(fast, fast_opt, slow, slow_opt)
    if change == "clear-state":  # all state made anew: laid out again
        pack = fast_opt._packs[id(fast_opt.param_groups[0])]
        assert pack.dicts[0] is fast_opt.state[fast[0]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])  # the step count is float32 either way
def test_load_state_dict_continues_identically(dtype):
    fast, fast_opt, slow, slow_opt = _pair("adam-amsgrad-wd", dtype=dtype)
    for step in range(3):
        _grads(fast, step), _grads(slow, step)
        fast_opt.step(), slow_opt.step()
    restored_params = [kitty.tensor(p.numpy().copy(), requires_grad=True) for p in fast]
    restored = optim.Adam(restored_params, lr=0.5)
    restored.load_state_dict(fast_opt.state_dict())
    assert restored._packs  # load_state_dict lays its fresh state out flat
    flat = _count_flat_updates(restored)
    for step in range(3, 7):
        for params in (fast, slow, restored_params):
            _grads(params, step)
        fast_opt.step(), slow_opt.step(), restored.step()
        _assert_same(fast, fast_opt, slow, slow_opt)
        _assert_same(restored_params, restored, slow, slow_opt, versions=False)
    assert flat[0] == 4  # and uses it


def test_deepcopy_drops_the_layout_and_stays_correct():
    fast, fast_opt, slow, slow_opt = _pair("adam")
    for step in range(2):
        _grads(fast, step), _grads(slow, step)
        fast_opt.step(), slow_opt.step()
    twin = copy.deepcopy({"params": fast, "opt": fast_opt})  # one memo: the copy's state keys are its params
    twin_params, twin_opt = twin["params"], twin["opt"]
    assert not twin_opt._packs
    for step in range(2, 5):
        for params in (fast, slow, twin_params):
            _grads(params, step)
        fast_opt.step(), slow_opt.step(), twin_opt.step()
        _assert_same(twin_params, twin_opt, slow, slow_opt)
        _assert_same(fast, fast_opt, slow, slow_opt)


def test_groups_that_are_not_laid_out():
    # mixed dtypes, a single parameter, large parameters: the per-parameter step, same results
    for shapes, dtypes in ((SHAPES[:2], (np.float32, np.float64)), ([(5,)], (np.float32,)),
                           ([(256, 128), (256, 128)], (np.float32,))):
        params = [kitty.tensor(np.ones(s, d), requires_grad=True) for s, d in zip(shapes, dtypes * 2)]
        opt = optim.Adam(params, lr=0.1)
        for p in params:
            p.grad = kitty.ones(*p.shape, dtype=p.dtype)
        opt.step()
        assert not opt._packs
        for p in params:
            np.testing.assert_allclose(p.numpy(), 0.9)
