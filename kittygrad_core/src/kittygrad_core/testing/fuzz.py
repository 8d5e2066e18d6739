"""A bad-input fuzzer of the public API, with PyTorch as the oracle.

It walks the op registry (every module function, ``Tensor`` method, operator, reflected and in-place
binding of every installed plugin) plus core's creation functions and ``Tensor`` members, and calls
each with hostile arguments: wrong types, ``None``, strings, complex, bool and integer data, NaN and
inf, empty and 0-d tensors, out-of-range and repeated dims, mismatched shapes, mixed dtypes, float16
and views. The same call is translated to torch. Each outcome falls in one class:

* ``ok-equal``: both accept and agree (values, dtype, shape; gradients for a sample of calls);
* ``ok-unchecked``: kittygrad accepts and torch has no counterpart (or the op is random);
* ``typed-error-both``: both refuse, kittygrad with a clear typed error;
* ``typed-error-kitty``: kittygrad refuses with a clear typed error, torch has no counterpart;
* ``clear-error-kitty-only``: kittygrad refuses, clearly, what torch accepts;
* ``accept-kitty-only``: kittygrad accepts what torch refuses;
* ``obscure``: an internal error (a Python or NumPy message not raised on purpose, a non-typed
  exception, a ``RecursionError``);
* ``mismatch``: both accept but results (or gradients) differ;
* ``crash``: the call did not return within the per-call timeout (a hang) or killed the interpreter.

``clear-error-kitty-only``, ``accept-kitty-only`` and ``mismatch`` outcomes must match a row of
:data:`DEVIATIONS`, the one table of documented differences (``docs/fuzz.md`` shows it); outcomes
that do are counted as ``deviation``. Run it as::

    python -m kittygrad_core.testing.fuzz --calls 50000 --seed 0 [--distribution D] [--report out.json]

It exits with status 1 if any outcome is an unlisted difference or a crash, or if obscure errors
exceed 0.1% of calls.
"""
from __future__ import annotations

import argparse
import collections
import inspect
import json
import linecache
import math
import operator
import os
import random
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import kittygrad_core as kc

try:
    import torch
except ImportError:  # pragma: no cover - the testing extra brings torch
    torch = None

CLASSES = ("ok-equal", "ok-unchecked", "typed-error-both", "typed-error-kitty", "deviation",
           "clear-error-kitty-only", "accept-kitty-only", "obscure", "mismatch", "crash")
FAILING = ("clear-error-kitty-only", "accept-kitty-only", "mismatch", "crash")
OBSCURE_LIMIT = 0.001
TIMEOUT = 10.0
TYPED = (TypeError, ValueError, RuntimeError, IndexError, NotImplementedError, OverflowError)
# Python's own argument-binding errors name the function: they are as clear as torch's.
# So do the operator protocol's ("unsupported operand type(s) for +: 'Tensor' and 'str'").
_BINDING_WORDS = ("positional argument", "keyword argument", "required positional", "takes no arguments",
                  "unsupported operand type", "not supported between instances", "bad operand type",
                  "can't multiply sequence", "can only concatenate")
_RANDOM = {"rand", "randn", "rand_like", "randn_like", "empty", "empty_like", "dropout"}


@dataclass(frozen=True)
class Deviation:
    """One documented difference from torch: which outcomes it covers and why."""

    key: str
    outcome: tuple[str, ...]  # the classes whose outcomes it turns into ``deviation``
    description: str
    matches: Callable[[dict[Any, Any]], bool]


def _kitty_error(*words: str) -> Callable[[dict[Any, Any]], bool]:
    return lambda r: any(w in r["kitty_error"] for w in words)


def _torch_error(*words: str) -> Callable[[dict[Any, Any]], bool]:
    return lambda r: any(w in r.get("torch_error", "") for w in words)


def _torch_nonfloat(r: dict[Any, Any]) -> bool:
    return r.get("torch_dtype", "") not in ("", "torch.float16", "torch.float32", "torch.float64")


