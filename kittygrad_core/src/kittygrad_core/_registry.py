"""The op registry: validates op records and binds them as module functions and Tensor methods.

Binding generates, once per op, plain Python functions whose bodies call the dispatcher directly,
so an op call does no signature binding and no plugin-hook call.
"""
from __future__ import annotations

import functools
import inspect
import re
import sys
import warnings
from collections.abc import Iterator
from types import FunctionType, ModuleType
from typing import Any

from . import _dispatch, _entry_points
from ._composite import Composite
from ._op import Op

STANDARD_DISTRIBUTION = "kittygrad-ops"
#: The entry-point group in which a distribution declares the public names its ops bind.
PROVIDES_GROUP = "kittygrad.provides"

# Python's operator protocol (names of the language, not of ops): Tensor gets a stub for each until an
# op binds it, so ``tensor + 1`` without a plugin says who provides ``+`` instead of Python's bare error.
_BINARY = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
           "matmul": "@", "and": "&", "or": "|", "xor": "^", "lshift": "<<", "rshift": ">>"}
_UNARY = {"neg": "unary -", "abs": "abs()", "invert": "unary ~"}
OPERATOR_SYMBOLS = {
    **{f"__{name}__": symbol for name, symbol in _BINARY.items()},
    **{f"__r{name}__": symbol for name, symbol in _BINARY.items()},
    **{f"__i{name}__": f"{symbol}=" for name, symbol in _BINARY.items()},
    **{f"__{name}__": symbol for name, symbol in _UNARY.items()},
    "__getitem__": "[] (indexing)", "__setitem__": "[]= (index assignment)",
}


class OverrideWarning(UserWarning):
    """An op registered with ``override=True`` replaced another plugin's op or binding."""


class MissingOpError(NotImplementedError, AttributeError):
    """A name that an installed distribution declares was used, but no loaded plugin provides it.

    Also an ``AttributeError``, so that ``hasattr`` answers ``False``.
    """


def declarations(entry_points: Any = None) -> dict[str, list[tuple[str, str]]]:
    """Who declares which public name: ``{name: [(op, distribution), ...]}``, read from the
    ``kittygrad.provides`` entry points (or ``entry_points``). Nothing is imported: the object part
    of each entry (after ``:``) is the op's name and is never loaded.
    """
    if entry_points is None:
        entry_points = _entry_points.entry_points(PROVIDES_GROUP)
    found: dict[str, list[tuple[str, str]]] = {}
    names: dict[int, str] = {}  # Distribution.name parses the metadata file again at every read
    for ep in entry_points:
        source = getattr(ep, "dist", None)
        dist = names.get(id(source))
        if dist is None:
            dist = names[id(source)] = getattr(source, "name", None) or "?"
        entry = (ep.attr or ep.name, dist)
        if entry not in found.setdefault(ep.name, []):
            found[ep.name].append(entry)
    for providers in found.values():  # the standard distribution first, then by name
        providers.sort(key=lambda entry: (entry[1] != STANDARD_DISTRIBUTION, entry[1], entry[0]))
    return found


@functools.cache
def _declared() -> dict[str, list[tuple[str, str]]]:
    # Read once, on the first error: a missing name is an error path, and metadata is slow to scan.
    return declarations()


def _plugin_status(distribution: str) -> str:
    """Why the distribution's plugin does not provide the name, from what the plugin host saw."""
    core = sys.modules.get("kittygrad_core")
    infos = [info for info in getattr(getattr(core, "plugins", None), "plugins", {}).values()
             if info.distribution == distribution]
    failed = [f"plugin '{info.name}' failed: {info.error}" for info in infos if info.error]
    if failed:
        return "; ".join(failed)
    if infos:
        return (f"plugin '{infos[0].name}' is loaded but did not register it (skipped, unregistered, "
                "or the installed metadata is stale)")
    return ("plugin is not loaded: blocked (KITTYGRAD_BLOCK_PLUGINS) or disabled "
            "(KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD without it in KITTYGRAD_PLUGINS)")


