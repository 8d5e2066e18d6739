"""The op call path: operands in, output tensor (and backward node) out.

This is the hot path. Bindings call ``apply`` / ``apply_inplace`` directly with the op class and a
tuple of operands; nothing here inspects signatures or calls plugin hooks.
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _tracing, _views
from ._dtypes import DEFAULT_DTYPE, result_dtype
from ._engine import ONE_INPUT, UNCOUNTED, Node, Observer, accumulator, init_node, store_snapshot
from ._grad_mode import GRAD_ENABLED
from ._tensor import Tensor, make_tensor

if TYPE_CHECKING:
    from ._op import Op

EMPTY: dict[Any, Any] = {}
NUMBERS = (int, float, bool)
_AxisError = np.exceptions.AxisError
# What a forward's NumPy or Python code raises on bad input; retyped by ``_forward_error``.
_FORWARD_ERRORS = (ValueError, TypeError, IndexError, AttributeError, KeyError)
_new = object.__new__  # for Tensor
# For records: object.__new__ itself in the pure build; the extension type's in the compiled one
# (object.__new__ refuses subclasses of extension types).
_new_node = Node.__new__


class UnsupportedOperand(TypeError):
    """An operand of a type no op accepts; operators turn it into ``NotImplemented``."""


def sequence(op: type[Op], tensors: Any) -> tuple[Any, ...]:
    """The operands of an op taking a sequence of tensors (``cat``, ``stack``), as a tuple."""
    if not isinstance(tensors, (Tensor, np.ndarray, str, bytes)):
        try:
            return tuple(tensors)
        except TypeError:
            pass
    raise TypeError(f"{op.name}(): argument 'tensors' must be a sequence of Tensors, not "
                    f"{type(tensors).__name__}.")


def apply(op: type[Op], operands: tuple[Any, ...], args: tuple[Any, ...] = (),
          kwargs: dict[str, Any] = EMPTY) -> Tensor | np.ndarray:
    """Runs ``op`` on ``operands`` and records a backward node when a gradient can flow."""
    arrays, requires_grad = _arrays(op, operands)
    node = op.__new__(op)
    out = _forward(op, node, operands, arrays, args, kwargs)
    if out.dtype.kind != "f":  # integer and boolean results (argmax, ...) are NumPy arrays, as comparisons are
        if _tracing.RECORDER is not None:  # kitty.compile records them (tracers draw tensors only)
            _tracing.RECORDER.op(op, operands, out, args, kwargs, "op")
        return out
    if requires_grad and op.differentiable and GRAD_ENABLED.get():
        result = make_tensor(out, True, node)
        if op.view and isinstance(operands[0], Tensor):
            _share(result, operands[0], op, args, kwargs)
            _views.register(result)
        _link(op, node, operands, out, counted=not op.view)
        if op.snapshots:
            store_snapshot(node, _versions(op, operands, result, ()))
    else:
        result = make_tensor(out)
        if op.view and isinstance(operands[0], Tensor):
            _share(result, operands[0], op, args, kwargs)
    if _tracing.ACTIVE:
        _tracing.notify(op, operands, result, args, kwargs)
    return result


def apply1(op: type[Op], x: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor | np.ndarray:
    """``apply`` for a one-input op that is differentiable and no view: the common case, inlined."""
    if not isinstance(x, Tensor):
        return apply(op, (x,), args, kwargs)
    node = _new_node(op)
    try:
        out = (node.forward(np, x._data, *args, **kwargs) if args or kwargs
               else node.forward(np, x._data))
    except _FORWARD_ERRORS as error:
        raise _forward_error(op, error, (x,)) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    result = _new(Tensor)
    result._data = out
    result._version = [0]
    if x._requires_grad and GRAD_ENABLED.get():
        result._requires_grad = True
        result._grad_fn = node
        fn = x._grad_fn
        if fn is None:
            fn = x._accumulator or accumulator(x)
        elif fn._lock >= 0:
            fn._lock += 1
        elif fn._lock == UNCOUNTED:
            fn._activate()
            fn._lock += 1
        node._next, node._next2 = fn, ONE_INPUT  # no tuple: Node.__slots__ says why
        node._lock = 0
        node._grad = None
        node._shape = out.shape
        node._dtype = out.dtype
        node._retained = None
        if not op.snapshots:
            node._vc, node._saved = None, ()
        elif op.saves:
            node._vc, node._vv = x._version, x._version[0]
            node._saved = (result._version, 0) if op.saves_output else ()
        else:
            node._vc, node._vv, node._saved = result._version, 0, ()
    else:
        result._requires_grad = False
        result._grad_fn = None
    if _tracing.ACTIVE:
        _tracing.notify(op, (x,), result, args, kwargs)
    return result


def apply2(op: type[Op], x: Any, y: Any, args: tuple[Any, ...],
           kwargs: dict[str, Any]) -> Tensor | np.ndarray:
    """``apply`` for a two-input op that is differentiable and no view: the common case, inlined."""
    a: Any  # an operand's array or number (annotations only: no code on the hot path)
    b: Any
    if isinstance(x, Tensor):
        a, x_grad = x._data, x._requires_grad
        if isinstance(y, Tensor):
            b, y_grad = y._data, y._requires_grad
            if op.broadcast and (a.dtype is not b.dtype or a.shape != b.shape and not _trailing(a.shape, b.shape)):
                return apply(op, (x, y), args, kwargs)  # promotion, or shapes _align must check
        elif (y.__class__ is float or y.__class__ is int) and op.broadcast:
            b, y_grad = y, False
        else:
            return apply(op, (x, y), args, kwargs)
    elif (x.__class__ is float or x.__class__ is int) and isinstance(y, Tensor) and op.broadcast:
        a, b, x_grad, y_grad = x, y._data, False, y._requires_grad
    else:
        return apply(op, (x, y), args, kwargs)
    node = _new_node(op)
    try:
        out = node.forward(np, a, b, *args, **kwargs) if args or kwargs else node.forward(np, a, b)
    except _FORWARD_ERRORS as error:
        raise _forward_error(op, error, (x, y)) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    result = _new(Tensor)
    result._data = out
    result._version = [0]
    if (x_grad or y_grad) and GRAD_ENABLED.get():
        result._requires_grad = True
        result._grad_fn = node
        if x_grad:
            fn_x = x._grad_fn
            if fn_x is None:
                fn_x = x._accumulator or accumulator(x)
            elif fn_x._lock >= 0:
                fn_x._lock += 1
            elif fn_x._lock == UNCOUNTED:
                fn_x._activate()
                fn_x._lock += 1
        else:
            fn_x = None
        if y_grad:
            fn_y = y._grad_fn
            if fn_y is None:
                fn_y = y._accumulator or accumulator(y)
            elif fn_y._lock >= 0:
                fn_y._lock += 1
            elif fn_y._lock == UNCOUNTED:
                fn_y._activate()
                fn_y._lock += 1
        else:
            fn_y = None
        node._next, node._next2 = fn_x, fn_y
        node._lock = 0
        node._grad = None
        node._shape = out.shape
        node._dtype = out.dtype
        node._retained = None
        if op.snapshots:  # inlined _versions and store_snapshot: numbers have no version
            first: list[int] | None
            rest: tuple[Any, ...]
            first, rest = None, ()
            for i, for_x, for_y in op.save_plan:
                if (for_x and x_grad) or (for_y and y_grad):  # a gradient that reads input i is needed
                    t = y if i else x
                    if t.__class__ is not float and t.__class__ is not int:
                        if first is None:
                            first = node._vc = t._version
                            node._vv = first[0]
                        else:
                            rest += (t._version, t._version[0])
            if op.saves_output is True or op.saves_output and (
                    (0 in op.saves_output and x_grad) or (1 in op.saves_output and y_grad)):
                if first is None:
                    first = node._vc = result._version
                    node._vv = 0
                else:
                    rest += (result._version, 0)
            if first is None:
                node._vc = None
            node._saved = rest
        else:
            node._vc, node._saved = None, ()
    else:
        result._requires_grad = False
        result._grad_fn = None
    if _tracing.ACTIVE:
        _tracing.notify(op, (x, y), result, args, kwargs)
    return result


def apply_inplace(op: type[Op], operands: tuple[Any, ...], args: tuple[Any, ...] = (),
                  kwargs: dict[str, Any] = EMPTY) -> Tensor:
    """Runs ``op`` and writes its output into the first operand, bumping its version.

    Atomic under interruption: everything is prepared first (output, node, new locks, rewritten view
    histories) without touching what the user holds; then the data and its version change together,
    with no call between them for a signal handler (``KeyboardInterrupt``) to run in, and the graph is
    committed from precomputed assignments, which an interrupted commit re-applies before re-raising.
    """
    target: Tensor = operands[0]
    grad_mode = GRAD_ENABLED.get()
    if grad_mode and target._requires_grad and target._grad_fn is None:
        raise _noted(RuntimeError("A leaf Variable that requires grad is being used in an in-place "
                                  "operation."), f"(in-place {op.name} on a tensor of shape {target.shape})")
    data, version = target._data, target._version
    if not data.flags.writeable:
        raise _noted(RuntimeError("The inplace operation cannot be applied to a read-only tensor. If this "
                                  "tensor is a view of another, you can try to do the same operation "
                                  "with it."), f"(in-place {op.name} on a tensor of shape {data.shape})")
    arrays, requires_grad = _arrays(op, operands)
    record = requires_grad and grad_mode and op.differentiable
    if record and target._base is not None:
        _views.check_view_inplace(op.name, target)
    copied: tuple[Any, ...] = ()
    if record and op.saves:
        # backward must see the inputs as they were, not as this op leaves them
        copied = tuple(i for i in op.saves
                       if isinstance(arrays[i], np.ndarray) and np.may_share_memory(arrays[i], data))
        for i in copied:
            arrays[i] = arrays[i].copy()
    node = op.__new__(op)
    if op.writes_input:  # the forward writes into the target's buffer: the version goes first
        version[0] += 1
        try:
            out = _forward(op, node, operands, arrays, args, kwargs)
        except Exception:
            version[0] -= 1
            raise
        bumped = version[0]
    else:
        out = _forward(op, node, operands, arrays, args, kwargs)
        bumped = version[0] + 1
    if out.shape != data.shape:
        raise _noted(RuntimeError(f"Output with shape {data.shape} doesn't match the broadcast shape "
                                  f"{out.shape}."), f"(in-place {op.name}, input shapes {_shapes(operands)})")
    if out.dtype != data.dtype:
        raise _noted(RuntimeError(f"Output with dtype '{data.dtype}' doesn't match the promotion dtype "
                                  f"'{out.dtype}'."),
                     f"(in-place {op.name}, input dtypes {_dtypes(operands)})")
    plan: list[Any] = []
    if record:
        locks: dict[Any, Any] = {}
        _link(op, node, operands, out, locks=locks)
        if op.snapshots:
            flat = list(_versions(op, operands, target, copied))
            for i in range(0, len(flat), 2):  # the target's own entry: its version after this op
                if flat[i] is version:
                    flat[i + 1] = bumped
            store_snapshot(node, tuple(flat))
        else:
            store_snapshot(node, ())
        previous = target._grad_fn
        if target._base is not None:
            _views.plan_rebase(target, node, plan, locks, bumped)
        else:
            if target._retains_grad:
                node._retained = Observer(target, bumped, retain=True)
            _views.plan_refresh(target, node, plan)
        plan += [(fn, "_lock", lock) for fn, lock in locks.values()]
        plan += [(target, "_grad_fn", node), (target, "_requires_grad", True)]
        if previous is not None:  # grad_fn._ctx.out of the node that made the target (the original's)
            plan.append((previous, "_out_ref", weakref.ref(target)))
            # the old node warns at backward if the tensor retains its gradient by then (the original)
            observer = previous._retained
            if observer is None:
                plan.append((previous, "_retained", Observer(target, version[0], retain=None)))
            elif observer.retain is False:
                plan.append((observer, "retain", None))
    try:
        version[0] = bumped  # these two statements make no call: a signal cannot split them
        if out is not data:
            data[...] = out
        for obj, attribute, value in plan:
            setattr(obj, attribute, value)
    except BaseException:
        if version[0] == bumped:  # the data changed: the graph must say so, whatever interrupted us
            for obj, attribute, value in plan:
                setattr(obj, attribute, value)
        raise
    if _tracing.ACTIVE:
        _tracing.notify(op, operands, target, args, kwargs, "in-place op")
    return target


def _trailing(shape: tuple[int, ...], other: tuple[int, ...]) -> bool:
    """Whether one shape ends the other (a bias and a batch: (32, 10) and (10,)): they broadcast."""
    n, m = len(shape), len(other)
    return shape[n - m:] == other if m <= n else other[m - n:] == shape


def _arrays(op: type[Op], operands: tuple[Any, ...]) -> tuple[list[Any], bool]:
    arrays = []
    requires_grad = False
    differentiable = op.differentiable
    for i, x in enumerate(operands):
        if isinstance(x, Tensor):
            arrays.append(x._data)
            if x._requires_grad and (differentiable is True or differentiable and differentiable[i]):
                requires_grad = True
        else:
            arrays.append(_coerce(op, x, i))
    if op.broadcast and len(arrays) > 1:
        _align(op, arrays, operands)
    return arrays, requires_grad


def _coerce(op: type[Op], value: Any, index: int) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"{op.name}(): argument {index} is a NumPy array of dtype '{value.dtype}'; "
                            "expected a numeric array.")
        return value if value.dtype.kind == "f" or op.broadcast else value.astype(DEFAULT_DTYPE)
    if op.broadcast:
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return value.item()  # torch treats NumPy scalars as Python numbers
        if isinstance(value, NUMBERS):
            return value
    raise _noted(UnsupportedOperand(f"Unsupported argument type(s) for {op.name}: 'Tensor' and "
                                    f"'{type(value).__name__}'."),  # the original's text
                 f"(argument {index} must be a Tensor{', a number' if op.broadcast else ''} "
                 "or a NumPy array)")


def _align(op: type[Op], arrays: list[Any], operands: tuple[Any, ...]) -> None:
    """Applies torch's dtype promotion and checks that shapes broadcast, in place on ``arrays``."""
    # Inputs without a gradient (where's condition) neither promote nor get cast.
    differentiable = op.differentiable
    typed = [a for i, a in enumerate(arrays) if isinstance(a, np.ndarray)
             and (differentiable in (True, False) or differentiable[i])]  # type: ignore[index]  # a tuple here
    if not typed:
        if not any(isinstance(a, np.ndarray) for a in arrays):
            raise TypeError(f"{op.name}(): at least one operand must be a Tensor.")
        for i, a in enumerate(arrays):  # only numbers besides a mask: the default dtype, as torch
            if not isinstance(a, np.ndarray):
                arrays[i] = DEFAULT_DTYPE.type(a)
        return
    first = typed[0]
    if all(a.dtype == first.dtype for a in typed) and first.dtype.kind == "f":
        dtype = first.dtype
    else:
        floats = [(a.dtype, a.ndim if op.weak_0d else 1) for a in typed if a.dtype.kind == "f"]
        dtype = result_dtype(floats) if floats else DEFAULT_DTYPE
        for i, a in enumerate(arrays):
            if isinstance(a, np.ndarray) and a.dtype != dtype \
                    and (differentiable in (True, False) or differentiable[i]):  # type: ignore[index]  # a tuple here
                arrays[i] = a.astype(dtype)
    shape = first.shape
    if any(a.shape != shape for a in typed):
        try:
            np.broadcast_shapes(*(a.shape for a in typed))
        except ValueError:
            raise RuntimeError(f"{op.name}(): shapes {_shapes(operands)} cannot be broadcast "
                               "together.") from None


