"""In-place ops on views rewrite the base's history (torch's CopySlices), checked against torch."""
import numpy as np
import pytest
from conftest import close, torch

import kittygrad_core as kitty


def _row_scaled(x, w):
    row = x[1]
    row *= w
    return x


def _setitem_add(x, w):
    x[0] += w
    return x * 3


def _column_assigned_through_transpose(x, w):
    view = x.T
    view[:, 2] = w
    return x.sum(0) + view[:, 0]


def _view_of_view_twice(x, w):
    rows = x[1:]
    every_other = rows[:, ::2]
    every_other += 1
    every_other *= w[:2]
    return x + rows.sum()


def _row_set_then_scaled(x, w):
    x[1] = w * 2
    row = x[1]
    row.mul_(w)
    return x


def _narrowed_piece_modified(x, w):
    first, second = x.narrow(1, 0, 2), x.narrow(1, 2, 2)
    second.add_(w[:2])
    return x * first.sum()


CASES = [_row_scaled, _setitem_add, _column_assigned_through_transpose, _view_of_view_twice,
         _row_set_then_scaled, _narrowed_piece_modified]


@pytest.mark.parametrize("case", CASES, ids=lambda f: f.__name__.strip("_"))
def test_inplace_on_views_matches_torch(case):
    rng = np.random.default_rng(0)
    a_data, w_data = rng.standard_normal((3, 4)), rng.standard_normal(4)
    results = []
    for lib in (kitty, torch):
        a, w = lib.tensor(a_data, requires_grad=True), lib.tensor(w_data, requires_grad=True)
        out = case(a * 2, w)
        (out * out).sum().backward()
        results.append((out, a.grad, w.grad))
    (k_out, k_a, k_w), (t_out, t_a, t_w) = results
    assert close(k_out, t_out) and close(k_a, t_a) and close(k_w, t_w)


def test_view_of_a_leaf_requiring_grad_cannot_be_modified_in_place():
    x = kitty.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="(?s)A leaf Variable that requires grad.*on a view of a leaf"):
        x[0] += 1