#: The one table of documented differences from torch. ``docs/fuzz.md`` is checked against it.
DEVIATIONS: tuple[Deviation, ...] = (
    Deviation("float-only", ("clear-error-kitty-only",),
              "Tensors are float16, float32 or float64 only: integer, bool and complex dtypes, and "
              "complex or non-numeric data, are refused with a TypeError.",
              lambda r: r["complex_arg"] or _kitty_error(
                  "is not supported. Supported: float16", "' is not supported.", "expected a numeric array",
                  "expected numbers", "expected a floating")(r)),
    Deviation("int-data-is-float", ("mismatch", "accept-kitty-only"),
              "Integer and bool data (Python numbers, lists, NumPy arrays) become float32 tensors, and "
              "ops on them give float results where torch keeps an integer or bool dtype (and "
              "truncates values it writes into them). Ops that do not broadcast (``outer``) read an "
              "integer NumPy operand as float32 too, so a float16 operand is promoted to float32 "
              "where torch keeps float16.",
              lambda r: _torch_nonfloat(r) or "Only Tensors of floating point" in r.get("torch_error", "")
              or (r["numpy_arg"] and r.get("why", "").startswith("dtype float32 vs float16"))),
    Deviation("numpy-operands", ("accept-kitty-only",),
              "NumPy arrays (and, for ops taking index or mask arrays, NumPy integer and bool arrays, or "
              "sequences of ints) are accepted wherever a tensor is, and nested sequences wherever values "
              "are assigned; torch wants a Tensor there.",
              lambda r: r["numpy_arg"] or "can't assign a" in r.get("torch_error", "")
              or ("argument 'index'" in r.get("torch_error", "") and any(
                  w in r["torch_error"] for w in ("must be Tensor, not list", "must be Tensor, not tuple")))),
    Deviation("numpy-refused", ("clear-error-kitty-only",),
              "Where kittygrad refuses a NumPy array with a clear error (a ``diagonal``, a ``gather`` "
              "index, a ``backward`` gradient), torch's Python API refuses the same array too; the "
              "fuzzer hands torch a tensor in its place, which torch accepts.",
              lambda r: r["numpy_arg"] and "ndarray" in r.get("kitty_error", "")
              and r.get("kitty_error", "").startswith("TypeError")),
    Deviation("dtype-names", ("accept-kitty-only",),
              "A dtype may be given as a NumPy dtype or its name (``'float64'``).",
              lambda r: r["string_dtype"]),
    Deviation("number-operands", ("accept-kitty-only",),
              "Every elementwise op that broadcasts takes Python numbers for any of its operands "
              "(``kitty.maximum(0.5, x)``); torch wants a Tensor there.",
              _torch_error("must be Tensor, not float", "must be Tensor, not int",
                           "must be Tensor, not bool", "object has no attribute 'size'")),
    Deviation("one-tensor-needed", ("clear-error-kitty-only",),
              "An elementwise op needs at least one tensor operand (``kitty.div(1, 2)`` raises "
              "TypeError; torch computes on the numbers).",
              _kitty_error("at least one operand must be a Tensor")),
    Deviation("to-takes-a-dtype", ("clear-error-kitty-only", "accept-kitty-only"),
              "``Tensor.to`` takes a dtype, the device ``'cpu'`` or a tensor (and ``copy``); anything "
              "else is a TypeError. A tensor argument is read as its dtype wherever it stands, where "
              "torch takes it only first.",
              lambda r: r["target"] == "Tensor.to" and ("is not understood" in r["kitty_error"]
                                                      or "argument 'device'" in r.get("torch_error", ""))),
    Deviation("comparisons", ("mismatch", "accept-kitty-only", "clear-error-kitty-only"),
              "Comparison operators return NumPy bool arrays, computed by NumPy: comparing with an "
              "object NumPy cannot compare elementwise gives an array of ``False`` (``True`` for "
              "``!=``) where torch returns a Python bool or raises; a list that does not broadcast is a "
              "TypeError.",
              lambda r: r["target"] in ("Tensor.__eq__", "Tensor.__ne__", "Tensor.__lt__",
                                        "Tensor.__le__", "Tensor.__gt__", "Tensor.__ge__")),
    Deviation("positional-options", ("accept-kitty-only",),
              "Some signatures are looser than torch's: options torch takes by keyword only may be "
              "passed by position (``kitty.tensor(data, dtype)``), ``reshape`` takes sizes as "
              "separate ints, and a missing size or dims means a 0-d shape (``zeros()``).",
              _torch_error("positional argument", "required positional")),
    Deviation("lenient-option-types", ("accept-kitty-only",),
              "Options are not type-checked where Python coerces them: a flag such as ``keepdim`` is "
              "read by truth value, a number option accepts any number (a bool or complex ``alpha``), "
              "a sequence of tensors may be a Tensor (torch raises, naming the argument).",
              _torch_error("must be bool", "must be Number", "invalid combination of arguments",
                           "must be tuple of ints", "must be int", "must be float", "Boolean alpha",
                           "must not be a complex", "cannot be converted to type float without overflow",
                           "must be tuple of Tensors")),
    Deviation("float-masks", ("accept-kitty-only",),
              "As tensors are float-only, a condition or mask may be a float tensor (nonzero is true) "
              "and an index a float tensor of whole numbers.",
              _torch_error("condition to be a boolean", "expected BoolTensor", "mask", "boolean",
                           "tensors used as indices must be", "Expected dtype int32 or int64",
                           "'indices' to have one of the following scalar types")),
    Deviation("inplace-casts", ("clear-error-kitty-only",),
              "An in-place op whose result dtype differs from its target's (``f32 += f64``) is "
              "refused with a RuntimeError; torch casts the result down.",
              _kitty_error("doesn't match the promotion dtype")),
    Deviation("non-leaf-requires-grad", ("clear-error-kitty-only",),
              "Setting ``requires_grad`` on a non-leaf tensor raises even when it is already true "
              "(the original kittygrad's rule); torch allows ``requires_grad_(True)`` there.",
              _kitty_error("You can only change requires_grad flags of leaf variables")),
    Deviation("unsupported-options", ("clear-error-kitty-only",),
              "Some torch options are not implemented (``embedding``'s ``sparse``, "
              "``scale_grad_by_freq``): they raise NotImplementedError.",
              _kitty_error("not supported", "not implemented")),
    Deviation("no-value-checks", ("accept-kitty-only",),
              "Data values are not validated (``binary_cross_entropy`` outside [0, 1] gives NaN); "
              "torch checks them.",
              _torch_error("should be between 0 and 1")),
    Deviation("torch-limits", ("accept-kitty-only",),
              "Some combinations torch refuses are computed: gradients for a loss's ``weight``, "
              "``ignore_index`` with probability targets, mixed float dtypes in ``binary_cross_entropy``, "
              "``logsumexp`` over ``dim=()`` (all dims, as ``sum``).",
              lambda r: _torch_error("is not differentiable with respect to",
                                     "ignore_index is not supported for floating point target",
                                     "Found dtype")(r)
              or r["target"] in ("kitty.logsumexp", "Tensor.logsumexp")),
    Deviation("mixed-dtype-products", ("accept-kitty-only",),
              "``dot``, ``mm``, ``mv``, ``bmm``, ``matmul`` (``@``) and ``einsum`` promote mixed float "
              "dtypes, as the original kittygrad does; torch raises.",
              lambda r: r["target"].split(".")[-1] in ("dot", "mm", "mv", "bmm", "matmul", "__matmul__",
                                                       "__rmatmul__", "einsum")
              and _torch_error("dtype", "expected scalar type")(r)),
    Deviation("cat-legacy-empty", ("clear-error-kitty-only",),
              "``cat`` checks ``dim`` and sizes against 1-D empty tensors too, ``gather`` an empty "
              "index's dims and sizes, and indexing an empty tensor the index's bounds; torch skips these "
              "checks for empty operands (its legacy rule).",
              lambda r: r["target"].split(".")[-1] in ("cat", "concat", "concatenate", "gather",
                                                       "__setitem__", "__getitem__")
              and ("(0,)" in r["call"] or ", 0)" in r["call"])
              and any(w in r["kitty_error"] for w in ("Dimension out of range", "dimension out of range",
                                                      "sizes of tensors must match",
                                                      "index must have as many dims", "out of bounds",
                                                      "is larger than input"))),
    Deviation("original-empty-dims", ("mismatch",),
              "``sum``, ``mean``, ``std`` and ``var`` over ``dim=()`` (or ``[]``) reduce nothing (NumPy's rule, the "
              "original kittygrad's); torch reduces every dim.",
              lambda r: r["target"].split(".")[-1] in ("sum", "mean", "std", "var")
              and (", ()" in r["call"] or ", []" in r["call"])),
    Deviation("original-bmm-batches", ("accept-kitty-only",),
              "``bmm`` takes any number (at least one) of equal batch dims, as the original kittygrad; "
              "torch's takes 3-D tensors only.",
              _torch_error("batch1 must be a 3D tensor", "batch2 must be a 3D tensor")),
    Deviation("original-texts", ("clear-error-kitty-only",),
              "Where the original kittygrad refuses what torch accepts, kittygrad refuses too, with the "
              "original's text: transposing a 0-d tensor (``Scalar cannot be transposed.``), ``-1`` in a "
              "new leading dim of ``expand``, a ``backward()`` gradient of another dtype (``... has data "
              "of a different type.``; torch casts it).",
              _kitty_error("Scalar cannot be transposed.", "isn't allowed in a leading, non-existing",
                           "has data of a different type")),
    Deviation("leaf-rule-first", ("clear-error-kitty-only",),
              "An in-place op on a leaf that requires grad raises even when it writes nothing (an empty "
              "selection of an empty tensor); torch lets such a no-op through.",
              lambda r: "A leaf Variable that requires grad is being used in an in-place" in r["kitty_error"]
              and ("(0,)" in r["call"] or ", 0)" in r["call"])),
    Deviation("ragged-index-lists", ("clear-error-kitty-only",),
              "A nested list used as an index must be rectangular (NumPy's rule); torch reads a ragged one "
              "as a tuple of indices, NumPy's old rule.",
              _kitty_error("an index given as a nested list must be rectangular")),
    Deviation("tensor-inputs", ("clear-error-kitty-only",),
              "Functions that read a tensor's structure (``*_like``, ``split``, ``chunk``, "
              "``broadcast_tensors``) need a Tensor, number options (``alpha``, ``value``, "
              "``fill_value``, sizes) a Python number, and dims an int (a NumPy integer too, as in "
              "torch), not a NumPy array or a 0-d tensor (torch takes a 0-d integer tensor there).",
              _kitty_error("expected a Tensor as input, got", "must be a Tensor, not ndarray",
                           "split_size_or_sections must be an int or a list of ints, not tensor",
                           "split_size_or_sections must be an int or a list of ints, not array",
                           "argument 'input' must be a Tensor, not",
                           "must be a number, not", "size must be a sequence of ints",
                           "dim must be an int or a tuple of ints, got ndarray",
                           "dim must be an int, got ndarray", "dims must be an int or a tuple of ints, got ndarray",
                           "does not support ufuncs")),
    Deviation("limits-at-infinity", ("mismatch",),
              "``gelu`` of ``+inf`` is ``+inf``, its limit (torch's float64 kernel agrees); torch's "
              "float32 kernel gives NaN there.",
              lambda r: r["target"].split(".")[-1] == "gelu" and r["nonfinite"] and r.get("why") == "values differ"),
    Deviation("nan-gradients", ("mismatch",),
              "At NaN or infinite inputs, gradients of kinked ops (``abs``, ``relu``, ``amin``, "
              "``var``) may be NaN where torch gives 0 or 1.",
              lambda r: r.get("why") == "gradients differ" and r["nonfinite"]),
    Deviation("original-implicit-gradient", ("clear-error-kitty-only",),
              "``backward()`` without a gradient needs a 0-d tensor, as in the original kittygrad; torch "
              "also takes a one-element tensor of any shape.",
              _kitty_error("Gradient can be implicitly created only for scalar outputs")),
    Deviation("linear-matrix-weight", ("clear-error-kitty-only",),
              "``linear`` takes a 2-D weight; torch also takes a 1-D one (a dot product with the input).",
              lambda r: r["target"].split(".")[-1] == "linear" and "cannot be multiplied" in r["kitty_error"]),
    Deviation("negative-steps", ("accept-kitty-only",),
              "Slices with a negative step index backwards, as in NumPy and the original kittygrad (a view "
              "of the reversed elements); torch refuses them.",
              lambda r: r["target"].split(".")[-1] in ("__getitem__", "__setitem__")
              and "step must be greater than zero" in r.get("torch_error", "")),
    Deviation("linear-bias-tensor", ("clear-error-kitty-only",),
              "The op binding ``kitty.linear`` takes ``bias`` as a tensor input (it is differentiable); "
              "for no bias call ``kitty.nn.functional.linear(input, weight)``, which takes ``None`` as "
              "torch's does.",
              lambda r: r["target"].split(".")[-1] == "linear" and "'NoneType'" in r["kitty_error"]),
    Deviation("empty-mixed-products", ("mismatch",),
              "A product of mixed float dtypes promotes (see ``mixed-dtype-products``) also when it is "
              "empty, where torch skips its dtype check and returns the second operand's dtype.",
              lambda r: r["target"].split(".")[-1] in ("dot", "mm", "mv", "bmm", "matmul", "__matmul__",
                                                       "__rmatmul__", "einsum")
              and r.get("why", "").startswith("dtype") and ", 0)" in r["call"]),
    Deviation("float16-rounding", ("mismatch",),
              "Mixed with a float16 operand, torch rounds intermediate values to float16 where kittygrad "
              "computes in the result's dtype, which is closer to the exact value: ``pow``'s base "
              "gradient (torch computes ``exponent - 1`` in float16: 0.7661 against kittygrad's exact "
              "0.5971 for a base of 0.136 and an exponent of 0.3728), and "
              "``binary_cross_entropy_with_logits`` of float16 logits with float64 targets (16.5131 "
              "against the exact 16.5194).",
              lambda r: r["target"].split(".")[-1] in ("pow", "__pow__", "__rpow__", "pow_", "__ipow__",
                                                       "binary_cross_entropy_with_logits")
              and r.get("why") in ("gradients differ", "values differ") and "float16" in r["call"]),
)


