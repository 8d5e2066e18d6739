"""Second derivatives of reductions, products, shape and indexing ops in cases the conformance suite's
random draws rarely reach (zeros in a cumprod or prod, many repeats of an index), and a Newton step
(a Hessian built row by row) through matmul, mean, sum and indexing, all against torch."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import close, torch

import kittygrad_core as kitty


def second(fn, data, upstream_seed=3):
    """``d <w, grad f(x) . v> / dx`` and ``/ dv``, by kittygrad and by torch."""
    rng = np.random.default_rng(upstream_seed)
    results = []
    for lib in (kitty, torch):
        x = lib.tensor(data, requires_grad=True)
        out = fn(lib, x)
        v = lib.tensor(rng.uniform(0.5, 1.5, tuple(out.shape)), requires_grad=True)
        (g,) = lib.autograd.grad(out, x, v, create_graph=True)
        w = lib.tensor(np.random.default_rng(7).uniform(-1, 1, data.shape))
        sources = (x, v)
        found = lib.autograd.grad((g * w).sum(), sources, allow_unused=True)
        results.append([lib.zeros_like(s) if f is None else f for f, s in zip(found, sources)])
        rng = np.random.default_rng(upstream_seed)
    (kx, kv), (tx, tv) = results
    close(kx, tx, rtol=1e-9, atol=1e-11)
    close(kv, tv, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("data", [[[1.5, 0.0, 2.0, -1.0], [0.0, 0.0, 3.0, 0.5]],
                                  [[2.0, 1.0, 0.0, 0.0], [1.0, -2.0, 0.5, 0.0]]])
@pytest.mark.parametrize("dim", [0, 1])
def test_cumprod_with_zeros(data, dim):
    second(lambda lib, x: lib.cumprod(x, dim), np.array(data))


@pytest.mark.parametrize("data", [[1.5, 0.0, 2.0, -1.0], [0.0, 3.0, 0.0, 2.0], [0.5, 2.0, -3.0, 1.5]])
def test_prod_with_zeros(data):
    second(lambda lib, x: lib.prod(x), np.array(data))
    second(lambda lib, x: lib.prod(x.reshape(2, 2), 1), np.array(data))


@pytest.mark.parametrize("shape, dim", [((0, 0), 0), ((2, 0), 1), ((0, 3), 0), ((), 0)])
def test_prod_over_empty_or_no_dims(shape, dim):
    second(lambda lib, x: lib.prod(x, dim), np.ones(shape))


def test_repeated_indices_add_up():
    index = [0, 2, 0, 0, 1, 2]
    second(lambda lib, x: (x[index] ** 2), np.array([1.0, -2.0, 0.5]))
    second(lambda lib, x: lib.index_select(x, 0, lib.tensor(index)) ** 2, np.array([1.0, -2.0, 0.5]))


def test_newton_step_matches_torch():
    """One Newton step on a least-squares-with-quartic loss: the Hessian from double backward."""
    rng = np.random.default_rng(0)
    a, b, start = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    steps = []
    for lib in (kitty, torch):
        x = lib.tensor(start, requires_grad=True)
        residual = lib.matmul(lib.tensor(a), x) - lib.tensor(b)
        loss = (residual ** 2).mean() + (x[1:] ** 4).sum() / 4
        (grad,) = lib.autograd.grad(loss, x, create_graph=True)
        rows = [lib.autograd.grad(grad[i], x, retain_graph=True)[0] for i in range(3)]
        hessian = np.stack([r.detach().numpy() for r in rows])
        steps.append(start - np.linalg.solve(hessian, grad.detach().numpy()))
    close(kitty.tensor(steps[0]), torch.tensor(steps[1]), rtol=1e-9, atol=1e-11)