def missing_op_error(attribute: str, fallback: str, method: bool = False) -> AttributeError:
    """The error for a missing attribute ``attribute`` whose plain message is ``fallback``.

    A name declared by an installed distribution (``kittygrad.provides``) gives a
    :class:`MissingOpError` naming the op, the distribution and why its plugin may be missing; any
    other name a plain ``AttributeError(fallback)``. A module's dunders are never ops.
    """
    providers = _declared().get(attribute) if method or not attribute.startswith("__") else None
    if not providers:
        return AttributeError(fallback)
    op_name, dist = providers[0]
    others = "".join(f"; '{d}' declares it too (op '{o}')" for o, d in providers[1:])
    return MissingOpError(
        f"{fallback}: '{attribute}' belongs to op '{op_name}' of the distribution '{dist}', whose "
        f"{_plugin_status(dist)}{others}. Install it (pip install {dist}) or enable its plugin; "
        "`python -m kittygrad_core` lists the plugins and ops loaded.")


def _missing_operator(attribute: str) -> Any:
    symbol = OPERATOR_SYMBOLS[attribute]
    name = attribute[2:-2]
    binary = name in _BINARY or name[0] in "ri" and name[1:] in _BINARY
    inplace = binary and name not in _BINARY and name[0] == "i"

    def operator(self: Any, *args: Any) -> Any:
        if attribute in _declared():
            raise missing_op_error(attribute, f"'{type(self).__name__}' object has no operator "
                                              f"{symbol} ('{attribute}')", method=True)
        if inplace:  # Python then tries the plain operator (``t += 1`` falls back to ``t + 1``)
            return NotImplemented
        if binary and args and type(args[0]).__module__ != "builtins" \
                and not isinstance(args[0], type(self)):
            return NotImplemented  # the other operand may know how (its reflected operator)
        raise TypeError(
            f"'{type(self).__name__}' object has no operator {symbol}: no installed plugin provides "
            f"'{attribute}'. The standard ops come from the distribution "
            f"'{STANDARD_DISTRIBUTION}' (pip install {STANDARD_DISTRIBUTION}).")
    operator.__name__ = operator.__qualname__ = attribute
    operator._kittygrad_missing = True  # type: ignore[attr-defined]  # marks a stub
    return operator


def install_operator_stubs(tensor_type: type) -> None:
    """Gives ``Tensor`` Python's operators, raising a missing-op error until an op binds them."""
    for attribute in OPERATOR_SYMBOLS:
        if attribute not in vars(tensor_type):
            setattr(tensor_type, attribute, _missing_operator(attribute))