# ---------------------------------------------------------------------------------------- values


@dataclass
class Pair:
    """One argument in both worlds; ``leaves`` are the (kitty, torch) tensors that require grad."""

    kitty: Any
    torch: Any
    leaves: list[Any] = field(default_factory=list)
    numpy: bool = False
    string_dtype: bool = False


SHAPES = [(), (0,), (1,), (3,), (4,), (2, 3), (3, 3), (3, 1), (1, 3), (2, 0), (2, 3, 4), (2, 1, 3),
          (4, 3), (3, 4), (2, 2, 2, 2)]
_TORCH_DTYPES: dict[Any, Any] = {}


def _torch_dtype(np_dtype: Any) -> Any:
    return getattr(torch, np.dtype(np_dtype).name)


class Generator:
    """Draws hostile and plausible arguments for one call."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.np = np.random.default_rng(rng.randrange(2**32))

    def data(self, shape: tuple[Any, ...], dtype: Any = np.float32) -> np.ndarray:
        r = self.rng.random()
        if r < 0.08:
            values = self.np.choice([np.nan, np.inf, -np.inf, 0.0, 1.0, -2.0], size=shape)
        elif r < 0.14:
            values = self.np.integers(-3, 4, size=shape).astype(np.float64)
        elif r < 0.2:
            values = self.np.uniform(0.1, 3, size=shape)
        else:
            values = self.np.standard_normal(shape)
        return np.asarray(values, dtype=dtype)

    def tensor(self, shape: tuple[Any, ...] | None = None, dtype: Any = None,
               grad: bool | None = None) -> Pair:
        rng = self.rng
        shape = rng.choice(SHAPES) if shape is None else shape
        dtype = dtype or rng.choices([np.float32, np.float64, np.float16], [6, 3, 1])[0]
        grad = rng.random() < 0.35 if grad is None else grad
        data = self.data(shape, dtype)
        view = len(shape) >= 2 and rng.random() < 0.12
        base = np.ascontiguousarray(np.swapaxes(data, -1, -2)) if view else data
        k = kc.tensor(base, requires_grad=grad)
        t = torch.tensor(base, requires_grad=grad)
        pair = Pair(k, t, [(k, t)] if grad else [])
        if view:
            pair.kitty, pair.torch = k.mT, t.mT
        return pair

    def hostile(self, like: Pair | None = None) -> Pair:
        """A value of the wrong kind, or a tensor of the wrong shape or dtype."""
        rng = self.rng
        v: Any  # each kind draws a value of its own type
        a: np.ndarray
        kind = rng.randrange(20)
        if kind == 0:
            return Pair(None, None)
        if kind == 1:
            return Pair("abc", "abc")
        if kind == 2:
            return Pair(1 + 2j, 1 + 2j)
        if kind == 3:
            v = rng.choice([True, False])
            return Pair(v, v)
        if kind == 4:
            v = rng.choice([0, 1, -1, 2, 5, -7, 100])
            return Pair(v, v)
        if kind == 5:
            v = rng.choice([0.5, -1.5, math.nan, math.inf, -math.inf, 1e30])
            return Pair(v, v)
        if kind == 6:
            a = self.np.integers(-3, 4, size=rng.choice(SHAPES))
            return Pair(a, torch.from_numpy(a.copy()), numpy=True)
        if kind == 7:
            a = self.np.random(size=rng.choice(SHAPES)) < 0.5
            return Pair(a, torch.from_numpy(a.copy()), numpy=True)
        if kind == 8:
            a = (self.np.standard_normal(3) + 1j).astype(np.complex64)
            return Pair(a, torch.from_numpy(a.copy()), numpy=True)
        if kind == 9:
            v = rng.choice([[1.0, 2.0, 3.0], [[1, 2], [3, 4]], [1, "a"], (), [], [[1], [2, 3]]])
            return Pair(v, v)
        if kind == 10:
            return Pair(object(), object())
        if kind == 11:
            v = rng.choice([(0, 0), (0, 1), (-1, 5), (1.0,), (None,), (0, -1, 2)])
            return Pair(v, v)
        if kind == 12:
            v = rng.choice([np.float64, np.int64, np.bool_, "float64", "int32", "float16", "bogus"])
            name = np.dtype(v).name if v != "bogus" else None
            t = getattr(torch, name) if name else "bogus"
            return Pair(v, t, string_dtype=isinstance(v, str) and name is not None)
        if kind == 13:
            v = rng.choice(["sum", "mean", "none", "fro", "tanh", "nuc"])
            return Pair(v, v)
        if kind == 14:
            return self.tensor(shape=())
        if kind == 15:
            return self.tensor(shape=(0,))
        if kind == 16:
            return self.tensor(dtype=np.float16)
        if kind == 17:
            a = self.data(rng.choice(SHAPES), np.float64)
            return Pair(a, torch.from_numpy(a.copy()), numpy=True)
        if kind == 18:
            v = rng.choice([slice(None, None, -1), Ellipsis, slice(0, 10), (None, 0)])
            return Pair(v, v)
        return self.tensor()  # another shape and dtype: mismatched with high probability

    def option(self, name: str, default: Any, spec: Any, first: Pair | None) -> Pair:
        """A plausible value of an option, from the op's conformance metadata or its default."""
        rng = self.rng
        v: Any  # each kind of option draws a value of its own type
        ndim = first.kitty.ndim if first is not None and isinstance(first.kitty, kc.Tensor) else 2
        if spec == "dim" or (spec is None and name in ("dim", "dim0", "dim1", "start_dim", "end_dim")):
            v = rng.randrange(-max(ndim, 1), max(ndim, 1)) if rng.random() < 0.8 else rng.choice(
                [ndim, -ndim - 1, 7, -9])
            return Pair(v, v)
        if spec == "newdim":
            v = rng.randrange(-ndim - 1, ndim + 1)
            return Pair(v, v)
        if spec == "dims" or name == "dims":
            choices: list[Any] = [None, 0, -1, (0,), (0, -1), (-1, 0), (0, 0), (ndim,), (-ndim - 1,), ()]
            v = rng.choice(choices)
            return Pair(v, v)
        if spec == "bool":
            v = rng.random() < 0.5
            return Pair(v, v)
        if isinstance(spec, list) and spec:
            v = rng.choice(spec)
            return Pair(v, v)
        if default is inspect.Parameter.empty or default is None:
            if name in ("size", "shape", "sizes"):
                v = rng.choice([(2, 3), (3,), (-1,), (1, 3), (6,), (3, 2), ()])
                return Pair(v, v)
            v = rng.choice([None, 0, 1, -1, 2, (0, 1), 0.5])
            return Pair(v, v)
        if isinstance(default, bool):
            v = rng.random() < 0.5
        elif isinstance(default, int):
            v = rng.choice([default, 0, 1, 2, -1, 3])
        elif isinstance(default, float):
            v = rng.choice([default, 0.0, 0.5, 1.0, 2.0])
        else:
            v = default
        return Pair(v, v)


