"""The public-API fuzzer: its short CI profile, its classifier, and docs/fuzz.md kept in sync."""
from pathlib import Path

import numpy as np

from kittygrad_core.testing import fuzz

ROOT = Path(__file__).resolve().parents[1]

# Differences still open, each owned outside the fuzzer's reach; remove a line once it is fixed.
PENDING = {
    # kittygrad_core._registry._generate: a variadic binding calls tuple(tensors) before any check
    ("obscure", "kitty.cat"), ("obscure", "kitty.concat"), ("obscure", "kitty.concatenate"),
    ("obscure", "kitty.stack"),
    # kittygrad-nn losses keep the input's dtype where torch promotes mixed float dtypes
    ("mismatch", "kitty.mse_loss"), ("mismatch", "kitty.l1_loss"), ("mismatch", "kitty.cross_entropy"),
    ("mismatch", "kitty.binary_cross_entropy_with_logits"),
    ("accept-kitty-only", "kitty.cross_entropy"), ("accept-kitty-only", "kitty.binary_cross_entropy_with_logits"),
    ("clear-error-kitty-only", "kitty.batch_norm"), ("clear-error-kitty-only", "kitty.linear"),
    # edge cases in kittygrad-ops not yet resolved (see the fuzz report in the issue)
    ("mismatch", "kitty.std"), ("mismatch", "kitty.cumprod"), ("accept-kitty-only", "Tensor.__getitem__"),
    ("clear-error-kitty-only", "Tensor.amax"), ("clear-error-kitty-only", "Tensor.expand"),
    ("clear-error-kitty-only", "Tensor.gather"), ("clear-error-kitty-only", "kitty.gather"),
}


def test_short_profile():
    summary = fuzz.run(30_000, seed=0, budget=150)
    assert summary["calls"] >= 10_000, summary["seconds"]
    assert summary["counts"]["crash"] == 0
    new = {(r["cls"], r["target"]) for r in summary["failures"]} - PENDING
    assert not new, [r for r in summary["failures"] if (r["cls"], r["target"]) in new][:5]


def test_docs_table_is_the_fuzzers():
    assert fuzz.deviation_table() in (ROOT / "docs" / "fuzz.md").read_text()


def _outcome(call):
    try:
        call()
    except Exception as error:  # noqa: BLE001
        return fuzz._failure(error)
    raise AssertionError("no error")


def test_internal_errors_are_obscure_and_deliberate_ones_clear():
    import kittygrad as kitty
    assert not fuzz.is_clear(_outcome(lambda: ().__getitem__(3)))  # a bare tuple index error
    assert not fuzz.is_clear(_outcome(lambda: np.ones(3) + np.ones(4)))  # NumPy's own
    assert fuzz.is_clear(_outcome(lambda: kitty.ones(3).size(5)))
    assert fuzz.is_clear(_outcome(lambda: kitty.ones(3).flip(1.0)))


def test_differences_are_found():
    record = {}
    import torch
    import kittygrad as kitty
    assert fuzz.compare(kitty.ones(3), torch.ones(3), record) is None
    assert fuzz.compare(kitty.ones(3), torch.ones(3) * 1.01, record) == "values differ"
    assert fuzz.compare(kitty.ones(3), torch.ones(3, dtype=torch.float64), record) is not None
    assert fuzz.compare(kitty.ones(3), torch.ones(1, 3), record) is not None