class OpRegistry:
    """The ops known to kittygrad, keyed by name, and the bindings they created.

    Args:
        module: the module that receives the ops' functions (``kittygrad_core`` itself by default).
        tensor_type: the class that receives methods and operators.
    """

    def __init__(self, module: ModuleType, tensor_type: type) -> None:
        self._module = module
        self._mirrors: list[ModuleType] = []  # further modules that receive the functions (umbrella)
        self._tensor_type = tensor_type
        self._ops: dict[str, type[Op]] = {}
        self._shadowed: dict[str, list[type[Op]]] = {}
        self._owners: dict[tuple[str, str], str] = {}  # (target, attribute) -> op name
        self._overrides: dict[str, list[str]] = {}  # op name -> origins of the ops it displaced

    def __contains__(self, name: object) -> bool:
        return name in self._ops

    def __getitem__(self, name: str) -> type[Op]:
        return self._ops[name]

    def __iter__(self) -> Iterator[type[Op]]:
        return iter(list(self._ops.values()))

    def __len__(self) -> int:
        return len(self._ops)

    def names(self) -> list[str]:
        """The names of the registered ops, sorted."""
        return sorted(self._ops)

    def register(self, op: type, *, plugin: str | None = None, distribution: str | None = None,
                 override: bool | None = None) -> type[Op]:
        """Validates and binds an op record (an :class:`Op` or :class:`Function` subclass).

        Raises ``RuntimeError`` if the name or one of its bindings is taken, unless the op overrides
        (``override=True`` here or as its class attribute). Returns the registered node class.
        """
        from ._function import Function, function_op
        if isinstance(op, type) and issubclass(op, Function):
            op = function_op(op)
        if not (isinstance(op, type) and issubclass(op, (Op, Composite))):
            raise TypeError(f"register(): expected an Op, Composite or Function subclass, got {op!r}.")
        name = getattr(op, "name", None)
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"register(): op class {op.__qualname__} must set `name` to an identifier.")
        override = op.override if override is None else override
        node: Any  # a class made here, with the registry's attributes
        if issubclass(op, Composite):
            node = type(op.__name__, (op,), {"__module__": op.__module__, "__doc__": op.__doc__,
                                             "plugin": plugin, "distribution": distribution})
        else:
            inputs, options = _parse_forward(op)
            slots = _slot_names(op)
            saves, saves_output = derive_saves(op, inputs, slots)
            node = type(f"{op.__name__}Backward", (op,), {
                "__module__": op.__module__, "__doc__": op.__doc__, "plugin": plugin,
                "distribution": distribution, "input_names": tuple(inputs),
                "snapshots": bool(saves or saves_output), "__slots__": (),
                "saves": tuple(saves), "saves_for": dict(saves) if isinstance(saves, dict) else None,
                "saves_output": saves_output, "save_plan": _save_plan(saves), "saved_slots": slots,
            })
        if not issubclass(node, Composite) and node.saved_slots:
            node._release = _releaser(node)
        bindings = _all_bindings(node)
        node.caller = (_rename(node.call, node.name, node.name, node) if issubclass(node, Composite)
                       else _generate(node, node.name, list(node.input_names),
                                      _parse_forward(node)[1], "apply"))
        self._check_reserved(node, bindings)
        self._check_free(node, bindings, override)
        previous = self._ops.get(name)
        displaced = {self._ops[holder] for b in bindings
                     if (holder := self._owners.get(b[:2])) is not None and holder != name}
        if previous is not None:
            displaced.add(previous)
            self._unbind(previous)
            self._shadowed.setdefault(name, []).append(previous)
        self._ops[name] = node
        self._bind(node, bindings)
        if displaced:  # an override is never silent: it names who replaced whom
            origins = sorted({_origin(op) for op in displaced})
            self._overrides[name] = self._overrides.get(name, []) + origins
            warnings.warn(f"op '{name}' from {_origin(node)} overrides {', '.join(origins)} "
                          "(override=True).", OverrideWarning, stacklevel=3)
        registered: type[Op] = node
        return registered

    def unregister(self, name: str) -> type[Op]:
        """Removes an op and its bindings; an op it had overridden comes back."""
        if name not in self._ops:
            raise KeyError(f"no op named '{name}' is registered")
        node = self._ops.pop(name)
        self._overrides.pop(name, None)
        freed = {key for key, holder in self._owners.items() if holder == name}
        self._unbind(node)
        shadowed = self._shadowed.get(name)
        if shadowed:
            previous = shadowed.pop()
            self._ops[name] = previous
            self._bind(previous, _all_bindings(previous))
        for other in list(self._ops.values()):  # bindings it had overridden go back to their ops
            back = [b for b in _all_bindings(other) if b[:2] in freed and b[:2] not in self._owners]
            if back:
                self._bind(other, back)
        return node

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Calls op ``name`` with its public signature, whether or not it has bindings.

        Composite ops use this to call helper ops that are registered without functions or methods.
        """
        return self._ops[name].caller(*args, **kwargs)  # type: ignore[attr-defined]  # set by register()

    def overrides(self, name: str) -> list[str]:
        """Who op ``name`` displaced by registering with ``override=True`` (empty if nobody)."""
        return list(self._overrides.get(name, ()))

    def owner(self, name: str) -> str | None:
        """The distribution (or plugin) that registered op ``name``."""
        op = self._ops[name]
        return op.distribution or op.plugin

    # ------------------------------------------------------------------ binding

    def _target(self, where: str) -> Any:
        return self._module if where == "module" else self._tensor_type

    def mirror(self, module: ModuleType) -> None:
        """Makes ``module`` receive every op function too, now and at later (un)registrations.

        The ``kittygrad`` umbrella mirrors ``kittygrad_core``, so ``kitty.exp`` is a plain module attribute
        (no ``__getattr__`` call per use) that still follows runtime registrations.
        """
        self._mirrors.append(module)
        for (where, attribute), _ in self._owners.items():
            if where == "module":
                setattr(module, attribute, getattr(self._module, attribute))

    def _check_reserved(self, node: type[Op], bindings: list[tuple[str, str, Any]]) -> None:
        """Core's own names (``backward``, ``no_grad``, ``Tensor.grad``, ...) are never an op's to take."""
        for where, attribute, _ in bindings:
            if (where, attribute) in self._owners:
                continue
            if where == "module":
                taken = any(attribute in vars(m) for m in (self._module, *self._mirrors)) \
                    or attribute.startswith("__")
            else:
                present = getattr(self._tensor_type, attribute, None)
                taken = (hasattr(self._tensor_type, attribute)
                         and not getattr(present, "_kittygrad_missing", False))
            if taken:
                target = self._module.__name__ if where == "module" else self._tensor_type.__name__
                raise RuntimeError(
                    f"op '{node.name}' from {_origin(node)} wants to bind '{attribute}', which is "
                    f"reserved: {target}.{attribute} belongs to kittygrad-core (override cannot take it).")

    def _check_free(self, node: type[Op], bindings: list[tuple[str, str, Any]], override: bool) -> None:
        clash = self._ops.get(node.name)
        if clash is not None and not override:
            raise RuntimeError(
                f"op '{node.name}' from {_origin(node)} clashes with op '{clash.name}' from "
                f"{_origin(clash)}; set `override = True` on the op to replace it on purpose.")
        for where, attribute, _ in bindings:
            holder = self._owners.get((where, attribute))
            if holder is not None and holder != node.name and not override:
                other = self._ops[holder]
                raise RuntimeError(
                    f"op '{node.name}' from {_origin(node)} wants to bind '{attribute}', which op "
                    f"'{holder}' from {_origin(other)} already binds; set `override = True` to take it.")

    def _bind(self, node: type[Op], bindings: list[tuple[str, str, Any]]) -> None:
        for where, attribute, function in bindings:
            holder = self._owners.get((where, attribute))
            if holder is not None and holder != node.name:
                self._shadowed.setdefault(holder, [])  # the other op keeps its record, loses this name
            setattr(self._target(where), attribute, function)
            if where == "module":
                for mirror in self._mirrors:
                    setattr(mirror, attribute, function)
            self._owners[(where, attribute)] = node.name

    def _unbind(self, node: type[Op]) -> None:
        for (where, attribute), holder in list(self._owners.items()):
            if holder != node.name:
                continue
            del self._owners[(where, attribute)]
            target = self._target(where)
            if where == "tensor" and attribute in OPERATOR_SYMBOLS:
                setattr(target, attribute, _missing_operator(attribute))
            else:
                for holder_module in [target, *(self._mirrors if where == "module" else ())]:
                    try:
                        delattr(holder_module, attribute)
                    except AttributeError:
                        pass


def _origin(op: type[Op]) -> str:
    if op.distribution:
        return f"distribution '{op.distribution}' (plugin '{op.plugin}')"
    return f"plugin '{op.plugin}'" if op.plugin else "a runtime registration"


def _parse_forward(op: type[Op]) -> tuple[list[str], list[inspect.Parameter]]:
    """Splits the forward's parameters after ``(self, xp)`` into tensor inputs and options."""
    params = list(inspect.signature(op.forward).parameters.values())
    if len(params) < 3 or params[1].name != "xp":
        raise TypeError(f"op '{op.name}': forward must be defined as forward(self, xp, *inputs, "
                        "**options) with at least one input.")
    inputs: list[str] = []
    options: list[inspect.Parameter] = []
    if params[2].kind == params[2].VAR_POSITIONAL:  # forward(self, xp, *tensors, ...): a sequence input
        op.variadic = True
        return [params[2].name], params[3:]
    for p in params[2:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"op '{op.name}': forward may take *inputs only as its first input, "
                            f"and no **kwargs ({p}).")
        if op.n_inputs is not None:
            is_input = len(inputs) < op.n_inputs
        else:
            is_input = p.default is p.empty and p.kind != p.KEYWORD_ONLY and not options
        (inputs.append(p.name) if is_input else options.append(p))
    differentiable = op.differentiable
    if isinstance(differentiable, tuple) and len(differentiable) != len(inputs):
        raise TypeError(f"op '{op.name}': differentiable has {len(differentiable)} entries for "
                        f"{len(inputs)} inputs.")
    return inputs, options