# -------------------------------------------------------------------------------------- targets

TENSOR_NAMES = {"self", "input", "other", "mat2", "vec", "vec2", "exponent", "condition", "weight", "bias",
                "target", "tensor", "values", "x", "y", "running_mean", "running_var"}
SEQUENCE_NAMES = {"tensors"}
INT_ARRAY_NAMES = {"index", "indices"}
BOOL_ARRAY_NAMES = {"mask"}
_OPERATORS: dict[str, Callable[..., Any]] = {
    "__add__": operator.add, "__sub__": operator.sub, "__mul__": operator.mul,
    "__truediv__": operator.truediv, "__pow__": operator.pow, "__matmul__": operator.matmul,
    "__radd__": lambda a, b: operator.add(b, a), "__rsub__": lambda a, b: operator.sub(b, a),
    "__rmul__": lambda a, b: operator.mul(b, a), "__rtruediv__": lambda a, b: operator.truediv(b, a),
    "__rpow__": lambda a, b: operator.pow(b, a), "__rmatmul__": lambda a, b: operator.matmul(b, a),
    "__iadd__": operator.iadd, "__isub__": operator.isub, "__imul__": operator.imul,
    "__itruediv__": operator.itruediv, "__ipow__": operator.ipow,
    "__neg__": operator.neg, "__abs__": operator.abs, "__pos__": operator.pos,
    "__getitem__": operator.getitem, "__setitem__": operator.setitem,
    "__eq__": operator.eq, "__ne__": operator.ne, "__lt__": operator.lt, "__le__": operator.le,
    "__gt__": operator.gt, "__ge__": operator.ge, "__len__": len, "__bool__": bool,
    "__float__": float, "__int__": int, "__iter__": lambda a: list(iter(a)),
}


