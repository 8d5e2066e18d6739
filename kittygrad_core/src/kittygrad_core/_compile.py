"""``kitty.compile``: record a function's ops once per input signature, then replay them on NumPy arrays.

The first call for a signature runs the function eagerly with a ``Recorder`` installed
(``_tracing.RECORDER``): every op reports its record class, operands and options, the fast backward pass
reports the order in which it ran the nodes and summed and delivered their gradients
(``_engine._run_recorded``), and replayable calls (an optimizer's ``step()``, ``zero_grad()``) report
themselves through ``extend.replayable``. Later calls with the same signature run that program: each
op's ``forward`` on a fresh record instance, each backward rule in the recorded order with the same
additions in the same operand order, the leaves' ``.grad`` filled as the engine fills them, and the
replayable calls called again. Anything that cannot be replayed faithfully makes the signature run
eagerly, with one ``UserWarning`` naming what and where (docs/compile.md).
"""
from __future__ import annotations

import builtins
import functools
import os
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _tracing
from ._dispatch import _arrays
from ._engine import CONSUMED, _conform, _given_once, edges, init_node
from ._grad_mode import GRAD_ENABLED
from ._tensor import Tensor, make_tensor

#: Signatures kept per compiled function; the oldest is dropped (and a warning given once) beyond it.
CACHE_SIZE = 16
_SCALARS = (int, float, bool, str, bytes, type(None), np.dtype)


class Unsupported(Exception):
    """Raised inside the recorder to abandon a recording (caught by ``compile``)."""


_OWN = ("kittygrad_core", "kittygrad_nn", "kittygrad_ops", "kittygrad_viz", os.sep + "kittygrad" + os.sep)