def _all_bindings(node: Any) -> list[tuple[str, str, Any]]:
    if issubclass(node, Composite):
        return _composite_bindings(node)
    return _bindings(node, list(node.input_names), _parse_forward(node)[1])


def _composite_bindings(node: type[Composite]) -> list[tuple[str, str, Any]]:
    call = node.call
    functions = (node.name,) if node.functions is None else node.functions
    methods = (node.name,) if node.methods is None else node.methods
    out = [("module", f, _bind_style(_rename(call, f, f, node))) for f in functions]
    out += [("tensor", m, _rename(call, m, f"Tensor.{m}", node)) for m in methods]
    out += [("tensor", p, property(_rename(call, p, f"Tensor.{p}", node), doc=node.__doc__))
            for p in node.properties]
    return out


def _bind_style(impl: Any) -> Any:
    """``impl`` with argument errors in ``Signature.bind``'s words (see ``_binding_errors_as_bind``)."""
    def function(*args: Any, **kwargs: Any) -> Any:
        return _bound_call(impl, args, kwargs)
    function.__name__, function.__qualname__ = impl.__name__, impl.__qualname__
    function.__doc__, function.__module__ = impl.__doc__, impl.__module__
    function.__signature__ = inspect.signature(impl)  # type: ignore[attr-defined]
    function._kittygrad_op = impl._kittygrad_op  # type: ignore[attr-defined]
    return function