def _forward(op: type[Op], node: Any, operands: tuple[Any, ...], arrays: list[Any], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> np.ndarray:
    try:
        out: np.ndarray = node.forward(np, *arrays, *args, **kwargs)
    except _FORWARD_ERRORS as error:
        raise _forward_error(op, error, operands) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    return out


def _noted(error: Exception, note: str) -> Exception:
    """``error`` (often with the original kittygrad's exact text) with a note naming op and inputs."""
    error.add_note(note)
    return error


def _forward_error(op: type[Op], error: Exception, operands: tuple[Any, ...]) -> Exception:
    """NumPy's and Python's errors from inside a forward, retyped as torch's, naming the op and inputs.

    An error the forward raised on purpose (its message names the op) passes through unchanged, apart
    from ValueError, which torch spells RuntimeError. An AttributeError or KeyError means an argument of
    the wrong type reached NumPy: a TypeError.
    """
    if isinstance(error, _AxisError):
        return IndexError(f"{op.name}(): {error} (input shapes {_shapes(operands)})")
    if isinstance(error, ValueError):
        return RuntimeError(f"{op.name}(): {error} (input shapes {_shapes(operands)}, "
                            f"dtypes {_dtypes(operands)})")
    message = str(error)
    if f"{op.name}(" in message or message.startswith("Dimension out of range"):  # deliberate texts
        return error
    kind = IndexError if isinstance(error, IndexError) else TypeError
    return kind(f"{op.name}(): {message.strip(chr(39))} (input shapes {_shapes(operands)}, "
                f"dtypes {_dtypes(operands)})")


def _link(op: type[Op], node: Any, operands: tuple[Any, ...], out: np.ndarray, counted: bool = True,
          locks: dict[Any, Any] | None = None) -> None:
    """Connects ``node`` to its inputs' nodes; an uncounted node (a view's) locks them at first use.

    With ``locks`` (an in-place op's plan) the inputs' new lock values go there, not to the nodes.
    """
    nexts: list[Any] = []
    differentiable = op.differentiable
    for i, x in enumerate(operands):
        if isinstance(x, Tensor) and x._requires_grad and (differentiable is True or differentiable[i]):  # type: ignore[index]  # False: no node
            fn = x._grad_fn
            if fn is None:
                fn = accumulator(x)
            elif locks is not None:
                _views.count(fn, locks)
            elif not counted:
                pass
            elif fn._lock >= 0:  # a consumed node stays consumed: reaching it raises
                fn._lock += 1
            elif fn._lock == UNCOUNTED:
                fn._activate()
                fn._lock += 1
            nexts.append(fn)
        else:
            nexts.append(None)
    init_node(node, tuple(nexts), out, 0 if counted else UNCOUNTED)


def _versions(op: type[Op], operands: tuple[Any, ...], output: Tensor,
              skip: tuple[Any, ...]) -> tuple[Any, ...]:
    """The version snapshot a node checks before running: flat (counter, version, counter, ...).

    With ``saves_for``, an input is checked only if an input whose gradient reads it requires grad.
    """
    saved: list[Any] = []
    needed_for = op.saves_for
    for i in op.saves:
        x = operands[i]
        if i in skip or not isinstance(x, Tensor):
            continue
        if needed_for is not None and not any(
                isinstance(operands[j], Tensor) and operands[j]._requires_grad for j in needed_for[i]):
            continue
        saved += (x._version, x._version[0])
    needed = op.saves_output
    if needed is not True and needed:  # only some inputs' gradients read the output
        needed = any(isinstance(operands[j], Tensor) and operands[j]._requires_grad for j in needed)
    if needed:
        saved += (output._version, output._version[0])
    return tuple(saved)


def _share(view: Tensor, base: Tensor, op: type[Op], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Makes ``view`` share ``base``'s version counter and remember how it derives from the root base."""
    view._version = base._version
    if base._base is None:
        view._base, view._view_chain = base, ((op, args, kwargs),)
    elif base._view_chain is not None:
        view._base, view._view_chain = base._base, base._view_chain + ((op, args, kwargs),)
    else:  # a view of a detached tensor: no chain to replay
        view._base = base._base


def _shapes(operands: tuple[Any, ...]) -> str:
    return ", ".join(str(getattr(x, "shape", type(x).__name__)) for x in operands)


def _dtypes(operands: tuple[Any, ...]) -> str:
    return ", ".join(str(getattr(x, "dtype", type(x).__name__)) for x in operands)