def _user_line() -> str:
    """``file:line`` of the innermost frame outside kittygrad's own packages (where the user's code is)."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith("<kittygrad") and not any(part in name for part in _OWN):
            return f"{name}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"


class Recorder:
    """Builds the replay program of one call (see the module docstring)."""

    def __init__(self, inputs: list[Any]) -> None:
        self.thread = threading.get_ident()
        self.failure: str | None = None
        self.program: list[tuple[Any, ...]] = []
        self.n_regs = 0
        self.regs: dict[int, int] = {}  # id(tensor or input array) -> register
        self.keep: list[Any] = []  # keeps the ids above valid while recording
        self.externals: list[tuple[int, Any]] = []  # (register, tensor) loaded from the tensor at replay
        self.nodes: dict[int, int] = {}  # id(node) -> index of the op whose fresh record replays it
        self.constants: set[int] = set()  # ids of arrays made from Python values (kept in keep)
        self.masks: list[tuple[int, int]] = []  # (input, its count of True values) that shapes depend on
        self.n_ops = 0
        self.suspended = 0
        self.n_inputs = len(inputs)
        self.inputs = inputs
        for x in inputs:
            self._new_reg(x)

    # -- helpers
    def fail(self, what: str) -> None:
        """Gives the recording up (the call goes on eagerly: nothing is raised into the user's code)."""
        if self.failure is None:
            self.failure = f"{what} at {_user_line()}"

    def _new_reg(self, obj: Any) -> int:
        reg = self.regs[id(obj)] = self.n_regs
        self.n_regs += 1
        self.keep.append(obj)
        if isinstance(obj, Tensor):  # an op's option may be the tensor's array itself (an index)
            self.regs.setdefault(id(obj._data), reg)
            self.keep.append(obj._data)
        return reg

    def _option(self, value: Any) -> Any:
        """``value`` (an op's option) with its tensors and recorded arrays replaced by ``_Reg`` objects."""
        cls = value.__class__
        if cls is tuple or cls is list:
            items = [self._option(v) for v in value]
            return cls(items) if any(a is not b for a, b in zip(items, value)) else value
        if cls is dict:
            entries = {k: self._option(v) for k, v in value.items()}
            return entries if any(entries[k] is not v for k, v in value.items()) else value
        if isinstance(value, Tensor):
            reg = self.reg_of(value)
            if reg < 0:
                raise Unsupported("a view made outside the compiled function")
            return _Reg(reg, True)
        if isinstance(value, np.ndarray):
            found = self.regs.get(id(value))
            if found is not None:
                return _Reg(found, False)
            if id(value) not in self.constants:
                raise Unsupported("a NumPy array that is not an argument of the compiled function")
        return value

    def _guard_masks(self, name: str, options: Any) -> bool:
        """For an op whose output shape depends on the boolean masks among its options (an index): a
        mask that is an argument of the function is guarded (its count of True values must be the same
        at a replay, else the call records again); one made inside the function cannot be (False, and
        the recording fails)."""
        pending = [options]
        while pending:
            value = pending.pop()
            if value.__class__ in (tuple, list):
                pending.extend(value)
            elif value.__class__ is dict:
                pending.extend(value.values())
            elif isinstance(value, np.ndarray) and value.dtype.kind == "b":
                reg = self.regs.get(id(value))
                if reg is None or reg >= self.n_inputs or self.inputs[reg] is not value:
                    self.fail(f"op '{name}' with a boolean mask made inside the compiled function (the "
                              "result's shape depends on its values)")
                    return False
                self.masks.append((reg, int(np.count_nonzero(value))))
        return True

    def derived(self, result: Any, fn: Callable[..., Any], source: Any) -> None:
        """Notes that array ``result`` is ``fn(array of source)`` (an index converted from a tensor): replay
        computes it again from the source's current data. Made from a Python value, it is a constant."""
        if not self.active() or self.failure is not None:
            return
        if isinstance(source, Tensor):
            reg = self.reg_of(source)
        elif isinstance(source, np.ndarray):
            reg = self.regs.get(id(source), -1)
        else:
            if _holds_arrays(source):
                self.fail("an index given as a list of tensors or arrays")
            else:
                self.constants.add(id(result))
                self.keep.append(result)
            return
        if reg < 0:
            self.fail("a NumPy array used as an index that is not an argument of the compiled function")
            return
        out = self._new_reg(result)
        self.program.append(("d", out, fn, reg))

    def reg_of(self, tensor: Any) -> int:
        reg = self.regs.get(id(tensor))
        if reg is None:
            if tensor._base is not None:
                self.fail(f"a view made outside the compiled function (shape {tuple(tensor.shape)})")
                return -1
            reg = self._new_reg(tensor)
            self.externals.append((reg, tensor))
        return reg

    def active(self) -> bool:
        return self.suspended == 0 and threading.get_ident() == self.thread

    # -- what the library reports
    def op(self, op: Any, operands: tuple[Any, ...], output: Any, args: tuple[Any, ...],
           kwargs: dict[str, Any], kind: str) -> None:
        if not self.active() or self.failure is not None:
            return
        name = getattr(op, "name", getattr(op, "__name__", "?"))
        inplace = kind == "in-place op"
        if kind != "op" and not inplace:
            return self.fail(f"{kind} '{name}'")
        if getattr(op, "replayable", True) is False:
            return self.fail(f"op '{name}' (its plugin declares it not replayable)")
        try:
            templates = self._option(args), self._option(kwargs)
        except Unsupported as error:
            return self.fail(f"op '{name}' with {error} among its options")
        if getattr(op, "shape_from_options", False) and not self._guard_masks(name, (args, kwargs)):
            return None
        args, kwargs = templates
        specs: list[Any] = []
        raw: list[Any] = []
        for x in operands:
            if isinstance(x, Tensor):
                reg = self.reg_of(x)
                if reg < 0:
                    return None
                specs.append(reg)
                raw.append(x._data)
            elif isinstance(x, np.ndarray):
                found = self.regs.get(id(x))
                if found is None and id(x) not in self.constants:
                    return self.fail(f"op '{name}' with a NumPy array operand that is not an argument "
                                     "of the compiled function")
                specs.append(found)
                raw.append(x)
            else:
                specs.append(None)
                raw.append(x)
        # Whether the op's forward saw the operands' arrays themselves, or coerced / promoted copies
        # (which replay re-derives with the dispatcher's own rules, checked here to derive the same).
        arrays, _ = _arrays(op, operands)
        direct = all(a is r for a, r in zip(arrays, raw))
        if not direct:
            again, _ = _arrays(op, tuple(raw))
            if any(type(a) is not type(b) or getattr(a, "dtype", None) != getattr(b, "dtype", None)
                   or getattr(a, "shape", None) != getattr(b, "shape", None) for a, b in zip(arrays, again)):
                return self.fail(f"op '{name}' (operand conversion)")
        inplace_step = None
        if inplace:
            inplace_step = self._inplace(op, name, operands, arrays)
            if inplace_step is None:
                return None
            out_reg = specs[0]
            node = output._grad_fn
            if node is not None and node.__class__ is op and id(node) not in self.nodes:
                self.nodes[id(node)] = self.n_ops
                self.keep.append(node)
                mask = tuple(None if fn is None else True for fn in node.next_functions)
            else:
                mask = None
        elif isinstance(output, Tensor):
            if output._base is not None and output._view_chain is None:
                return self.fail(f"op '{name}' (a view of a detached tensor)")
            out_reg = self._new_reg(output)
            node = output._grad_fn
            if node is not None and node.__class__ is op:
                self.nodes[id(node)] = self.n_ops
                self.keep.append(node)
                # rules may read needs_input_grad: the replayed record links to markers, not nodes
                mask = tuple(None if fn is None else True for fn in node.next_functions)
            else:
                mask = None
        elif isinstance(output, np.ndarray):  # an integer or boolean result, given back as a NumPy array
            out_reg, mask = self._new_reg(output), None
        else:  # a NumPy scalar: no identity to find it by (np.True_ is one object)
            return self.fail(f"op '{name}' returning a {type(output).__name__}")
        constants = tuple(None if s is not None else x for s, x in zip(specs, raw))
        self.program.append(("f", op, tuple(specs), constants, args, kwargs, direct, out_reg, self.n_ops,
                             mask, inplace_step))
        self.n_ops += 1
        return None

    def _inplace(self, op: Any, name: str, operands: tuple[Any, ...],
                 arrays: list[Any]) -> tuple[tuple[int, ...], int | None] | None:
        """What a replay of the in-place op ``op`` on ``operands[0]`` must repeat beyond its forward: the
        operands copied before it (they share memory with the target and the backward reads them) and
        the input tensor whose version counter it bumps (None: a tensor made inside the function). None
        (and the recording fails) if it cannot be replayed faithfully."""
        target = operands[0]
        version = target._version
        if any(t._version is version for _, t in self.externals) or id(target) not in self.regs:
            self.fail(f"in-place '{name}' on a tensor the compiled function did not receive as an argument "
                      "(a parameter, a constant)")
            return None
        owner = next((i for i in range(self.n_inputs)
                      if isinstance(self.inputs[i], Tensor) and self.inputs[i]._version is version),
                     None)
        node = target._grad_fn
        recorded = node is not None and node.__class__ is op and id(node) not in self.nodes
        if target._base is not None and target._requires_grad:
            self.fail(f"in-place '{name}' on a view that requires grad (its base's history is rewritten)")
            return None
        if owner is not None and recorded:
            self.fail(f"in-place '{name}' giving an argument of the compiled function a history")
            return None
        data = target._data
        copied = tuple(i for i in (op.saves if recorded else ())
                       if isinstance(arrays[i], np.ndarray) and np.may_share_memory(arrays[i], data))
        return copied, owner

    def read(self, what: str) -> None:
        if self.active():
            self.fail(what)

    def set_grad(self, tensor: Any, value: Any) -> None:
        if not self.active():
            return
        if value is not None:
            self.fail("assigning a tensor to .grad")
            return
        reg = self.reg_of(tensor)
        if reg >= 0:
            self.program.append(("g", reg))

    def unsupported(self, what: str) -> None:
        if self.active():
            self.fail(what)

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        if self.active():
            self.program.append(("c", fn, args))

    def node_op(self, node: Any) -> int:
        """The op index of a node the backward pass runs; -1 (and the recording fails) if unknown."""
        index = self.nodes.get(id(node))
        if index is None:
            self.fail(f"backward through {node._describe()}, made outside the compiled function or not "
                      "by a registered op")
            return -1
        return index

    def observer(self, observer: Any) -> None:
        """A node the backward runs has an observer: replayable only if it does nothing (the one an
        in-place op leaves on the node it moved its tensor away from, the tensor retaining no gradient)."""
        tensor = observer.ref()
        if observer.hooks or observer.retain or (
                observer.retain is None and tensor is not None and tensor._retains_grad):
            self.fail("a tensor hook or retain_grad()")

    def leaf(self, tensor: Any) -> int:
        if tensor._hooks is not None:
            self.fail("a tensor hook")
            return -1
        return self.reg_of(tensor)

    def emit(self, step: tuple[Any, ...]) -> None:
        self.program.append(step)

    def value(self) -> int:
        reg = self.n_regs
        self.n_regs += 1
        return reg


class _Compiled:
    """One recorded signature: its program, ready to run on new inputs."""

    __slots__ = ("replay", "external_tensors", "guards", "masks", "outputs", "failure")

    def __init__(self, recorder: Recorder | None, outputs: Any, failure: str | None = None) -> None:
        self.failure = failure
        if recorder is None:
            return
        self.replay = _generate(recorder, outputs)
        self.external_tensors = tuple(t for _, t in recorder.externals)
        self.guards = [(t, t._data.shape, t._data.dtype, t._requires_grad, t._grad_fn is None)
                       for _, t in recorder.externals]
        self.outputs = outputs
        self.masks = tuple(recorder.masks)

    def valid(self, inputs: list[Any]) -> bool:
        for i, count in self.masks:
            if np.count_nonzero(inputs[i]) != count:
                return False
        for t, shape, dtype, requires_grad, leaf in self.guards:
            if t._data.shape != shape or t._data.dtype != dtype or t._requires_grad != requires_grad \
                    or (t._grad_fn is None) != leaf or t._hooks is not None:
                return False
        return True

    def run(self, inputs: list[Any]) -> Any:
        values, tensors = self.replay(inputs, self.external_tensors)
        return _build(self.outputs, values, tensors)


def _generate(recorder: Recorder, outputs: Any) -> Callable[..., Any]:
    """The program as one Python function of straight-line code: registers are locals, every record,
    option and target shape a global of its own (no interpretation left at replay), each register
    deleted after its last use (gradients are freed as the engine frees them)."""
    ns: dict[str, Any] = {"np": np, "ndarray": np.ndarray, "asarray": np.asarray, "array": np.array,
                          "np_add": np.add, "add_reduce": np.add.reduce, "arrays": _arrays, "conform": _conform,
                          "given_once": _given_once,
                          "make_tensor": make_tensor}
    has_tensor: set[int] = set()
    steps: list[tuple[list[str], set[int]]] = []  # the lines of each step and the registers it reads
    head = []
    for i in range(recorder.n_inputs):
        x = recorder.inputs[i]
        if isinstance(x, Tensor):
            head += [f"t{i} = inputs[{i}]", f"r{i} = t{i}._data"]
        else:
            head += [f"r{i} = t{i} = inputs[{i}]"]
        has_tensor.add(i)
    for k, (reg, _) in enumerate(recorder.externals):
        head += [f"t{reg} = externals[{k}]", f"r{reg} = t{reg}._data"]
        has_tensor.add(reg)
    for n, step in enumerate(recorder.program):
        kind = step[0]
        lines: list[str] = []
        reads: set[int] = set()
        if kind == "f":
            _, op, specs, constants, args, kwargs, direct, out, index, mask, inplace = step
            ns[f"O{index}"] = op
            operands = []
            for j, (spec, constant) in enumerate(zip(specs, constants)):
                if spec is None:
                    ns[f"C{index}_{j}"] = constant
                    operands.append(f"C{index}_{j}")
                else:
                    operands.append(f"r{spec}")
                    reads.add(spec)
            listed = "(" + "".join(o + ", " for o in operands) + ")"
            extra = ""
            if args:
                extra += ", *" + _expression(args, f"A{index}", ns, reads, has_tensor)
            if kwargs:
                extra += ", **" + _expression(kwargs, f"K{index}", ns, reads, has_tensor)
            lines.append(f"n{index} = O{index}.__new__(O{index})")
            if mask is not None:  # the edges' slots directly (Node.next_functions' setter costs a call)
                ns[f"M{index}"], ns[f"M{index}b"] = edges(mask)
                lines.append(f"n{index}._next = M{index}; n{index}._next2 = M{index}b")
            if inplace is not None:  # as apply_inplace: copies, forward, the target's data and version
                copied, owner = inplace
                lines.append(f"a = [{', '.join(operands)}]" if direct else f"a = arrays(O{index}, {listed})[0]")
                lines += [f"a[{i}] = a[{i}].copy()" for i in copied]
                lines += [f"x = n{index}.forward(np, *a{extra})",
                          "if x.__class__ is not ndarray: x = asarray(x)",
                          f"if x is not r{out}: r{out}[...] = x"]
                if owner is not None:
                    lines.append(f"t{owner}._version[0] += 1")
                lines.append("a = x = None")
                reads.add(out)
            elif direct:
                lines.append(f"r{out} = n{index}.forward(np{''.join(', ' + o for o in operands)}{extra})")
            else:
                lines.append(f"r{out} = n{index}.forward(np, *arrays(O{index}, {listed})[0]{extra})")
            if inplace is None:
                lines.append(f"if r{out}.__class__ is not ndarray: r{out} = asarray(r{out})")
            if mask is None:
                lines.append(f"n{index} = None")
        elif kind == "b":
            _, index, grad, outs, fresh = step
            reads.add(grad)
            lines += [f"g = n{index}.backward(np, r{grad})",
                      "if g.__class__ is not tuple: g = (g,)"]
            for j, target_spec in enumerate(outs):
                if target_spec is None:
                    continue
                where, reg, target = target_spec
                name = f"T{index}_{j}"
                ns[name], ns[name + "s"], ns[name + "d"] = target, target._shape, target._dtype
                lines.append(f"x = g[{j}]")
                if target.summed is not None:  # a bias's gradient: _conform's sum, without its call
                    ns[name + "f"] = target.summed
                    lines.append(f"if x.__class__ is ndarray and x.shape == {name}f and x.dtype is {name}d: "
                                 "x = add_reduce(x, 0)")
                lines.append(f"if x.__class__ is not ndarray or x.shape != {name}s or x.dtype is not {name}d: "
                             f"x = conform(n{index}, {j}, x, {name})")
                if where == "leaf":
                    # given_once(x, g) is, for a rule of two inputs, "the other gradient is not x"
                    once = f"g[{1 - j}] is not x" if len(outs) == 2 else "given_once(x, g)"
                    adopt = (f"x is not r{grad} and x.base is None and x.flags.writeable and {once}"
                             if fresh else "False")
                    lines += [f"held = t{reg}._grad",
                              "if held is None:",
                              f"    t{reg}._grad = make_tensor(x) if {adopt} else make_tensor(x.copy())",
                              "else:",
                              "    np_add(held._data, x, out=held._data)"]
                else:
                    lines.append(f"r{reg} = x")
            lines += [f"n{index} = None", "g = x = held = None"]
        elif kind == "d":  # an array derived from a register (an index converted from a tensor)
            ns[f"D{n}"] = step[2]
            lines.append(f"r{step[1]} = D{n}(r{step[3]})")
            reads.add(step[3])
        elif kind == "+":
            lines.append(f"r{step[1]} = r{step[2]} + r{step[3]}")
            reads |= {step[2], step[3]}
        elif kind == "1":
            lines.append(f"r{step[1]} = array(1, r{step[2]}.dtype)")  # the 0-d root's implicit gradient
            reads.add(step[2])
        elif kind == "g":
            if step[1] in has_tensor:
                lines.append(f"t{step[1]}._grad = None")
        else:  # "c"
            ns[f"F{n}"], ns[f"FA{n}"] = step[1], step[2]
            lines.append(f"F{n}(*FA{n})")
        steps.append((lines, reads))
    kept = set(_regs_of(outputs))
    last: dict[int, int] = {}
    for n, (_, reads) in enumerate(steps):
        for reg in reads:
            last[reg] = n
    body = list(head)
    for n, (lines, reads) in enumerate(steps):
        body += lines
        dead = sorted(reg for reg in reads if last[reg] == n and reg not in kept)
        if dead:
            body.append("del " + ", ".join(f"r{reg}" for reg in dead))
    values = ", ".join(f"{reg}: r{reg}" for reg in sorted(kept))
    tensors = ", ".join(f"{reg}: t{reg}" for reg in sorted(kept & has_tensor))
    body.append(f"return {{{values}}}, {{{tensors}}}")
    source = "def replay(inputs, externals):\n    held = None\n" + "".join(f"    {line}\n" for line in body)
    code = builtins.compile(source, f"<kitty.compile of {len(recorder.program)} steps>", "exec")
    exec(code, ns)
    return ns["replay"]  # type: ignore[no-any-return]


class _Reg:
    """Stands for a register in a recorded op's options: its array, or (``tensor``) a tensor of it."""

    __slots__ = ("reg", "tensor")

    def __init__(self, reg: int, tensor: bool) -> None:
        self.reg, self.tensor = reg, tensor


def _holds_arrays(value: Any) -> bool:
    if isinstance(value, (Tensor, np.ndarray)):
        return True
    return isinstance(value, (tuple, list)) and any(_holds_arrays(v) for v in value)


def _has_regs(value: Any) -> bool:
    if value.__class__ is _Reg:
        return True
    if value.__class__ in (tuple, list):
        return any(_has_regs(v) for v in value)
    return value.__class__ is dict and any(_has_regs(v) for v in value.values())


def _expression(value: Any, name: str, ns: dict[str, Any], reads: set[int], has_tensor: set[int]) -> str:
    """Python source building ``value`` (an op's options) at replay: registers read where ``_Reg`` objects
    stand, the rest globals of the generated function (``name``, ``name_0``, ...)."""
    if not _has_regs(value):
        ns[name] = value
        return name
    if value.__class__ is _Reg:
        reg = value.reg
        if value.tensor and reg in has_tensor:
            return f"t{reg}"
        reads.add(reg)
        return f"make_tensor(r{reg})" if value.tensor else f"r{reg}"
    if value.__class__ is dict:
        return "{" + "".join(f"{key!r}: {_expression(v, f'{name}_{j}', ns, reads, has_tensor)}, "
                             for j, (key, v) in enumerate(value.items())) + "}"
    items = "".join(_expression(v, f"{name}_{j}", ns, reads, has_tensor) + ", " for j, v in enumerate(value))
    return f"({items})" if value.__class__ is tuple else f"[{items}]"


def _regs_of(spec: Any) -> list[int]:
    if spec[0] == "seq":
        return [reg for s in spec[2] for reg in _regs_of(s)]
    return [] if spec[0] == "none" else [spec[1]]


def _build(spec: Any, regs: list[Any], tensors: list[Any]) -> Any:
    kind = spec[0]
    if kind == "none":
        return None
    if kind == "seq":
        items = [_build(s, regs, tensors) for s in spec[2]]
        return spec[1](items)
    if kind == "same":
        return tensors[spec[1]]
    if kind == "array":
        return regs[spec[1]]
    _, reg, requires_grad, node_class = spec
    data = regs[reg]
    if node_class is None:
        return make_tensor(data, requires_grad)
    node = node_class.__new__(node_class)  # stands for the consumed node eager leaves on the tensor
    init_node(node, (), data, CONSUMED)
    return make_tensor(data, True, node)


def _give_up(recorder: Recorder, what: str) -> None:
    recorder.fail(what)
    raise Unsupported(what)


def _output_spec(value: Any, recorder: Recorder, n_inputs: int) -> Any:
    if value is None:
        return ("none",)
    if isinstance(value, (tuple, list)) and type(value) in (tuple, list):
        return ("seq", type(value), [_output_spec(v, recorder, n_inputs) for v in value])
    if isinstance(value, np.ndarray):
        reg = recorder.regs.get(id(value))
        if reg is None:
            _give_up(recorder, "returning a NumPy array not made by an op")
        return ("array", reg)
    if not isinstance(value, Tensor):
        _give_up(recorder, f"returning a {type(value).__name__} (only tensors, None and tuples or lists of "
                      "them are replayed)")
    reg = recorder.regs.get(id(value))
    if reg is None or reg < n_inputs or any(r == reg for r, _ in recorder.externals):
        if reg is None:
            _give_up(recorder, "returning a tensor not made by an op")
        return ("same", reg)
    if value._base is not None:
        _give_up(recorder, "returning a view")
    if value._version[0] != 0:
        _give_up(recorder, "returning a tensor modified in place")
    node = value._grad_fn
    if node is not None:
        if node._lock != CONSUMED:
            _give_up(recorder, "returning a tensor whose graph no backward() inside the function consumed")
        return ("tensor", reg, True, type(node))
    return ("tensor", reg, value._requires_grad, None)


def _key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """The input signature: None if an argument cannot be part of one (the call runs eagerly)."""
    key: list[Any] = [GRAD_ENABLED.get()]
    seen: dict[int, int] = {}
    for position, x in enumerate((*args, *kwargs.values())):
        if isinstance(x, Tensor):
            key.append(("T", x._data.shape, x._data.dtype.str, x._requires_grad, x._grad_fn is None,
                        x._base is None, seen.setdefault(id(x), position)))
        elif isinstance(x, np.ndarray):
            key.append(("A", x.shape, x.dtype.str, seen.setdefault(id(x), position)))
        elif isinstance(x, _SCALARS):
            key.append((type(x), x))
        else:
            key.append(("id", id(x)))
    key.append(tuple(kwargs))
    return tuple(key)


class CompiledFunction:
    """The callable ``kitty.compile`` returns: ``fn`` recorded per input signature and replayed."""

    def __init__(self, fn: Callable[..., Any], cache_size: int = CACHE_SIZE) -> None:
        self.fn = fn
        self.name: str = getattr(fn, "__qualname__", None) or repr(fn)
        self.cache: OrderedDict[Any, tuple[_Compiled, list[Any]]] = OrderedDict()
        self.cache_size = cache_size
        self.evictions = 0
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if _tracing.ACTIVE:  # tracers (a graph drawing, anomaly mode) must see the ops: eager
            if _tracing.RECORDER is not None:  # nested: the outer recording gives up
                _tracing.RECORDER.unsupported(f"a call of the compiled function '{self.name}'")
            return self.fn(*args, **kwargs)
        key = _key(args, kwargs)
        entry = self.cache.get(key)
        inputs = [x for x in (*args, *kwargs.values()) if isinstance(x, (Tensor, np.ndarray))]
        if entry is not None:
            compiled, _held = entry
            if compiled.failure is not None:
                return self.fn(*args, **kwargs)
            if compiled.valid(inputs):
                self.cache.move_to_end(key)
                return compiled.run(inputs)
        return self._record(key, args, kwargs, inputs)

    def _record(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], inputs: list[Any]) -> Any:
        recorder = Recorder(inputs)
        held = [x for x in (*args, *kwargs.values()) if not isinstance(x, (Tensor, np.ndarray) + _SCALARS)]
        _tracing.RECORDER = recorder
        _tracing.ACTIVE += 1
        outputs: Any = None
        try:
            result = self.fn(*args, **kwargs)  # eagerly: the recorder never raises into it
            failure = recorder.failure
            if failure is None:
                try:
                    outputs = _output_spec(result, recorder, len(inputs))
                except Unsupported:
                    failure = recorder.failure
        finally:
            _tracing.ACTIVE -= 1
            _tracing.RECORDER = None
        if failure is None:
            compiled = _Compiled(recorder, outputs)
        else:
            warnings.warn(f"kitty.compile: '{self.name}' runs eagerly for this input signature: "
                          f"{failure} cannot be replayed.", UserWarning, stacklevel=3)
            compiled = _Compiled(None, None, failure)
        if key in self.cache:
            del self.cache[key]
        self.cache[key] = (compiled, held)
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
            self.evictions += 1
            if self.evictions == 1:
                warnings.warn(f"kitty.compile: '{self.name}' has been called with more than "
                              f"{self.cache_size} input signatures; the oldest are recorded again when "
                              "they come back (shapes or dtypes keep changing?).", UserWarning, stacklevel=3)
        return result