def _rename(function: Any, name: str, qualname: str, node: type) -> Any:
    function = getattr(function, "__func__", function)
    renamed = FunctionType(function.__code__, function.__globals__, name, function.__defaults__,
                           function.__closure__)
    renamed.__kwdefaults__ = function.__kwdefaults__
    renamed.__doc__ = node.__doc__
    renamed.__qualname__ = qualname
    renamed.__module__ = node.__module__
    renamed.__annotations__ = dict(function.__annotations__)
    renamed._kittygrad_op = node  # type: ignore[attr-defined]
    return renamed


def _bindings(node: type[Op], inputs: list[str], options: list[inspect.Parameter]) -> list[tuple[str, str, Any]]:
    """(target, attribute, function) for every binding the op declares."""
    name = node.name
    functions = (name,) if node.functions is None else node.functions
    methods = (name,) if node.methods is None else node.methods
    out = [("module", f, _generate(node, f, inputs, options, "apply")) for f in functions]
    out += [("tensor", m, _generate(node, m, inputs, options, "apply", method=True)) for m in methods]
    for attribute in node.inplace:
        out.append(("tensor", attribute, _generate(node, attribute, inputs, options, "apply_inplace",
                                                   method=True, operator=attribute.startswith("__"))))
    for attribute in node.operators:
        out.append(("tensor", attribute, _generate(node, attribute, inputs, options, "apply",
                                                   method=True, operator=True)))
    for attribute in node.reflected:
        if len(inputs) != 2:
            raise TypeError(f"op '{name}': a reflected operator needs exactly two inputs.")
        out.append(("tensor", attribute, _generate(node, attribute, inputs, options, "apply",
                                                   method=True, operator=True, reflected=True)))
    return out


