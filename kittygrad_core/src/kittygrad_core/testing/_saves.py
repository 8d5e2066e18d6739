"""The saved-state check: what an op's backward reads must be what its record declares it saves.

``saves`` and ``saves_output`` (declared, or derived from ``__slots__`` at registration) decide which
version counters a node checks before its backward runs. A slot misnamed, or an input saved under a
name that is not its own, leaves a value unchecked: modifying it in place after the forward would then
silently change the gradient. This check runs an op's conformance cases and, for each tensor input and
for the output:

* changes its values in place *without* bumping its version: if any gradient changes, backward reads
  it, so it must be declared saved;
* bumps its version without changing its values: backward must raise the "modified by an inplace
  operation" error exactly when it is declared saved.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings

import kittygrad_core as kitty
from kittygrad_core.extend import write_

from ._checks import _origin, call_kitty, op_names, resolve, wanted_grads
from ._strategies import Case, cases

if TYPE_CHECKING:
    from .._op import Op


def _checked(record: type[Op], index: int | None, wants_grad: list[bool]) -> bool:
    """Whether the node checks input ``index`` (``None``: the output), as the dispatcher decides."""
    if index is None:
        needed = record.saves_output
        return bool(needed) if needed is True or not needed else any(wants_grad[j] for j in needed)
    if index not in tuple(record.saves):
        return False
    needed_for = record.saves_for
    return needed_for is None or any(wants_grad[j] for j in needed_for[index])


class _Run:
    """One forward of a case on fresh tensors; ``None`` when the op's own node did not make the output."""

    def __init__(self, record: type[Op], case: Case, wants_grad: list[bool]) -> None:
        self.inputs = [kitty.tensor(a.copy(), requires_grad=w) if isinstance(a, np.ndarray) else a
                       for a, w in zip(case.arrays, wants_grad)]
        try:
            self.out = call_kitty(record, self.inputs, dict(case.options), case.meta)
        except Exception:  # inputs the op rejects: nothing to check
            self.out = None
        if not isinstance(self.out, kitty.Tensor) or not isinstance(self.out.grad_fn, record):
            self.out = None

    def grads(self, upstream: np.ndarray) -> list[Any]:
        """Backward from ``upstream``; the inputs' gradients (or the error it raised)."""
        try:
            self.out.backward(kitty.tensor(upstream))
        except RuntimeError as error:
            return [error]
        return [None if not isinstance(x, kitty.Tensor) or x.grad is None else x.grad.numpy()
                for x in self.inputs]


def _same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(
        (x is None and y is None) or (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)
                                      and x.shape == y.shape and np.array_equal(x, y, equal_nan=True))
        for x, y in zip(a, b))


def check_saves(record_or_name: Any, examples: int = 8) -> None:
    """Checks that op ``record_or_name`` declares saved exactly what its backward reads (see above).

    Raises ``AssertionError`` naming the op, the input (or the output) and the case.
    """
    record: type[Op] = resolve(record_or_name)  # type: ignore[assignment]  # an Op record: it saves
    read: set[int | None] = set()
    accepted = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=cases(record))
    def saves(case: Case) -> None:
        wants_grad = wanted_grads(record, case)
        clean = _Run(record, case, wants_grad)
        assume(clean.out is not None and clean.out.requires_grad and clean.out.numel() > 0)
        upstream = np.random.default_rng(case.seed).uniform(0.5, 1.5, clean.out.shape).astype(clean.out.dtype)
        reference = clean.grads(upstream)
        assume(not isinstance(reference[0], Exception))
        accepted.append(case)
        targets: list[int | None] = [i for i, a in enumerate(case.arrays)
                                     if isinstance(a, np.ndarray) and a.size and a.dtype.kind == "f"]
        for index in [*targets, None]:
            checked = _checked(record, index, wants_grad)
            what = "the output" if index is None else f"input {index} ({_input_name(record, index)})"
            # the values change, the version does not: a changed gradient means backward read them
            run = _Run(record, case, wants_grad)
            tensor = run.out if index is None else run.inputs[index]
            if tensor._data.flags.writeable:
                tensor._data[...] = -1.7 * tensor._data + 0.3
                if not _same(run.grads(upstream), reference):
                    read.add(index)
                    assert checked, (
                        f"op '{record.name}' (from {_origin(record)}): backward reads {what}, which its "
                        f"record does not save (saves={record.saves!r}, saves_output="
                        f"{record.saves_output!r}): name the slot holding it after the input (or `out`). "
                        f"Case: {case!r}")
            # the version changes, the values do not: backward raises exactly for what is saved
            run = _Run(record, case, wants_grad)
            tensor = run.out if index is None else run.inputs[index]
            if tensor._data.flags.writeable:
                write_(tensor, tensor._data.copy())
                result = run.grads(upstream)
                raised = isinstance(result[0], RuntimeError) and "inplace" in str(result[0])
                assert raised == checked, (
                    f"op '{record.name}' (from {_origin(record)}): modifying {what} in place after the "
                    f"forward {'did not raise' if checked else 'raised'} at backward, but the record "
                    f"{'saves' if checked else 'does not save'} it. Case: {case!r}")

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        saves()
    if not accepted:
        raise AssertionError(f"op '{record.name}' (from {_origin(record)}): no conformance case produced "
                             "an output recorded by its own node; nothing was checked.")


def _input_name(record: type[Op], index: int) -> str:
    names = record.input_names
    return names[index] if index < len(names) else names[-1]


def saves_tests(distribution: str | None = None, *, plugin: str | None = None) -> Any:
    """A pytest test parametrized over the differentiable op records of ``distribution``: each
    declares saved what its backward reads (:func:`check_saves`).

    In a plugin's tests: ``test_saves = saves_tests(distribution="my-dist")``.
    """
    import pytest

    names = [name for name in op_names(distribution, plugin)
             if issubclass(kitty.registry[name], kitty.Op)
             and kitty.registry[name].differentiable is not False
             and isinstance(kitty.registry[name].conformance, kitty.Conformance)]

    @pytest.mark.parametrize("op_name", names)
    def test_saves(op_name: str) -> None:
        check_saves(op_name)

    return test_saves
