"""The compiled-mode check: each op inside a ``kitty.compile``d function equals its eager run, bit for bit.

Per case: a function calls the op (as its conformance metadata does), sums its floating outputs and
runs ``backward()``, and returns copies of the outputs. It is called eagerly and compiled on three input
sets of the same shapes (the case's values, a permutation of them, the case's values again): the second
and third compiled calls replay the record. Outputs and the inputs' ``.grad`` must be identical bytes.
NumPy arrays among the case's options (index tensors, masks) are passed as arguments of the function,
and permuted in the second input set, so that a replay reading stale options fails.

An op the recorder cannot replay falls back with a warning: the check fails, unless the op is in
``ALLOWED_FALLBACKS`` (with the reason), and its results must still equal eager ones.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings

import kittygrad_core as kitty

from ._checks import _origin, _outputs, call_kitty, op_names, resolve, wanted_grads
from ._strategies import Case, cases

#: Ops that fell back to eager in the compiled-mode check, with the warning (for reports).
FALLBACKS: dict[str, str] = {}
#: Ops the compiled-mode check saw replayed.
REPLAYED: set[str] = set()
#: Ops allowed to fall back to eager in the compiled-mode check, and why (any other fallback fails it).
ALLOWED_FALLBACKS: dict[str, str] = {
    "allclose": "returns a Python bool: reading a value into Python is a fallback, as .item() is",
    "equal": "returns a Python bool: reading a value into Python is a fallback, as .item() is",
}


def _lift(value: Any, arrays: list[np.ndarray]) -> Any:
    """``value`` (an option) with each NumPy array in it replaced by its position in ``arrays``."""
    if isinstance(value, np.ndarray):
        arrays.append(value)
        return _Lifted(len(arrays) - 1)
    if type(value) in (tuple, list):
        return type(value)(_lift(v, arrays) for v in value)
    return value


def _lower(value: Any, arrays: tuple[Any, ...]) -> Any:
    if isinstance(value, _Lifted):
        return arrays[value.index]
    if type(value) in (tuple, list):
        return type(value)(_lower(v, arrays) for v in value)
    return value


class _Lifted:
    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def _function(record: Any, case: Case, n_inputs: int, lifted: dict[str, Any]) -> Any:
    meta = case.meta or record.conformance

    def fn(*inputs: Any) -> Any:
        options = {k: _lower(v, inputs[n_inputs:]) for k, v in lifted.items()}
        outs = _outputs(call_kitty(record, list(inputs[:n_inputs]), options, meta))
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


def _input_sets(case: Case, option_arrays: list[np.ndarray]) -> list[list[Any]]:
    rng = np.random.default_rng((case.seed, 7))
    given = list(case.arrays)
    shuffled = [rng.permutation(a.ravel()).reshape(a.shape) if isinstance(a, np.ndarray) else a
                for a in given]
    # options change while staying valid: masks inverted, indices reflected within their range
    changed = [np.asarray(~a if a.dtype.kind == "b" else a.max() + a.min() - a if a.size and a.dtype.kind in "iu"
                          else rng.permutation(a.ravel()).reshape(a.shape)) for a in option_arrays]
    return [given + option_arrays, shuffled + changed, given + option_arrays]


def check_compiled(record_or_name: Any, examples: int = 4, allowed: dict[str, str] | None = None) -> None:
    """Checks that op ``record_or_name`` gives bit-identical outputs and gradients compiled and eager, and
    is replayed, unless it is in ``ALLOWED_FALLBACKS`` or ``allowed`` (op name -> reason).

    Raises ``AssertionError`` naming the op, the call and the case."""
    record = resolve(record_or_name)

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=cases(record))
    def compiled(case: Case) -> None:
        wants = wanted_grads(record, case)
        option_arrays: list[np.ndarray] = []
        lifted = {k: _lift(v, option_arrays) for k, v in case.options.items()}
        wants += [None] * len(option_arrays)  # options stay NumPy arrays
        runs = []
        fell_back = None
        for mode in ("eager", "compiled"):
            fn = _function(record, case, len(case.arrays), lifted)
            if mode == "compiled":
                fn = kitty.compile(fn)
            rows = []
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for arrays in _input_sets(case, option_arrays):
                    inputs = [a.copy() if w is None else
                              kitty.tensor(a.copy(), requires_grad=w) if isinstance(a, np.ndarray) else a
                              for a, w in zip(arrays, wants)]
                    try:
                        value = fn(*inputs)
                    except Exception as error:  # inputs the op rejects: both modes must reject them
                        rows.append(type(error))
                        continue
                    rows.append(_snapshot(value, inputs))
            for w in caught:
                if mode == "compiled" and "kitty.compile" in str(w.message):
                    FALLBACKS[record.name] = fell_back = str(w.message)
            runs.append(rows)
        eager, replayed = runs
        assume(not all(isinstance(r, type) for r in eager))
        if fell_back is not None and record.name not in ALLOWED_FALLBACKS and record.name not in (allowed or {}):
            raise AssertionError(f"op '{record.name}' (from {_origin(record)}) is not replayed by kitty.compile "
                                 f"and is not in ALLOWED_FALLBACKS: {fell_back}\n    case: {case!r}")
        if fell_back is None:
            REPLAYED.add(record.name)
        for i, (a, b) in enumerate(zip(eager, replayed)):
            if a != b:
                raise AssertionError(f"op '{record.name}' (from {_origin(record)}): call {i} compiled differs "
                                     f"from eager\n    case: {case!r}")

    compiled()


def compiled_tests(distribution: str | None = None, *, plugin: str | None = None,
                   allowed: dict[str, str] | None = None) -> Any:
    """A pytest test parametrized over the ops of ``distribution``: each equals its eager run compiled and
    is replayed, unless it is in ``ALLOWED_FALLBACKS`` or ``allowed`` (op name -> the reason, which the
    summary reports: ``allowed`` adds to ``ALLOWED_FALLBACKS``)."""
    import pytest

    ALLOWED_FALLBACKS.update(allowed or {})

    @pytest.mark.parametrize("op_name", op_names(distribution, plugin))
    def test_compiled(op_name: str) -> None:
        check_compiled(op_name, allowed=allowed)

    return test_compiled


def compiled_summary(distribution: str | None = None, *, plugin: str | None = None) -> Any:
    """A ``pytest_terminal_summary`` hook reporting how many ops of ``distribution`` the compiled-mode
    check saw replayed, and which fell back (allowed, with the reason)."""
    def pytest_terminal_summary(terminalreporter: Any) -> None:
        names = op_names(distribution, plugin)
        replayed = [n for n in names if n in REPLAYED]
        fallbacks = [n for n in names if n in FALLBACKS]
        if not replayed and not fallbacks:
            return
        terminalreporter.section("kitty.compile (each op compiled, bit-identical to eager)")
        terminalreporter.write_line(f"replayed: {len(replayed)} of {len(names)} ops; fallbacks: {len(fallbacks)}")
        for name in fallbacks:
            reason = ALLOWED_FALLBACKS.get(name, "NOT ALLOWED")
            terminalreporter.write_line(f"{name:>32}: {reason}")
    return pytest_terminal_summary
