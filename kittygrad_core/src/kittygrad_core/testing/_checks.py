"""The checks of the conformance suite: an op's cases against torch and against finite differences.

``check_op`` runs hypothesis over :func:`~._strategies.cases`; each case goes through
:class:`_CaseCheck`, which compares forward values, dtypes and shapes with torch, then gradients with
torch's (and, in float64 and away from kinks and ties, with central finite differences), then the
call under ``no_grad``, the op's view contract and each in-place binding (also on a leaf under
``no_grad``). Every failure is an ``AssertionError`` naming the op, the case and what differed.
"""
from __future__ import annotations

import warnings
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from hypothesis import given, settings

import kittygrad_core as kitty

from ._profiles import profile_settings
from ._strategies import Case, cases, specials_of

if TYPE_CHECKING:
    from .._op import Conformance
    from ._strategies import Record

FLOAT64_RTOL, FLOAT64_ATOL = 1e-7, 1e-9
FD_EPS, FD_RTOL, FD_ATOL = 1e-6, 1e-5, 1e-6
#: Rounding error of a float64 objective, relative to the sum of its terms' magnitudes, over 2 * eps.
FD_ROUNDING = 1e-9
#: Values this close (relative to 1 + |value|) count as a tie or as sitting on a kink: no finite
#: differences there.
NEAR = 1e-5

#: What the checks saw since the last ``reset_stats()``: cases tried and accepted, cases whose inputs
#: hold each kind of edge value, mixed-dtype and number operands, non-empty inputs and outputs, float64 cases
#: checked against finite differences.
STATS: Counter[Any] = Counter()


#: Per op name: how many cases had their second derivatives checked against torch, and how many of
#: those also against finite differences (never reset: the session's report).
VERIFIED: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])


def second_derivative_report() -> dict[str, tuple[int, int]]:
    """Per op whose second derivatives were checked in this process: (cases against torch, cases also
    against float64 finite differences)."""
    return {name: (counts[0], counts[1]) for name, counts in sorted(VERIFIED.items())}


def second_derivative_summary(distribution: str | None = None) -> Any:
    """A ``pytest_terminal_summary`` hook that reports, at the end of a run, the ops whose second
    derivatives the conformance suite verified and the differentiable ops of ``distribution`` without
    ``differentiable_backward``. In a plugin's ``conftest.py``::

        pytest_terminal_summary = second_derivative_summary("my-kittygrad-plugin")
    """
    def pytest_terminal_summary(terminalreporter: Any) -> None:
        report = second_derivative_report()
        if not report:
            return
        terminalreporter.section("second derivatives (double backward vs torch; float64 finite differences)")
        for name, (checked, fd) in report.items():
            terminalreporter.write_line(f"{name:>32}: {checked:3d} cases, {fd:3d} with finite differences")
        missing = ops_without_second_derivatives(distribution)
        terminalreporter.write_line(f"verified: {len(report)} ops; differentiable ops without "
                                    f"differentiable_backward: {len(missing)} {missing}")
    return pytest_terminal_summary


def conformance_stats() -> dict[str, int]:
    """A copy of the counts the checks keep (see ``STATS``), e.g. ``{"cases": 5150, "edge": 2900}``."""
    return dict(STATS)


def reset_stats() -> None:
    """Sets the counts of ``conformance_stats()`` back to zero."""
    STATS.clear()


# ----------------------------------------------------------------------------- the registry


def resolve(record_or_name: Any) -> Record:
    """The op record for a name (looked up in ``kittygrad_core.registry``) or the record itself."""
    return kitty.registry[record_or_name] if isinstance(record_or_name, str) else record_or_name


def op_names(distribution: str | None = None, plugin: str | None = None) -> list[str]:
    """The sorted names of the registered ops, optionally only those of one distribution or plugin."""
    return sorted(op.name for op in kitty.registry
                  if (distribution is None or op.distribution == distribution)
                  and (plugin is None or op.plugin == plugin))


def ops_without_conformance(distribution: str | None = None, plugin: str | None = None) -> list[str]:
    """The names of registered ops that carry no conformance metadata."""
    return [name for name in op_names(distribution, plugin)
            if not isinstance(kitty.registry[name].conformance, kitty.Conformance)]


def ops_with_second_derivatives(distribution: str | None = None, plugin: str | None = None) -> list[str]:
    """The names of registered ops whose records declare ``differentiable_backward`` (the conformance
    suite checks their double backward)."""
    return [name for name in op_names(distribution, plugin)
            if getattr(kitty.registry[name], "differentiable_backward", False)]