@dataclass
class Target:
    """One public callable: how to call it in kittygrad and in torch."""

    name: str  # e.g. "kitty.add", "Tensor.add_", "Tensor.__radd__", "Tensor.mT"
    kind: str  # "function", "method", "operator", "property", "creation"
    attribute: str
    op: Any = None
    params: list[Any] = field(default_factory=list)  # inspect.Parameter, "self" first for methods
    torch_call: Callable[..., Any] | None = None


def _torch_function(attribute: str, op: Any) -> Callable[..., Any] | None:
    spec = getattr(getattr(op, "conformance", None), "torch", None)
    if op is not None and attribute == op.name and isinstance(spec, str) and not spec.startswith("Tensor."):
        obj: Any = torch
        for part in spec.removeprefix("torch.").split("."):
            obj = getattr(obj, part, None)
        if callable(obj):
            return obj  # type: ignore[no-any-return]  # torch is untyped here
    return getattr(torch, attribute, None) or getattr(torch.nn.functional, attribute, None)


def _params(function: Any) -> list[Any]:
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []


def targets(distribution: str | None = None) -> list[Target]:
    """Every public callable of the installed plugins (or of one distribution), plus core's."""
    out: list[Target] = []
    for op in kc.registry:
        if distribution is not None and op.distribution != distribution:
            continue
        functions = (op.name,) if op.functions is None else op.functions
        methods = (op.name,) if op.methods is None else op.methods
        for f in functions:
            fn = getattr(kc, f, None)
            if fn is not None and getattr(fn, "_kittygrad_op", None) is not None:
                out.append(Target(f"kitty.{f}", "function", f, op, _params(fn), _torch_function(f, op)))
        for m in (*methods, *getattr(op, "inplace", ()), *getattr(op, "operators", ()),
                  *getattr(op, "reflected", ())):
            member = kc.Tensor.__dict__.get(m)
            if member is None:
                continue
            kind = "operator" if m in _OPERATORS else "method"
            out.append(Target(f"Tensor.{m}", kind, m, op, _params(member), None))
        for p in getattr(op, "properties", ()):
            out.append(Target(f"Tensor.{p}", "property", p, op, [], None))
    if distribution in (None, "kittygrad-core"):
        for f in ("tensor", "ones", "zeros", "empty", "full", "rand", "randn", "arange", "eye",
                  "ones_like", "zeros_like", "empty_like", "full_like", "rand_like", "randn_like"):
            out.append(Target(f"kitty.{f}", "creation", f, None, _params(getattr(kc, f)),
                              getattr(torch, f)))
        for m in ("size", "dim", "item", "tolist", "detach", "numel", "nelement", "requires_grad_",
                  "retain_grad", "backward", "type", "__len__", "__bool__", "__float__", "__int__",
                  "__iter__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__pos__"):
            if m in kc.Tensor.__dict__:
                kind = "operator" if m in _OPERATORS else "method"
                out.append(Target(f"Tensor.{m}", kind, m, None, _params(kc.Tensor.__dict__[m]), None))
        for p in ("shape", "ndim", "dtype", "T", "mT", "is_leaf", "grad_fn"):
            if f"Tensor.{p}" not in {t.name for t in out}:
                out.append(Target(f"Tensor.{p}", "property", p, None, [], None))
    return out


# ------------------------------------------------------------------------------------- calling


class _Hang(BaseException):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang()


def _options(target: Target) -> dict[Any, Any]:
    conformance = getattr(target.op, "conformance", None)
    return dict(getattr(conformance, "options", {}) or {})


def build_call(target: Target, gen: Generator) -> tuple[list[Pair], dict[str, Pair]]:
    """Positional and keyword arguments for one call: plausible ones with a few hostile ones."""
    rng = gen.rng
    a: np.ndarray
    specs = _options(target)
    args: list[Pair] = []
    kwargs: dict[str, Pair] = {}
    hostility = rng.choice([0.0, 0.15, 0.3, 0.6])
    first: Pair | None = None
    shared_shape = rng.choice(SHAPES)
    for p in target.params:
        if p.kind == p.VAR_KEYWORD:
            continue
        hostile = rng.random() < hostility
        if p.kind == p.VAR_POSITIONAL:
            n = rng.choice([0, 1, 2, 3])
            if p.name in ("size", "sizes", "shape"):
                for _ in range(n):
                    v = rng.choice([0, 1, 2, 3, -1, 4]) if not hostile else gen.hostile().kitty
                    args.append(Pair(v, v))
            else:
                for _ in range(n):
                    args.append(gen.hostile() if hostile else gen.tensor(shared_shape))
            continue
        name = p.name
        if name in TENSOR_NAMES or (target.kind in ("method", "operator") and not args and not kwargs):
            pair = gen.hostile(first) if hostile else gen.tensor(
                shared_shape if rng.random() < 0.6 else None)
        elif name in SEQUENCE_NAMES:
            if hostile:
                pair = gen.hostile()
            else:
                items = [gen.tensor(shared_shape) for _ in range(rng.choice([0, 1, 2, 3]))]
                if items and rng.random() < 0.2:
                    items[-1] = gen.hostile()
                pair = Pair([i.kitty for i in items], [i.torch for i in items],
                            [leaf for i in items for leaf in i.leaves], any(i.numpy for i in items))
        elif name in INT_ARRAY_NAMES:
            n = max(int(np.prod(first.kitty.shape)) if first is not None and hasattr(first.kitty, "shape")
                    else 3, 1)
            a = gen.np.integers(-1, n + 1, size=rng.choice([(2,), (3,), (), first.kitty.shape
                                                              if first is not None and
                                                              hasattr(first.kitty, "shape") else (2,)]))
            pair = gen.hostile() if hostile else Pair(a, torch.from_numpy(a.astype(np.int64)), numpy=True)
        elif name in BOOL_ARRAY_NAMES:
            shape = first.kitty.shape if first is not None and hasattr(first.kitty, "shape") else (3,)
            a = gen.np.random(size=shape) < 0.5
            pair = gen.hostile() if hostile else Pair(a, torch.from_numpy(a.copy()), numpy=True)
        elif name == "dtype":
            pair = gen.hostile() if hostile else rng.choice(
                [Pair(None, None), Pair(np.float64, torch.float64), Pair(np.float32, torch.float32),
                 Pair(np.float16, torch.float16)])
        elif name == "requires_grad":
            pair = Pair(True, True) if not hostile else gen.hostile()
        elif hostile:
            pair = gen.hostile(first)
        else:
            if p.default is not p.empty and name not in specs and rng.random() < 0.5:
                continue  # leave it at its default
            spec = specs.get(name)
            if callable(spec):
                spec = None
            pair = gen.option(name, p.default, spec, first)
        if first is None and isinstance(pair.kitty, kc.Tensor):
            first = pair
        if p.kind == p.KEYWORD_ONLY or (kwargs and p.kind != p.VAR_POSITIONAL):
            kwargs[name] = pair
        else:
            args.append(pair)
    return args, kwargs