def _generate(node: type[Op], attribute: str, inputs: list[str], options: list[inspect.Parameter],
              entry: str, method: bool = False, operator: bool = False, reflected: bool = False) -> Any:
    """Compiles one binding: a function with the op's signature whose body calls the dispatcher.

    Operators take the inputs only and call the op with every option at its default.
    """
    names = list(inputs)
    if method:
        names[1 if reflected else 0] = "self"
    header = names[::-1] if reflected else list(names)
    call_args: list[str] = []
    call_kwargs: list[str] = []
    namespace: dict[str, Any] = {}
    variadic = getattr(node, "variadic", False)
    for p in options:
        if operator:  # options keep forward's own defaults: nothing to pass
            if p.default is p.empty:
                raise TypeError(f"op '{node.name}': option '{p.name}' needs a default to be bound "
                                f"as operator '{attribute}'.")
            continue
        else:
            if p.kind == p.KEYWORD_ONLY and "*" not in header and not variadic:
                header.append("*")
            header.append(p.name if p.default is p.empty else f"{p.name}=_default_{p.name}")
            value = p.name
        if p.default is not p.empty:
            namespace[f"_default_{p.name}"] = p.default
        (call_kwargs if p.kind == p.KEYWORD_ONLY else call_args).append(f"'{p.name}': {value}"
                                                                         if p.kind == p.KEYWORD_ONLY
                                                                         else value)
    operands = f"_sequence(_op, {names[0]})" if variadic else _tuple(names)
    if entry == "apply" and not variadic and not node.view and node.differentiable is True \
            and len(names) in (1, 2):
        entry, operands = f"apply{len(names)}", ", ".join(names)  # the inlined fast paths
    call = (f"_{entry}(_op, {operands}, {_tuple(call_args)}, "
            f"{'{' + ', '.join(call_kwargs) + '}' if call_kwargs else '_EMPTY'})")
    if operator and len(names) > 1:  # an operand of another type lets Python try its reflected operator
        body = (f"    try:\n        return {call}\n"
                f"    except _UnsupportedOperand:\n"
                f"        return _unsupported({attribute!r}, {header[0]}, {header[1]})\n")
    else:
        body = f"    return {call}\n"
    source = f"def _binding({', '.join(header)}):\n{body}"
    namespace.update(_op=node, _sequence=_dispatch.sequence, _apply=_dispatch.apply, _apply1=_dispatch.apply1,
                     _apply2=_dispatch.apply2, _apply_inplace=_dispatch.apply_inplace,
                     _EMPTY=_dispatch.EMPTY, _UnsupportedOperand=_dispatch.UnsupportedOperand,
                     _unsupported=_unsupported)
    function = _define(attribute, source, f"<kittygrad op '{node.name}' binding '{attribute}'>", namespace)
    if not method and not operator:
        function = _binding_errors_as_bind(node, attribute, function, names, options, call, namespace)
    function.__doc__ = node.__doc__
    function.__qualname__ = f"Tensor.{attribute}" if method else attribute
    function.__module__ = node.__module__
    function._kittygrad_op = node
    return function


_SYMBOLS = _BINARY


def _unsupported(attribute: str, tensor: Any, other: Any) -> Any:
    """An operator's answer to an operand no op accepts: ``NotImplemented`` (Python then asks the other
    operand), but a built-in type can answer nothing, so the original kittygrad's TypeError is raised."""
    if type(other).__module__ != "builtins":
        return NotImplemented
    name = attribute.strip("_")
    left, right = type(tensor).__name__, type(other).__name__
    if name[0] == "i" and name[1:] in _SYMBOLS:
        symbol = _SYMBOLS[name[1:]] + "="
    elif name[0] == "r" and name[1:] in _SYMBOLS:
        symbol, left, right = _SYMBOLS[name[1:]], right, left
    else:
        symbol = _SYMBOLS.get(name, name)
    raise TypeError(f"Unsupported operand type(s) for {symbol}: '{left}' and '{right}'.")


def _binding_errors_as_bind(node: Any, attribute: str, impl: Any, names: list[str],
                            options: list[inspect.Parameter], call: str, namespace: dict[str, Any]) -> Any:
    """A module function that reports argument errors in ``Signature.bind``'s words, as the original
    kittygrad's functions do ("missing a required argument: 'mat2'"), around the exact-signature
    ``impl``. A call passing exactly the required arguments positionally takes a compiled fast path.
    """
    required = [p.name for p in options if p.default is p.empty and p.kind != p.KEYWORD_ONLY]
    fast = len(names) + len(required) if all(p.default is not p.empty or p.kind != p.KEYWORD_ONLY
                                             for p in options) else -1
    for p in options:  # the fast path calls with every optional argument at its default
        if p.default is not p.empty:
            call = call.replace(f"'{p.name}': {p.name}", f"'{p.name}': _default_{p.name}")
            call = re.sub(rf"(?<![\w'.]){p.name}(?![\w'])", f"_default_{p.name}", call)
    unpack = ", ".join([*names, *required]) + ("," if len(names) + len(required) == 1 else "")
    source = (f"def _binding(*args, **kwargs):\n"
              f"    if kwargs or len(args) != {fast}:\n"
              f"        return _bound_call(_impl, args, kwargs)\n"
              f"    {unpack} = args\n"
              f"    return {call}\n")
    namespace.update(_impl=impl, _bound_call=_bound_call)
    function = _define(attribute, source, f"<kittygrad op '{node.name}' function '{attribute}'>", namespace)
    function.__signature__ = inspect.signature(impl)
    return function