def ops_without_second_derivatives(distribution: str | None = None, plugin: str | None = None) -> list[str]:
    """The names of registered, differentiable op records (not composites) that do not declare
    ``differentiable_backward``: a second derivative through them raises."""
    return [name for name in op_names(distribution, plugin)
            if isinstance(kitty.registry[name], type) and issubclass(kitty.registry[name], kitty.Op)
            and kitty.registry[name].differentiable is not False
            and not getattr(kitty.registry[name], "differentiable_backward", False)]


def _origin(record: Record) -> str:
    return record.distribution or record.plugin or "a runtime registration"


# ----------------------------------------------------------------------------- calling the op


def _first(names: tuple[str, ...] | None, default: str) -> str | None:
    names = (default,) if names is None else names
    return names[0] if names else None


def call_kitty(record: Record, inputs: list[Any], options: dict[Any, Any], meta: Any = None) -> Any:
    """Calls the op as the metadata says: ``call``, else its first module function, else first method."""
    meta = meta or record.conformance
    if meta.call is not None:
        return meta.call(kitty, *inputs, **options)
    function = _first(record.functions, record.name)
    if function is None:
        return getattr(inputs[0], _first(record.methods, record.name))(*inputs[1:], **options)  # type: ignore[arg-type]  # _first falls back to the name
    if getattr(record, "variadic", False):
        return getattr(kitty, function)(list(inputs), **options)
    return getattr(kitty, function)(*inputs, **options)


def torch_reference(reference: Any) -> Any:
    """Resolves a dotted name under ``torch`` ("torch.mul", "Tensor.std", "nn.functional.gelu")."""
    target = torch
    parts = reference.split(".")
    for part in parts[1:] if parts[0] == "torch" else parts:
        target = getattr(target, part)
    return target


