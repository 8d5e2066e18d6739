"""Random programs of ops, views and in-place ops: kittygrad and torch agree on values, gradients and
on which programs must fail (a saved tensor modified in place)."""
from __future__ import annotations

import warnings

import numpy as np
from conftest import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import kittygrad_core as kitty

SHAPE = (3, 4)
STEP = st.tuples(st.sampled_from(["add", "mul", "sub", "tanh", "sigmoid", "sin", "view_t", "view_slice",
                                   "iadd", "imul", "setitem"]),
                 st.integers(0, 10 ** 6), st.integers(0, 10 ** 6))


def run(lib, program, seed):
    """Runs ``program`` with ``lib``; returns the output, the leaves' grads, or the error's type."""
    rng = np.random.default_rng(seed)
    leaves = [lib.tensor(rng.uniform(-1, 1, SHAPE), requires_grad=True) for _ in range(2)]
    values = [leaf * 1 for leaf in leaves]  # non-leaf starting values, so in-place ops are legal
    for name, i, j in program:
        x, y = values[i % len(values)], values[j % len(values)]
        if name in ("add", "mul", "sub"):
            values.append(getattr(x, f"__{name}__")(y))
        elif name in ("tanh", "sigmoid", "sin"):
            values.append(getattr(x, name)())
        elif name == "view_t":
            values.append(x.transpose(0, 1).transpose(0, 1))
        elif name == "view_slice":
            values.append(x[1:, ::2])
        elif name == "iadd":
            if x.shape == y.shape or y.shape == (y.shape[0], 1):
                x.add_(y * 0.5)
        elif name == "imul":
            x.mul_(0.5)
        elif name == "setitem":
            if x.shape == SHAPE:
                x[j % 3] = y.sum() * 0.1
    weights = np.random.default_rng(seed + 1)
    loss = sum((v * lib.tensor(weights.uniform(-1, 1, v.shape))).sum() for v in values)
    loss.backward()
    return loss.item(), [leaf.grad.numpy().copy() for leaf in leaves]


def outcome(lib, program, seed):
    """``run``'s result, or ``"error"`` when backward (or an in-place op) refuses the program."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run(lib, program, seed)
    except RuntimeError:
        return "error"


@settings(max_examples=60, deadline=None, database=None)
@given(program=st.lists(STEP, min_size=1, max_size=8), seed=st.integers(0, 1000))
def test_random_programs_match_torch(program, seed):
    mine, theirs = outcome(kitty, program, seed), outcome(torch, program, seed)
    assert (mine == "error") == (theirs == "error"), (mine, theirs)
    if mine == "error":
        return
    np.testing.assert_allclose(mine[0], theirs[0], rtol=1e-6)
    for k, t in zip(mine[1], theirs[1]):
        np.testing.assert_allclose(k, t, rtol=1e-5, atol=1e-6)