_CODE: dict[str, Any] = {}  # compiled binding sources: ops with the same signature share one text


def _define(name: str, source: str, filename: str, namespace: dict[str, Any]) -> Any:
    """Runs ``source`` (which defines ``_binding``) in ``namespace``; returns the function named ``name``.

    Each distinct text is compiled once (compiling every binding was an eighth of ``import kittygrad``);
    the function's code then takes the binding's own name and file name, for tracebacks.
    """
    code = _CODE.get(source)
    if code is None:
        code = _CODE[source] = compile(source, filename, "exec")
    exec(code, namespace)
    function = namespace.pop("_binding")
    function.__code__ = function.__code__.replace(co_name=name, co_qualname=name, co_filename=filename)
    function.__name__ = name
    return function


def _bound_call(function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Calls ``function``; an argument error of the call itself is raised in ``Signature.bind``'s words."""
    try:
        return function(*args, **kwargs)
    except TypeError as error:
        if error.__traceback__ is not None and error.__traceback__.tb_next is None:
            try:
                inspect.signature(function).bind(*args, **kwargs)
            except TypeError as binding:
                raise TypeError(str(binding)) from None  # e.g. "missing a required argument: 'mat2'"
        raise


def _slot_names(op: type) -> tuple[str, ...]:
    """The ``__slots__`` names of a record along its MRO (``Op``'s and ``Node``'s own excluded)."""
    names: list[str] = []
    for cls in op.__mro__:
        if issubclass(cls, Op) and cls is not Op:
            declared = cls.__dict__.get("__slots__", ())
            names += [declared] if isinstance(declared, str) else list(declared)
    return tuple(dict.fromkeys(names))


def _sets(op: type, attribute: str) -> bool:
    """Whether a record (or a base record below ``Op``) sets ``attribute`` itself."""
    return any(attribute in vars(cls) for cls in op.__mro__ if issubclass(cls, Op) and cls is not Op)


def derive_saves(op: Any, inputs: list[str], slots: tuple[str, ...]) -> tuple[Any, Any]:
    """``(saves, saves_output)`` of a record: what it sets explicitly, else derived from its slots.

    ``saves``: the indices of the tensor inputs whose parameter names are slots (forward keeps that
    input's array there, so its version is checked before backward); ``saves_output``: whether ``out``
    is a slot. Other slots (``axes``, ``mask``, ...) are saved state that no version check covers. A
    variadic input (``*tensors``) is never derived: its slot holds a sequence, not one input.
    """
    if _sets(op, "saves"):
        saves = op.saves
    else:
        saves = () if op.variadic else tuple(i for i, name in enumerate(inputs) if name in slots)
    saves_output = op.saves_output if _sets(op, "saves_output") else "out" in slots
    return saves, saves_output


def _save_plan(saves: Any) -> tuple[tuple[int, bool, bool], ...]:
    """(input, read for input 0's gradient, read for input 1's) per saved input: the fast path's plan."""
    if isinstance(saves, dict):
        return tuple((i, 0 in needed, 1 in needed) for i, needed in saves.items())
    return tuple((i, True, True) for i in saves)


def _releaser(node: type[Op]) -> Any:
    """A ``_release`` that drops the record's saved slots (and ``__dict__``) without a loop."""
    lines = [f"    self.{name} = None" for name in node.saved_slots]
    if node.__dictoffset__:
        lines.append("    self.__dict__.clear()")
    namespace: dict[str, Any] = {}
    exec(compile("def _release(self):\n" + "\n".join(lines) + "\n",
                 f"<kittygrad op '{node.name}' release>", "exec"), namespace)
    return namespace["_release"]


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