def to_torch(value: Any) -> Any:
    """An option value as torch takes it: arrays and tensors become torch tensors, inside tuples too."""
    if isinstance(value, kitty.Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if type(value) in (tuple, list):
        return type(value)(to_torch(v) for v in value)
    return value


def call_torch(record: Record, inputs: list[Any], options: dict[Any, Any], meta: Any = None) -> Any:
    """Calls the torch reference: a callable gets ``(torch, *inputs)``; a ``*inputs`` op's name a list."""
    reference = (meta or record.conformance).torch  # type: ignore[union-attr]  # a record under test has conformance
    options = {name: to_torch(value) for name, value in options.items()}
    if callable(reference):
        return reference(torch, *inputs, **options)
    if getattr(record, "variadic", False):
        return torch_reference(reference)(list(inputs), **options)
    return torch_reference(reference)(*inputs, **options)


def _outputs(value: Any) -> list[Any]:
    """An op's result as a list of outputs (one unless it returned a tuple or list)."""
    return list(value) if isinstance(value, (tuple, list)) else [value]


class _Copy(kitty.Function):
    """The identity with its own node: makes a non-leaf copy for in-place checks whatever is registered."""

    @staticmethod
    def forward(ctx: Any, x: kitty.Tensor) -> kitty.Tensor:
        return kitty.tensor(x.numpy().copy())  # kitty.tensor shares a NumPy array

    @staticmethod
    def backward(ctx: Any, grad: kitty.Tensor) -> kitty.Tensor:  # type: ignore[override]  # PyTorch style: a staticmethod taking ctx
        return grad


# ----------------------------------------------------------------------------- one case


def differentiable_inputs(record: Record, count: int) -> list[bool]:
    """Which of ``count`` inputs get a gradient, from the op's ``differentiable`` flag(s)."""
    flags = record.differentiable
    if flags is True or flags is False:
        return [flags] * count
    return [bool(flags[min(i, len(flags) - 1)]) for i in range(count)]


def wanted_grads(record: Record, case: Case) -> list[bool]:
    """Which of a case's inputs get a gradient: the differentiable ones that are arrays (not numbers)."""
    return [w and isinstance(a, np.ndarray) for w, a in
            zip(differentiable_inputs(record, len(case.arrays)), case.arrays)]


class _CaseCheck:
    """Checks one :class:`Case` of one op; ``run`` returns False when torch rejects the case."""

    meta: Conformance

    def __init__(self, record: Record, case: Case) -> None:
        self.record, self.case, self.meta = record, case, case.meta or record.conformance  # type: ignore[assignment]
        self.tensors = [isinstance(a, np.ndarray) for a in case.arrays]
        self.wants_grad = wanted_grads(record, case)
        self.differentiable = any(self.wants_grad)
        float32 = case.dtype == "float32"
        self.rtol = self.meta.rtol if float32 else FLOAT64_RTOL
        self.atol = self.meta.atol if float32 else FLOAT64_ATOL
        self.rng = case.rng()
        self.edges = self.edge_kinds()
        # Finite differences are one-sided (or meaningless) at kinks and ties: torch is the reference there.
        self.smooth = not {"tie", "special"} & self.edges

    def edge_kinds(self) -> set[str]:
        """Which kinds of edge values the inputs hold: "zero", "tie", "special", "large"."""
        # numbers count too: minimum(x, 1.25) has a kink wherever x holds 1.25
        flat = np.concatenate([np.ravel(a).astype(np.float64) for a in self.case.arrays]
                              or [np.zeros(0)])
        kinds = set()
        if (flat == 0).any():
            kinds.add("zero")
        # "at" means within what a central difference would straddle (a float32 copy of a float64 tie)
        finite = np.sort(flat[np.isfinite(flat)])
        if (np.diff(finite) <= NEAR * (1 + np.abs(finite[1:]))).any():
            kinds.add("tie")
        points = np.asarray(specials_of(self.meta, self.case.options))
        if points.size and (np.abs(finite[:, None] - points) <= NEAR * (1 + np.abs(points))).any():
            kinds.add("special")
        if (np.abs(flat) > 3).any():
            kinds.add("large")
        return kinds

    def fail(self, what: str) -> AssertionError:
        """The error for a failed check: the op, what differed, and the case."""
        return AssertionError(f"op '{self.record.name}' (from {_origin(self.record)}): {what}\n"
                              f"    case: {self.case!r}")

    # -------------------------------------------------------------- inputs and calls

    def kitty_inputs(self, requires_grad: list[bool]) -> list[Any]:
        """The inputs as kittygrad tensors of their own (``kitty.tensor`` shares a float NumPy array,
        as the original did, and in-place checks must not write into the case); numbers stay numbers."""
        return [kitty.tensor(a.copy(), requires_grad=r) if t else a
                for a, r, t in zip(self.case.arrays, requires_grad, self.tensors)]

    def torch_inputs(self) -> list[Any]:
        """The inputs as torch tensors (Python numbers stay numbers)."""
        return [torch.from_numpy(a.copy()).requires_grad_(r) if t else a
                for a, r, t in zip(self.case.arrays, self.wants_grad, self.tensors)]

    def call(self, inputs: list[Any], options: dict[Any, Any] | None = None) -> Any:
        """The kittygrad op on ``inputs`` as the case's metadata calls it."""
        return call_kitty(self.record, inputs, self.case.options if options is None else options,
                          self.meta)

    def kitty_call(self, what: str, call: Any) -> Any:
        """Runs a kittygrad call; an exception becomes a failure naming ``what``."""
        try:
            return call()
        except AssertionError:
            raise
        except Exception as error:
            raise self.fail(f"{what} raised {type(error).__name__}: {error}") from error

    def expect_rejection(self, what: str, error: Exception, call: Any) -> None:
        """torch rejected the case with ``error``: kittygrad must reject it too.

        A ``TypeError`` from torch is exempt: it says torch's Python signature refused the arguments
        (a ``None`` it does not take, sizes as one tuple instead of ``*sizes``), not that the op
        rejects the values, so the case is merely skipped.
        """
        if isinstance(error, TypeError):
            return
        try:
            call()
        except Exception:
            return
        raise self.fail(f"torch rejects {what} ({type(error).__name__}: {error}) but kittygrad "
                        "accepts it")

    # -------------------------------------------------------------- the checks

    def run(self) -> bool:
        """Runs every check of the case; False if torch rejects the inputs (and kittygrad does too)."""
        options = self.case.options
        torch_inputs = self.torch_inputs()
        grad_flags = self.wants_grad if self.differentiable else self.tensors
        kitty_inputs = self.kitty_inputs(grad_flags)
        try:
            expected = self.call_reference(torch_inputs, options)
        except Exception as error:
            self.expect_rejection("the call", error, lambda: self.call(kitty_inputs))
            return False
        actual = self.kitty_call("the call", lambda: self.call(kitty_inputs))
        first = _outputs(expected)[0] if _outputs(expected) else None
        self.out_dtype = first.dtype if isinstance(first, torch.Tensor) else None
        self.compare_outputs("output", actual, expected)
        self.filled = any(np.size(o.numpy() if isinstance(o, kitty.Tensor) else o) for o in _outputs(actual))
        if self.record.view:
            self.check_view(actual, kitty_inputs[0])
        if self.differentiable:
            self.check_gradients(actual, expected, kitty_inputs, torch_inputs)
        else:
            self.check_no_grad(actual)
        self.check_grad_mode(actual, grad_flags)
        for binding in self.record.inplace:
            self.check_inplace(binding)
        return True

    def call_reference(self, torch_inputs: list[Any], options: dict[Any, Any]) -> Any:
        """torch's result; where torch takes no number there (``torch.maximum(x, 2.0)`` raises
        TypeError, ``F.l1_loss(x, 2.0)`` AttributeError), with the number as a 0-d tensor of the dtype
        the number would have promoted to (the same result)."""
        try:
            return call_torch(self.record, torch_inputs, options, self.meta)
        except (TypeError, AttributeError):
            tensors = [x for x in torch_inputs if isinstance(x, torch.Tensor)]
            if not tensors or len(tensors) == len(torch_inputs):
                raise
        as_tensors = [x if isinstance(x, torch.Tensor)
                      else torch.tensor(x, dtype=torch.result_type(tensors[0], x))
                      for x in torch_inputs]
        return call_torch(self.record, as_tensors, options, self.meta)

    def check_grad_mode(self, actual: Any, grad_flags: list[bool]) -> None:
        """Under ``no_grad`` the op records nothing: no output requires grad or has a grad_fn, and
        the values are those of the call with grad mode on."""
        inputs = self.kitty_inputs(grad_flags)
        with kitty.no_grad():
            quiet = self.kitty_call("the call under no_grad", lambda: self.call(inputs))
        for i, (out, reference) in enumerate(zip(_outputs(quiet), _outputs(actual))):
            if not isinstance(out, kitty.Tensor) or any(out is x for x in inputs):
                continue  # an input returned as it is (x.double() of a float64 x) keeps its flags
            if out.requires_grad or out.grad_fn is not None:
                raise self.fail(f"under no_grad, output {i} requires grad (grad_fn {out.grad_fn!r}) "
                                "from inputs that require grad")
            try:
                np.testing.assert_array_equal(out.numpy(), np.asarray(reference.numpy()))
            except AssertionError as error:
                raise self.fail(f"under no_grad, output {i} differs from the call with grad "
                                f"mode on:{error}") from None

    def compare_outputs(self, label: str, actual: Any, expected: Any) -> None:
        """Same structure, and each output equal to torch's (see ``compare``)."""
        if isinstance(actual, (tuple, list)) != isinstance(expected, (tuple, list)):
            raise self.fail(f"{label}: kittygrad returns {type(actual).__name__}, torch "
                            f"{type(expected).__name__}")
        actuals, expecteds = _outputs(actual), _outputs(expected)
        if len(actuals) != len(expecteds):
            raise self.fail(f"{label}: kittygrad returns {len(actuals)} outputs, torch {len(expecteds)}")
        for i, (a, e) in enumerate(zip(actuals, expecteds)):
            self.compare(label if len(actuals) == 1 else f"{label} {i}", a, e)

    def compare(self, label: str, actual: Any, expected: Any) -> None:
        """A float Tensor against torch's within tolerance; an integer/bool array exactly."""
        expected = torch.as_tensor(expected).detach()
        if isinstance(actual, kitty.Tensor):
            if not expected.is_floating_point():
                raise self.fail(f"{label}: kittygrad returns a float Tensor, torch a {expected.dtype} "
                                "tensor")
            actual = actual.numpy()
        elif isinstance(actual, (np.ndarray, np.generic)):
            if expected.is_floating_point():
                raise self.fail(f"{label}: kittygrad returns a NumPy array, torch a float tensor")
            actual = np.asarray(actual)
        else:
            raise self.fail(f"{label}: kittygrad returns {type(actual).__name__}, torch a tensor")
        self.compare_arrays(label, actual, expected.numpy(), exact=not expected.is_floating_point())

    def compare_arrays(self, label: str, actual: np.ndarray, expected: np.ndarray,
                       exact: bool = False) -> None:
        """Shape, dtype and values (exactly, or within the case's tolerances, NaNs matching)."""
        if actual.shape != expected.shape:
            raise self.fail(f"{label}: shape {actual.shape}, torch's is {expected.shape}")
        if actual.dtype != expected.dtype:
            raise self.fail(f"{label}: dtype {actual.dtype}, torch's is {expected.dtype}")
        try:
            if exact:
                np.testing.assert_array_equal(actual, expected)
            else:
                np.testing.assert_allclose(actual, expected, rtol=self.rtol, atol=self.atol,
                                           equal_nan=True)
        except AssertionError as error:
            raise self.fail(f"{label} differs from torch's:{error}") from None

    def check_view(self, actual: Any, base: kitty.Tensor) -> None:
        """A view shares its input's memory and version counter."""
        if not isinstance(actual, kitty.Tensor):
            raise self.fail(f"a view op must return a Tensor, not {type(actual).__name__}")
        if actual._version is not base._version:
            raise self.fail("view: the output does not share its input's version counter")
        if actual.numpy().size and not np.shares_memory(actual.numpy(), base.numpy()):
            raise self.fail("view: the output does not share its input's memory")

    def check_no_grad(self, actual: Any) -> None:
        """A non-differentiable op's outputs do not require grad, even from inputs that do."""
        for i, out in enumerate(_outputs(actual)):
            if isinstance(out, kitty.Tensor) and (out.requires_grad or out.grad_fn is not None):
                raise self.fail(f"output {i} requires grad, but the op is not differentiable")

    # -------------------------------------------------------------- gradients

    def upstream(self, actual: Any, expected: Any) -> list[tuple[int, np.ndarray]]:
        """A random upstream gradient for each float output that requires grad, by output index."""
        pairs = []
        for i, (a, e) in enumerate(zip(_outputs(actual), _outputs(expected))):
            if not isinstance(a, kitty.Tensor):
                continue
            if isinstance(e, torch.Tensor) and e.requires_grad and not a.requires_grad:
                raise self.fail(f"output {i} does not require grad, torch's does")
            if a.requires_grad:
                pairs.append((i, self.rng.uniform(-1.0, 1.0, a.shape).astype(a.dtype)))
        return pairs

    def check_gradients(self, actual: Any, expected: Any, kitty_inputs: list[Any],
                        torch_inputs: list[Any]) -> None:
        """The gradient of every differentiable input, with torch's; in float64, with finite differences."""
        pairs = self.upstream(actual, expected)
        outputs = _outputs(actual)
        for i, g in pairs:
            self.kitty_call("backward", lambda i=i, g=g: outputs[i].backward(kitty.tensor(g)))
        expected_grads = _torch_grads(_outputs(expected), pairs, torch_inputs)
        grads = []
        for j, x in enumerate(kitty_inputs):
            if not self.wants_grad[j]:
                continue
            grad = x.grad.numpy() if x.grad is not None else np.zeros_like(x.numpy())
            self.compare_arrays(f"gradient of input {j}", grad, expected_grads[j])
            grads.append((j, grad))
        if self.meta.fd and self.smooth and pairs and all(g.dtype == np.float64 for _, g in pairs) \
                and all(x.dtype == np.float64 for x in kitty_inputs if isinstance(x, kitty.Tensor)):
            STATS["finite differences"] += 1
            self.check_finite_differences(
                pairs, [x.numpy() if isinstance(x, kitty.Tensor) else x for x in kitty_inputs], grads)
        if getattr(self.record, "differentiable_backward", False) and pairs:
            self.check_second_derivatives(pairs)

    def check_second_derivatives(self, pairs: list[Any]) -> None:
        """Double backward, for ops that declare ``differentiable_backward``: the gradient of a random
        projection ``<w, J^T v>`` of the vector-Jacobian product, with respect to the inputs and to the
        upstream gradient ``v``, against torch's; in float64 (away from kinks), the inputs' part also
        against central finite differences of the first gradient."""
        STATS["second derivatives"] += 1
        VERIFIED[self.record.name][0] += 1
        inputs = self.kitty_inputs(self.wants_grad)
        outputs = _outputs(self.kitty_call("the call", lambda: self.call(inputs)))
        wanted = [j for j, w in enumerate(self.wants_grad) if w]
        ups = [kitty.tensor(g.copy(), requires_grad=True) for _, g in pairs]
        first = self.kitty_call("autograd.grad(create_graph=True)", lambda: kitty.autograd.grad(
            [outputs[i] for i, _ in pairs], [inputs[j] for j in wanted], ups, create_graph=True,
            allow_unused=True))
        weights = [self.rng.uniform(-1.0, 1.0, inputs[j].shape).astype(inputs[j].dtype) for j in wanted]
        expected = _torch_second(self, pairs, wanted, weights)
        terms = [(f * kitty.tensor(w)).sum() for f, w in zip(first, weights) if f is not None and f.requires_grad]
        sources = [inputs[j] for j in wanted] + ups
        if terms:
            total = terms[0]
            for term in terms[1:]:
                total = total + term
            second = self.kitty_call("the second backward", lambda: kitty.autograd.grad(
                total, sources, allow_unused=True))
        else:
            second = (None,) * len(sources)
        labels = [f"second derivative (input {j})" for j in wanted] + \
                 [f"second derivative (upstream gradient of output {i})" for i, _ in pairs]
        for label, actual, reference, source in zip(labels, second, expected, sources):
            array = actual.numpy() if actual is not None else np.zeros_like(source.numpy())
            self.compare_arrays(label, array, reference)
        if self.meta.fd and self.smooth and all(inputs[j].dtype == np.float64 for j in wanted):
            STATS["second derivatives: finite differences"] += 1
            VERIFIED[self.record.name][1] += 1
            self.check_second_finite_differences(pairs, wanted, weights,
                                                 [s.numpy() if s is not None else None for s in second])

    def check_second_finite_differences(self, pairs: list[Any], wanted: list[int], weights: list[Any],
                                        second: list[Any]) -> None:
        """``d/dt <w, grad(x + t d)>`` by central differences against ``<d, second>``, per input."""
        def projected(arrays: list[Any]) -> float:
            inputs = [kitty.tensor(a.copy(), requires_grad=(j in wanted)) if t else a
                      for j, (a, t) in enumerate(zip(arrays, self.tensors))]
            outputs = _outputs(self.call(inputs))
            grads = kitty.autograd.grad([outputs[i] for i, _ in pairs], [inputs[j] for j in wanted],
                                        [kitty.tensor(g) for _, g in pairs], allow_unused=True)
            return float(sum((g.numpy() * w).sum() for g, w in zip(grads, weights) if g is not None))

        arrays = list(self.case.arrays)
        for k, j in enumerate(wanted):
            if second[k] is None or second[k].size == 0 or not np.isfinite(second[k]).all():
                continue
            direction = self.rng.standard_normal(arrays[j].shape)
            plus, minus = list(arrays), list(arrays)
            plus[j], minus[j] = arrays[j] + FD_EPS * direction, arrays[j] - FD_EPS * direction
            numeric = (projected(plus) - projected(minus)) / (2 * FD_EPS)
            analytic = float((direction * second[k]).sum())
            tolerance = 10 * (FD_ATOL + FD_RTOL * max(abs(numeric), abs(analytic)))
            if np.isfinite(numeric) and abs(numeric - analytic) > tolerance:
                raise self.fail(
                    f"second derivative of input {j} disagrees with finite differences of the first: "
                    f"<d, second> = {analytic!r} but d/dt <w, grad(x + t d)> = {numeric!r} "
                    f"(tolerance {tolerance:.3g})")

    def objective(self, arrays: list[np.ndarray], pairs: list[Any]) -> tuple[float, float]:
        """``sum_i <g_i, out_i>`` of the op at ``arrays`` (no graph), and the sum of the terms' magnitudes."""
        inputs = [kitty.tensor(a) if t else a for a, t in zip(arrays, self.tensors)]
        with kitty.no_grad():
            outputs = _outputs(self.kitty_call("the call at a perturbed input",
                                               lambda: self.call(inputs)))
        terms = [g * outputs[i].numpy() for i, g in pairs]
        return float(sum(t.sum() for t in terms)), float(sum(np.abs(t).sum() for t in terms))

    def check_finite_differences(self, pairs: list[Any], arrays: list[np.ndarray], grads: list[Any]) -> None:
        """Directional central differences ``d/dt <g, f(x + t v)>`` against ``<v, grad>``, per input.

        One pair of evaluations per input along a random direction ``v`` catches a wrong rule without
        one evaluation per element. Cases with non-finite values (e.g. a zero divisor) are skipped.
        """
        value, scale = self.objective(arrays, pairs)
        if not np.isfinite(value) or not all(np.isfinite(g).all() for _, g in grads):
            return
        for j, grad in grads:
            if grad.size == 0:
                continue
            direction = self.rng.standard_normal(grad.shape)
            shifted = [list(arrays), list(arrays)]
            shifted[0][j] = arrays[j] + FD_EPS * direction
            shifted[1][j] = arrays[j] - FD_EPS * direction
            (plus, _), (minus, _) = self.objective(shifted[0], pairs), self.objective(shifted[1], pairs)
            numeric = (plus - minus) / (2 * FD_EPS)
            analytic = float((direction * grad).sum())
            tolerance = FD_ATOL + FD_RTOL * max(abs(numeric), abs(analytic)) + FD_ROUNDING * scale
            if np.isfinite(numeric) and abs(numeric - analytic) > tolerance:
                raise self.fail(
                    f"gradient of input {j} disagrees with finite differences: along a random "
                    f"direction v, <v, grad> = {analytic!r} but d/dt <g, f(x + t v)> = {numeric!r} "
                    f"(tolerance {tolerance:.3g})")

    # -------------------------------------------------------------- in-place bindings

    def check_inplace_no_grad(self, binding: str, options: dict[Any, Any], expected: Any) -> None:
        """Under ``no_grad``, ``binding`` on a leaf that requires grad is allowed and records nothing
        (what optimizers do to parameters)."""
        inputs = self.kitty_inputs(self.wants_grad)
        leaf = kitty.tensor(self.case.arrays[0].copy(), requires_grad=True)
        with kitty.no_grad():
            result = self.kitty_call(f"'{binding}' on a leaf that requires grad, under no_grad",
                                     lambda: getattr(leaf, binding)(*inputs[1:], **options))
        if result is not leaf:
            raise self.fail(f"'{binding}' under no_grad returns a new tensor instead of its input")
        if leaf.grad_fn is not None or not leaf.requires_grad:
            raise self.fail(f"'{binding}' under no_grad recorded a node on a leaf (grad_fn "
                            f"{leaf.grad_fn!r}, requires_grad {leaf.requires_grad})")
        self.compare(f"'{binding}' result under no_grad", leaf, expected)

    def check_inplace(self, binding: str) -> None:
        """``binding`` on a non-leaf copy of input 0: torch's values, version + 1, torch's gradients."""
        if not self.tensors[0]:
            return
        options = {} if binding.startswith("__") else self.case.options  # operators take no options
        torch_inputs = self.torch_inputs()
        torch_target = torch_inputs[0].clone()
        kitty_inputs = self.kitty_inputs(self.wants_grad)
        target = _Copy.apply(kitty_inputs[0])
        version = target.version

        def apply() -> Any:
            return getattr(target, binding)(*kitty_inputs[1:], **options)

        try:
            getattr(torch_target, binding)(*torch_inputs[1:],
                                           **{name: to_torch(v) for name, v in options.items()})
        except Exception as error:
            self.expect_rejection(f"'{binding}'", error, apply)
            return
        if self.out_dtype is not None and self.out_dtype != torch_target.dtype:
            # kittygrad keeps the original's rule: an in-place op may not change its target's dtype
            try:
                apply()
            except RuntimeError:
                return
            raise self.fail(f"'{binding}' on a {torch_target.dtype} target whose result promotes "
                            "to another dtype must raise RuntimeError (the original's rule)")
        result = self.kitty_call(f"'{binding}'", apply)
        if result is not target:
            raise self.fail(f"'{binding}' returns a new tensor instead of its (modified) input")
        if target.version != version + 1:
            raise self.fail(f"'{binding}' moved the version from {version} to {target.version}, "
                            "expected one bump")
        self.compare(f"'{binding}' result", target, torch_target)
        self.check_inplace_no_grad(binding, options, torch_target)
        if not (self.differentiable and target.requires_grad):
            return
        g = self.rng.uniform(-1.0, 1.0, target.shape).astype(target.dtype)
        self.kitty_call(f"backward through '{binding}'", lambda: target.backward(kitty.tensor(g)))
        expected_grads = _torch_grads([torch_target], [(0, g)], torch_inputs)
        for j, x in enumerate(kitty_inputs):
            if self.wants_grad[j]:
                grad = x.grad.numpy() if x.grad is not None else np.zeros_like(x.numpy())
                self.compare_arrays(f"gradient of input {j} through '{binding}'", grad, expected_grads[j])


def _torch_grads(outputs: list[Any], pairs: list[Any], inputs: list[Any]) -> dict[int, np.ndarray]:
    """torch's vector-Jacobian product for the upstream ``pairs``, by input index (zeros if unused)."""
    roots = [(outputs[i], torch.from_numpy(g)) for i, g in pairs
             if isinstance(outputs[i], torch.Tensor) and outputs[i].requires_grad]
    wanted = [j for j, x in enumerate(inputs) if isinstance(x, torch.Tensor) and x.requires_grad]
    grads: list[Any] = [None] * len(wanted)
    if roots and wanted:
        grads = torch.autograd.grad([r for r, _ in roots], [inputs[j] for j in wanted],
                                    [g for _, g in roots], allow_unused=True)
    return {j: (g if g is not None else torch.zeros_like(inputs[j])).detach().numpy()
            for j, g in zip(wanted, grads)}


def _torch_second(check: _CaseCheck, pairs: list[Any], wanted: list[int],
                  weights: list[Any]) -> list[np.ndarray]:
    """torch's double backward of the case: d<w, J^T v>/d(inputs, v), zeros where nothing flows."""
    inputs = check.torch_inputs()
    outputs = _outputs(check.call_reference(inputs, check.case.options))
    ups = [torch.from_numpy(g.copy()).requires_grad_(True) for _, g in pairs]
    first = torch.autograd.grad([outputs[i] for i, _ in pairs], [inputs[j] for j in wanted], ups,
                                create_graph=True, allow_unused=True)
    sources = [inputs[j] for j in wanted] + ups
    terms = [(f * torch.from_numpy(w)).sum() for f, w in zip(first, weights) if f is not None and f.requires_grad]
    second: Any = [None] * len(sources)
    if terms:
        second = torch.autograd.grad(sum(terms), sources, allow_unused=True)
    # force: torch returns a ZeroTensor for a second derivative it knows vanishes (abs, l1_loss, hardtanh)
    return [(s if s is not None else torch.zeros_like(x)).detach().numpy(force=True)
            for s, x in zip(second, sources)]


# ----------------------------------------------------------------------------- entry points


def check_case(record: Record, case: Case) -> bool:
    """Checks one case of op ``record``; returns False if torch (and kittygrad) reject its inputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's divide-by-zero, torch's dof <= 0, partial backward
        check = _CaseCheck(record, case)
        accepted = check.run()
    _count(check, accepted)
    return accepted


def _count(check: _CaseCheck, accepted: bool) -> None:
    STATS["cases"] += 1
    if not accepted:
        return
    STATS["accepted"] += 1
    arrays = [a for a in check.case.arrays if isinstance(a, np.ndarray)]
    if check.edges:
        STATS["edge"] += 1
    for kind in sorted(check.edges):
        STATS[f"edge: {kind}"] += 1
    if len({a.dtype for a in arrays}) > 1:
        STATS["mixed dtypes"] += 1
    if len(arrays) < len(check.case.arrays):
        STATS["number operands"] += 1
    if arrays and all(a.size for a in arrays) and check.filled:
        STATS["non-empty"] += 1


def check_op(record_or_name: Any, profile: str | None = None) -> None:
    """Checks an op (record or registered name) on hypothesis-generated cases.

    Raises ``AssertionError`` naming the op, the failing case and what differed; also when the op
    has no conformance metadata, or when torch rejected most generated cases (metadata that mostly
    draws invalid inputs would leave the op barely tested).
    """
    record = resolve(record_or_name)
    if not isinstance(getattr(record, "conformance", None), kitty.Conformance):
        raise AssertionError(f"op '{record.name}' (from {_origin(record)}) has no conformance "
                             "metadata: give its record `conformance = Conformance(torch=...)`.")
    accepted, tried = [], []

    @settings(profile_settings(profile))
    @given(case=cases(record))
    def conformance(case: Case) -> None:
        tried.append(case)
        if check_case(record, case):
            accepted.append(case)

    conformance()
    if len(accepted) * 2 < len(tried):
        raise AssertionError(f"op '{record.name}' (from {_origin(record)}): torch rejected "
                             f"{len(tried) - len(accepted)} of {len(tried)} generated cases; check its "
                             "conformance shapes and options.")


def conformance_tests(distribution: str | None = None, *, plugin: str | None = None,
                      profile: str | None = None) -> Any:
    """A pytest test parametrized over the ops of ``distribution`` (every op by default), one id each.

    In a plugin's tests: ``test_conformance = conformance_tests(distribution="my-dist")``.
    """
    import pytest

    @pytest.mark.parametrize("op_name", op_names(distribution, plugin))
    def test_conformance(op_name: str) -> None:
        check_op(op_name, profile)

    return test_conformance