def compile(fn: Callable[..., Any] | None = None, *, cache_size: int = CACHE_SIZE) -> Any:
    """Returns ``fn`` compiled: recorded on its first call for each input signature, then replayed.

    The signature is the shapes, dtypes and ``requires_grad`` of the tensor (and NumPy array) arguments,
    the values of number and string arguments, the identity of other arguments, and the grad mode.
    Replays give bit-identical outputs, ``.grad``, parameter updates and version counters (in-place ops
    on arguments and on tensors made inside included). What cannot be replayed (a value read into
    Python, an in-place op on a parameter, a hook, ``retain_graph``/``create_graph``, ...) makes that
    signature run eagerly, with one warning. Usable as ``@compile`` and ``@compile(cache_size=...)``.
    See docs/compile.md.
    """
    if fn is None:
        return functools.partial(compile, cache_size=cache_size)
    if not callable(fn):
        raise TypeError(f"compile(): expected a callable, got {type(fn).__name__}.")
    return CompiledFunction(fn, cache_size)


def replayable(fn: Callable[..., Any], *args: Any) -> Any:
    """Calls ``fn(*args)``; while ``kitty.compile`` records, the call is recorded as one step, made again
    (with the same arguments) at replay, and the ops and value reads inside it are not recorded."""
    recorder = _tracing.RECORDER
    if recorder is None or not recorder.active():
        return fn(*args)
    recorder.call(fn, args)
    recorder.suspended += 1
    try:
        return fn(*args)
    finally:
        recorder.suspended -= 1

