"""The compiled-mode check: each op inside a ``kitty.compile``d function equals its eager run, bit for bit.

Per case: a function calls the op (as its conformance metadata does), sums its floating outputs and
runs ``backward()``, and returns copies of the outputs. It is called eagerly and compiled on three input
sets of the same shapes (the case's values, a permutation of them, the case's values again): the second
and third compiled calls replay the record. Outputs and the inputs' ``.grad`` must be identical bytes.
An op the recorder cannot replay falls back with a warning; its results must still equal eager ones.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings

import kittygrad_core as kitty

from ._checks import _origin, _outputs, call_kitty, differentiable_inputs, op_names, resolve
from ._strategies import Case, cases

#: Ops that fell back to eager in the compiled-mode check, with the warning (for reports).
FALLBACKS: dict[str, str] = {}


def _function(record: Any, case: Case) -> Any:
    meta = case.meta or record.conformance

    def fn(*inputs: Any) -> Any:
        outs = _outputs(call_kitty(record, list(inputs), case.options, meta))
        loss = None
        for out in outs:
            if isinstance(out, kitty.Tensor) and out.requires_grad:
                term = out.sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
        with kitty.no_grad():
            return tuple(o * 1.0 if isinstance(o, kitty.Tensor) else o for o in outs)
    return fn


def _snapshot(value: Any, inputs: list[Any]) -> list[Any]:
    def data(x: Any) -> Any:
        if isinstance(x, kitty.Tensor):
            return (x.numpy().tobytes(), x.dtype, x.shape)
        if isinstance(x, np.ndarray):
            return (x.tobytes(), x.dtype, x.shape)
        return repr(x)
    grads = [None if not isinstance(t, kitty.Tensor) or t._grad is None else data(t._grad) for t in inputs]
    return [data(x) for x in value] + grads


def _input_sets(case: Case) -> list[list[Any]]:
    rng = np.random.default_rng((case.seed, 7))
    shuffled = [rng.permutation(a.ravel()).reshape(a.shape) if isinstance(a, np.ndarray) else a
                for a in case.arrays]
    return [list(case.arrays), shuffled, list(case.arrays)]


def check_compiled(record_or_name: Any, examples: int = 4) -> None:
    """Checks that op ``record_or_name`` gives bit-identical outputs and gradients compiled and eager.

    Raises ``AssertionError`` naming the op, the call and the case."""
    record = resolve(record_or_name)

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=cases(record))
    def compiled(case: Case) -> None:
        wants = [w and isinstance(a, np.ndarray) for w, a in
                 zip(differentiable_inputs(record, len(case.arrays)), case.arrays)]
        runs = []
        for mode in ("eager", "compiled"):
            fn = _function(record, case)
            if mode == "compiled":
                fn = kitty.compile(fn)
            rows = []
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for arrays in _input_sets(case):
                    inputs = [kitty.tensor(a.copy(), requires_grad=w) if isinstance(a, np.ndarray) else a
                              for a, w in zip(arrays, wants)]
                    try:
                        value = fn(*inputs)
                    except Exception as error:  # inputs the op rejects: both modes must reject them
                        rows.append(type(error))
                        continue
                    rows.append(_snapshot(value, inputs))
            for w in caught:
                if "kitty.compile" in str(w.message):
                    FALLBACKS[record.name] = str(w.message)
            runs.append(rows)
        eager, replayed = runs
        assume(not all(isinstance(r, type) for r in eager))
        for i, (a, b) in enumerate(zip(eager, replayed)):
            if a != b:
                raise AssertionError(f"op '{record.name}' (from {_origin(record)}): call {i} compiled differs "
                                     f"from eager\n    case: {case!r}")

    compiled()


def compiled_tests(distribution: str | None = None, *, plugin: str | None = None) -> Any:
    """A pytest test parametrized over the ops of ``distribution``: each equals its eager run compiled."""
    import pytest

    @pytest.mark.parametrize("op_name", op_names(distribution, plugin))
    def test_compiled(op_name: str) -> None:
        check_compiled(op_name)

    return test_compiled