def _invoke(target: Target, world: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    a = args
    if target.kind == "creation":
        fn = getattr(kc, target.attribute) if world == "kitty" else target.torch_call
        return fn(*a, **kwargs)  # type: ignore[misc]  # creation targets have a torch call
    if target.kind == "function":
        fn = getattr(kc, target.attribute) if world == "kitty" else target.torch_call
        if fn is None:
            raise LookupError("no torch counterpart")
        return fn(*a, **kwargs)
    if not a:
        raise LookupError("no receiver")
    receiver, rest = a[0], a[1:]
    if world == "torch" and not isinstance(receiver, torch.Tensor):
        raise LookupError("no torch receiver")
    if world == "kitty" and not isinstance(receiver, kc.Tensor):
        raise LookupError("no kitty receiver")
    if target.kind == "property":
        return getattr(receiver, target.attribute)
    if target.kind == "operator":
        return _OPERATORS[target.attribute](receiver, *rest, **kwargs)
    method = getattr(receiver, target.attribute, None)
    if method is None:
        raise LookupError("no torch counterpart")
    return method(*rest, **kwargs)


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None
    location: str = ""
    deliberate: bool = False


def _run(target: Target, world: str, args: list[Any], kwargs: dict[str, Any]) -> Outcome:
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return Outcome(value=_invoke(target, world, args, kwargs))
    except _Hang as error:
        return Outcome(error=error)
    except LookupError as error:
        if str(error).startswith("no "):
            return Outcome(error=error, location="<no counterpart>")
        return _failure(error)
    except BaseException as error:
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return _failure(error)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


_KITTY_PATHS = ("kittygrad_core", "kittygrad_ops", "kittygrad_nn", "kittygrad_viz", "kittygrad/",
                "<kittygrad")
_plugin_paths: tuple[str, ...] = ()


def _package_paths() -> tuple[str, ...]:
    """The source folders of every registered op's top-level package.

    A third-party plugin's ``raise`` is as deliberate as kittygrad's own: its message is the
    plugin's, not Python's or NumPy's.
    """
    paths = set()
    for op in kc.registry:
        module = sys.modules.get(getattr(op, "__module__", "").partition(".")[0])
        file = getattr(module, "__file__", None)
        if file:
            paths.add(os.path.dirname(file) + os.sep)
    return tuple(sorted(paths))


def _source_line(filename: str, lineno: int) -> str:
    """The source line of a traceback entry. Compiled modules (kittygrad-core's compiled build) name
    their file relative to the package root, and linecache asks their loader, which has no source:
    such a file is looked up on sys.path, where the .py lies beside the compiled module."""
    line = linecache.getline(filename, lineno)
    if line or os.path.isabs(filename):
        return line
    for folder in sys.path:
        path = os.path.join(folder or ".", filename)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as source:
                lines = source.readlines()
            return lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    return ""


def _failure(error: BaseException) -> Outcome:
    frames = traceback.extract_tb(error.__traceback__)
    last = frames[-1] if frames else None
    location = f"{last.filename}:{last.lineno}" if last else "?"
    line = _source_line(last.filename, last.lineno) if last else ""  # type: ignore[arg-type]
    deliberate = last is not None and any(p in last.filename for p in (*_KITTY_PATHS, *_plugin_paths)) \
        and "raise" in line
    if not deliberate and isinstance(error, TypeError) and any(w in str(error) for w in _BINDING_WORDS) \
            and frames and frames[-1].filename == __file__:
        deliberate = True  # Python's signature check on a public function: it names the function
    return Outcome(error=error, location=location, deliberate=deliberate)


def is_clear(outcome: Outcome) -> bool:
    """A typed error raised on purpose (not a Python or NumPy internal failure)."""
    error = outcome.error
    return isinstance(error, TYPED) and not isinstance(error, RecursionError) and outcome.deliberate


# ------------------------------------------------------------------------------------ comparing


def _as_numpy(value: Any) -> np.ndarray | None:
    if isinstance(value, kc.Tensor):
        return value.numpy()
    if isinstance(value, torch.Tensor):
        return value.detach().numpy() if value.dtype != torch.bfloat16 else None
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    return None


def _tolerance(dtype: np.dtype) -> tuple[float, float]:
    return {np.float16: (2e-2, 2e-2), np.float32: (1e-3, 1e-4)}.get(dtype.type, (1e-6, 1e-8))


def compare(k: Any, t: Any, record: dict[Any, Any]) -> str | None:
    """None if ``k`` (kittygrad's) equals ``t`` (torch's), else what differs."""
    if isinstance(t, (tuple, list)) and not isinstance(t, torch.Size):
        if not isinstance(k, (tuple, list)) or len(k) != len(t):
            return f"{type(k).__name__} vs {type(t).__name__} of {len(t)}"
        for a, b in zip(k, t):
            why = compare(a, b, record)
            if why:
                return why
        return None
    if isinstance(t, torch.Size):
        return None if tuple(k) == tuple(t) else f"size {k} vs {tuple(t)}"
    if isinstance(t, torch.dtype):
        return None if str(t) == f"torch.{np.dtype(k).name}" else f"dtype {k} vs {t}"
    if isinstance(t, torch.Tensor):
        a, b = _as_numpy(k), _as_numpy(t)
        if a is None or b is None:
            return f"{type(k).__name__} vs tensor"
        record["torch_dtype"] = str(t.dtype)
        if a.shape != b.shape:
            return f"shape {a.shape} vs {b.shape}"
        if a.dtype.kind in "biu" or b.dtype.kind in "biu":
            equal = a.shape == b.shape and np.array_equal(a.astype(np.float64), b.astype(np.float64),
                                                          equal_nan=True)
        else:
            rtol, atol = _tolerance(np.dtype(a.dtype) if a.dtype.kind == "f" else np.dtype(np.float64))
            with np.errstate(all="ignore"):
                equal = np.allclose(a.astype(np.float64), b.astype(np.float64), rtol, atol, equal_nan=True)
        record["values_equal"] = bool(equal)
        if not equal:
            return "values differ"
        if b.dtype.kind == "f" and a.dtype != b.dtype:
            return f"dtype {a.dtype} vs {b.dtype}"
        if b.dtype.kind != a.dtype.kind:
            return f"dtype {a.dtype} vs {t.dtype}"
        return None
    if t is None or isinstance(t, (bool, int, float, str)):
        if isinstance(k, kc.Tensor):
            return f"Tensor vs {type(t).__name__}"
        if isinstance(t, float) and isinstance(k, (float, int)):
            return None if math.isclose(k, t, rel_tol=1e-3, abs_tol=1e-4) or (
                math.isnan(k) and math.isnan(t)) else f"{k} vs {t}"
        if isinstance(t, str):
            return None  # repr-like strings are not compared
        if isinstance(k, (np.ndarray, kc.Tensor, list, tuple)):
            return f"{type(k).__name__} vs {type(t).__name__}"
        return None if k == t else f"{k!r} vs {t!r}"
    return None  # graph nodes, iterators: not compared


def _grad_check(k: Any, t: Any, args: list[Any], kwargs: dict[str, Any], gen: Generator) -> str | None:
    leaves = [leaf for p in [*args, *kwargs.values()] for leaf in p.leaves]
    if not leaves or not isinstance(k, kc.Tensor) or not isinstance(t, torch.Tensor):
        return None
    if not (k.requires_grad and t.requires_grad) or k.dtype == np.float16:
        return None
    g = gen.np.standard_normal(k.shape).astype(k.dtype)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t.backward(torch.from_numpy(g.copy()))
    except Exception:  # noqa: BLE001 - torch cannot backpropagate this (e.g. through an integer)
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            k.backward(kc.tensor(g))
    except Exception as error:  # noqa: BLE001
        return f"backward raised {type(error).__name__}: {error}"
    # torch evaluates parts of a rule in a float16 operand's dtype (pow's ``exponent - 1``), so with a
    # float16 leaf even its float64 gradients carry float16 rounding: compare them at float16 tolerance,
    # and not where kittygrad's is NaN (a negative base to ``e - 1`` rounded to an integer is finite)
    loose = any(getattr(kl, "dtype", None) == np.float16 for kl, _ in leaves)
    for kl, tl in leaves:
        kg, tg = kl._grad, tl.grad
        if (kg is None) != (tg is None):
            if tg is not None and not np.any(tg.numpy()):
                continue  # torch materialises zero gradients kittygrad may leave out
            return "gradient presence differs"
        if kg is not None:
            rtol, atol = _tolerance(np.dtype(np.float16 if loose else kg.dtype))
            a, b = kg.numpy(), tg.numpy()
            if loose and kg.shape == tuple(tg.shape):
                a, b = a[~np.isnan(a)], b[~np.isnan(a)]
            with np.errstate(all="ignore"):
                if kg.shape != tuple(tg.shape) or not np.allclose(a, b, rtol * 10, atol * 10, equal_nan=True):
                    return "gradients differ"
    return None


# ------------------------------------------------------------------------------------ the run


def describe(target: Target, args: list[Any], kwargs: dict[str, Any]) -> str:
    def short(v: Any) -> str:
        if isinstance(v, kc.Tensor):
            return f"tensor{tuple(v.shape)}:{v.dtype}"
        if isinstance(v, np.ndarray):
            return f"ndarray{v.shape}:{v.dtype}"
        if isinstance(v, list) and v and isinstance(v[0], (kc.Tensor, np.ndarray)):
            return "[" + ", ".join(short(i) for i in v) + "]"
        return repr(v)[:40]
    parts = [short(p.kitty) for p in args] + [f"{k}={short(p.kitty)}" for k, p in kwargs.items()]
    return f"{target.name}({', '.join(parts)})"


def _torch_arguments(target: Target, args: list[Any], kwargs: dict[str, Any]) -> tuple[list[Any],
                     dict[Any, Any]]:
    """torch's arguments: options passed by position to kittygrad go to torch by keyword.

    torch's functions put extra parameters between the inputs and the options (``mse_loss``'s
    ``size_average``), so positions do not carry over; names do.
    """
    if target.kind in ("operator", "property") or target.op is None:
        return [p.torch for p in args], {k: p.torch for k, p in kwargs.items()}
    inputs = set(getattr(target.op, "input_names", ())) | {"self", "input", "tensors"}
    positional, named = [], {k: p.torch for k, p in kwargs.items()}
    for param, pair in zip(target.params, args):
        if param.kind == param.VAR_POSITIONAL or param.name in inputs or param.name in TENSOR_NAMES:
            if named:
                break
            positional.append(pair.torch)
        else:
            named[param.name] = pair.torch
    if len(positional) + len(named) - len(kwargs) < len(args):  # *sizes and the like: keep positions
        return [p.torch for p in args], {k: p.torch for k, p in kwargs.items()}
    return positional, named


def classify(target: Target, args: list[Any], kwargs: dict[str, Any], gen: Generator,
             grad_sample: float) -> dict[Any, Any]:
    """Calls the target in both worlds and returns the outcome record."""
    record: dict[Any, Any] = {"target": target.name, "call": describe(target, args, kwargs),
                    "numpy_arg": any(p.numpy for p in [*args, *kwargs.values()]),
                    "string_dtype": any(p.string_dtype for p in [*args, *kwargs.values()]),
                    "nonfinite": any(isinstance(p.kitty, kc.Tensor) and not np.isfinite(p.kitty.numpy()).all()
                                     for p in [*args, *kwargs.values()]),
                    "complex_arg": any(isinstance(p.kitty, complex) or getattr(p.kitty, "dtype", None)
                                       is not None and np.dtype(p.kitty.dtype).kind == "c"
                                       for p in [*args, *kwargs.values()] if not isinstance(
                                           p.kitty, (type, str)))}
    kitty = _run(target, "kitty", [p.kitty for p in args], {k: p.kitty for k, p in kwargs.items()})
    if isinstance(kitty.error, _Hang):
        record.update(cls="crash", why="timeout")
        return record
    tch = _run(target, "torch", *_torch_arguments(target, args, kwargs))
    if isinstance(tch.error, TypeError) and any(w in str(tch.error) for w in _BINDING_WORDS):
        # torch names a parameter differently (swapaxes' axis0): pass by position as kittygrad got it
        tch = _run(target, "torch", [p.torch for p in args], {k: p.torch for k, p in kwargs.items()})
    no_torch = tch.location == "<no counterpart>" or isinstance(tch.error, _Hang)
    if kitty.error is not None:
        if kitty.location == "<no counterpart>":
            record.update(cls="typed-error-kitty", why="not callable")
            return record
        record["kitty_error"] = f"{type(kitty.error).__name__}: {kitty.error}"
        same_as_torch = tch.error is not None and type(tch.error) is type(kitty.error) and \
            str(tch.error) == str(kitty.error)  # Python's own error, word for word as torch's
        if not is_clear(kitty) and not same_as_torch:
            record.update(cls="obscure", location=kitty.location)
            return record
        if no_torch:
            record["cls"] = "typed-error-kitty"
        elif tch.error is not None:
            record["cls"] = "typed-error-both"
        else:
            record["cls"] = "clear-error-kitty-only"
        return record
    if no_torch or target.attribute in _RANDOM:
        record["cls"] = "ok-unchecked"
        return record
    if tch.error is not None:
        record.update(cls="accept-kitty-only", torch_error=f"{type(tch.error).__name__}: {tch.error}")
        return record
    try:
        why = compare(kitty.value, tch.value, record)
    except Exception as error:  # noqa: BLE001 - an uncomparable pair is a difference
        why = f"comparison failed: {type(error).__name__}: {error}"[:200]
    if why is None and rng_draw(gen) < grad_sample:
        why = _grad_check(kitty.value, tch.value, args, kwargs, gen)
    record["cls"] = "ok-equal" if why is None else "mismatch"
    if why:
        record["why"] = why
    return record


def rng_draw(gen: Generator) -> float:
    return gen.rng.random()


def deviation_for(record: dict[Any, Any]) -> Deviation | None:
    """The row of :data:`DEVIATIONS` that covers this outcome, if any."""
    record.setdefault("kitty_error", "")
    for deviation in DEVIATIONS:
        if record["cls"] in deviation.outcome and deviation.matches(record):
            return deviation
    return None


def run(calls: int, seed: int = 0, distribution: str | None = None, grad_sample: float = 0.3,
        budget: float | None = None) -> dict[Any, Any]:
    """Makes ``calls`` fuzzed calls (fewer if ``budget`` seconds run out) and returns the summary."""
    if torch is None:
        raise RuntimeError("the fuzzer needs torch (pip install kittygrad-core[testing])")
    rng = random.Random(seed)
    gen = Generator(rng)
    torch.manual_seed(seed)
    kc.manual_seed(seed)
    all_targets = targets(distribution)
    global _plugin_paths
    _plugin_paths = _package_paths()
    counts: collections.Counter[Any] = collections.Counter()
    per_deviation: collections.Counter[Any] = collections.Counter()
    failures: dict[tuple[Any, ...], dict[Any, Any]] = {}
    obscure_locations: collections.Counter[Any] = collections.Counter()
    previous = signal.signal(signal.SIGALRM, _alarm)
    start = time.perf_counter()
    made = 0
    try:
        for made in range(1, calls + 1):  # noqa: B007 - read after the loop
            target = rng.choice(all_targets)
            try:
                args, kwargs = build_call(target, gen)
            except Exception:  # noqa: BLE001 - a generator bug must not stop the run
                counts["ok-unchecked"] += 1
                continue
            record = classify(target, args, kwargs, gen, grad_sample)
            cls = record["cls"]
            if cls in ("clear-error-kitty-only", "accept-kitty-only", "mismatch"):
                deviation = deviation_for(record)
                if deviation is not None:
                    per_deviation[deviation.key] += 1
                    cls = "deviation"
            counts[cls] += 1
            if cls == "obscure":
                obscure_locations[record["location"]] += 1
            if cls in FAILING or cls == "obscure":
                key = (cls, target.name, record.get("location") or record.get("why", "")[:30],
                       record.get("kitty_error", "")[:40])
                entry = failures.setdefault(key, dict(record, count=0))
                entry["count"] += 1
            if budget is not None and time.perf_counter() - start > budget:
                break
    finally:
        signal.signal(signal.SIGALRM, previous)
    obscure = counts["obscure"]
    failing = sum(counts[c] for c in FAILING)
    return {
        "calls": made, "seed": seed, "seconds": round(time.perf_counter() - start, 1),
        "targets": len(all_targets), "counts": {c: counts[c] for c in CLASSES},
        "deviations": dict(per_deviation), "obscure_fraction": obscure / max(made, 1),
        "obscure_locations": dict(obscure_locations.most_common()),
        "failures": sorted(failures.values(), key=lambda r: -r["count"]),
        "passed": failing == 0 and obscure <= OBSCURE_LIMIT * made,
    }


def deviation_table() -> str:
    """The deviation table as Markdown (``docs/fuzz.md`` holds this text)."""
    lines = ["| Key | Outcome it covers | Difference from torch |", "| --- | --- | --- |"]
    lines += [f"| `{d.key}` | {', '.join(d.outcome)} | {d.description} |" for d in DEVIATIONS]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m kittygrad_core.testing.fuzz --calls N --seed S``."""
    parser = argparse.ArgumentParser(prog="python -m kittygrad_core.testing.fuzz", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distribution", default=None, help="fuzz only this distribution's ops")
    parser.add_argument("--report", default=None, help="write the full JSON report here")
    parser.add_argument("--show", type=int, default=25, help="how many failing call sites to print")
    options = parser.parse_args(argv)
    summary = run(options.calls, options.seed, options.distribution)
    print(f"{summary['calls']} calls over {summary['targets']} targets in {summary['seconds']} s "
          f"(seed {summary['seed']})")
    for cls, n in summary["counts"].items():
        print(f"  {cls:24} {n:7}  {100 * n / max(summary['calls'], 1):6.2f}%")
    for key, n in summary["deviations"].items():
        print(f"    deviation {key:20} {n}")
    print(f"  distinct obscure locations: {len(summary['obscure_locations'])}")
    for record in summary["failures"][:options.show]:
        print(f"  [{record['cls']}] x{record['count']} {record['call']}")
        print(f"      {record.get('kitty_error') or record.get('why') or ''} {record.get('location', '')}"
              f" {record.get('torch_error', '')[:100]}")
    if options.report:
        with open(options.report, "w") as f:
            json.dump(summary, f, indent=1, default=str)
    print("PASSED" if summary["passed"] else "FAILED")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
