"""``Parameter`` and ``Module``: PyTorch's attribute registration, traversal and state dicts."""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator
from typing import Any, SupportsIndex

import numpy as np

from kittygrad_core import Tensor, set_grad_enabled
from kittygrad_core.autograd import RemovableHandle
from kittygrad_core.extend import as_float_array, init_tensor, replayable, resolve_dtype, wrap, write_

from ._hooks import call_with_hooks


class Parameter(Tensor):
    """A tensor that is a module parameter: assigning it to a :class:`Module` attribute registers it.

    Args:
        data: a tensor (its memory is shared, as torch's ``Parameter`` does), an array or nested list.
        requires_grad (bool): whether the parameter needs gradients (default ``True``).
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.empty(0, dtype=np.float32)
        elif not isinstance(data, Tensor):
            data = as_float_array(data)
        init_tensor(self, data, requires_grad)  # a tensor's memory and version counter are shared

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol: SupportsIndex) -> Any:
        return Parameter, (self.numpy(copy=True), self.requires_grad)

    def __deepcopy__(self, memo: dict) -> Parameter:
        # torch's rule: the data and the flag are copied, the gradient is not
        copy = memo.get(id(self))
        if copy is None:
            copy = memo[id(self)] = Parameter(self.numpy(copy=True), self.requires_grad)
        return copy


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])  # type: ignore[name-match]  # torch's name


class Module:
    """Base class of every neural-network module, with PyTorch's API.

    Subclasses call ``super().__init__()`` first, assign :class:`Parameter`\\ s, submodules and
    (through :meth:`register_buffer`) buffers as attributes, and define :meth:`forward`. Calling the
    module calls ``forward``.
    """

    training: bool
    # Hooks are rare: None until the first registration, so that a call checks three class attributes.
    _forward_pre_hooks: dict | None = None
    _forward_hooks: dict | None = None
    _backward_hooks: dict | None = None

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Defines the computation of the module; subclasses override it."""
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks:
            return call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ hooks

    def _add_hook(self, kind: str, hook: Callable, prepend: bool) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"{kind[1:]}: a hook must be callable, not {type(hook).__name__}.")
        hooks = self.__dict__.get(kind)
        if hooks is None:
            hooks = {}
            object.__setattr__(self, kind, hooks)
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        if prepend:
            for key in [k for k in hooks if k != handle.id]:
                hooks[key] = hooks.pop(key)  # move the others after it
        return handle

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False) -> RemovableHandle:
        """Registers ``hook(module, args)``, called before :meth:`forward`; it may return new args (a
        tuple, or a single value that becomes a 1-tuple). Returns a handle with ``remove()``."""
        return self._add_hook("_forward_pre_hooks", hook, prepend)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False) -> RemovableHandle:
        """Registers ``hook(module, args, output)``, called after :meth:`forward`; it may return a new
        output. Returns a handle with ``remove()``."""
        return self._add_hook("_forward_hooks", hook, prepend)

    def register_full_backward_hook(self, hook: Callable, prepend: bool = False) -> RemovableHandle:
        """Registers ``hook(module, grad_input, grad_output)``, called when the gradients with respect
        to the module's positional tensor inputs are computed; it may return new ``grad_input``.
        ``grad_output`` holds the gradients of the module's tensor outputs (``None`` where an input or
        output needs none). Returns a handle with ``remove()``."""
        return self._add_hook("_backward_hooks", hook, prepend)

    # ------------------------------------------------------------------ attribute registration

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError(f"Cannot assign {type(value).__name__} instance before "
                                     "Module.__init__() call.")  # the original's text
            self._discard(name)
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(kittygrad_nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            modules = self.__dict__.get("_modules")
            if modules is None:
                raise AttributeError(f"Cannot assign {type(value).__name__} instance before "
                                     "Module.__init__() call.")  # the original's text
            self._discard(name)
            modules[name] = value
        elif self.__dict__.get("_modules") is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' "
                                "(kittygrad_nn.Module or None expected)")
            self._modules[name] = None
        elif self.__dict__.get("_buffers") is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name: str) -> None:
        self.__dict__.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules"):
            self.__dict__[store].pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails.
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(store, ()):
                del self.__dict__[store][name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Adds a parameter (or ``None``) under ``name``."""
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                            "(kittygrad_nn.Parameter or None required)")
        self._discard(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Adds a buffer: state that is not a parameter (e.g. running statistics), saved in the state dict
        unless ``persistent=False``."""
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                            "(Tensor or None required)")
        self._discard(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Adds a child module under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        self._discard(name)
        self._modules[name] = module

    register_module = add_module

    def _check_name(self, name: str, kind: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f'{kind} name can\'t contain "." or be empty, got {name!r}')
        if hasattr(type(self), name) or (name in self.__dict__):
            raise KeyError(f"attribute '{name}' already exists")

    # ------------------------------------------------------------------ traversal

    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """Yields ``(name, module)`` for this module and every descendant, each once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """Yields this module and every descendant."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Yields ``(name, module)`` for the direct children."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and module not in seen:
                seen.add(module)
                yield name, module

    def children(self) -> Iterator[Module]:
        """Yields the direct children."""
        for _, module in self.named_children():
            yield module

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Any]]:
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in module.__dict__[store].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """Yields ``(name, parameter)``, names dotted by submodule (``"0.weight"``), each once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Yields the parameters of this module and (``recurse``) its descendants."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def n_parameters(self) -> int:
        """The number of elements of all parameters (the original kittygrad's helper)."""
        return sum(p.nelement() for p in self.parameters())

    def n_trainable_parameters(self) -> int:
        """The number of elements of the parameters that require grad (the original kittygrad's helper)."""
        return sum(p.nelement() for p in self.parameters() if p.requires_grad)

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """Yields ``(name, buffer)``."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Yields the buffers."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def get_submodule(self, target: str) -> Module:
        """The submodule at the dotted path ``target`` (``""`` is this module)."""
        module = self
        for item in target.split(".") if target else ():
            if item not in module._modules:
                raise AttributeError(f"{type(module).__name__} has no attribute `{item}`")
            module = module._modules[item]
        return module

    # ------------------------------------------------------------------ modes and gradients

    def train(self, mode: bool = True) -> Module:
        """Sets training mode (``mode=False``: evaluation) on this module and its descendants."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Sets evaluation mode: ``Dropout`` is the identity, ``BatchNorm`` uses running statistics."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Sets ``requires_grad`` of every parameter."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Resets the gradients of every parameter (to ``None``, or to zeros)."""
        replayable(self._zero_grad, set_to_none)

    def _zero_grad(self, set_to_none: bool) -> None:
        for param in self.parameters():
            zero_grad_(param, set_to_none)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Calls ``fn`` on every descendant (children first) and then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    def _apply_to_tensors(self, convert: Callable[[np.ndarray], np.ndarray]) -> Module:
        with set_grad_enabled(False):  # no "nested no_grad" warning inside the library
            for module in self.modules():
                for store in ("_parameters", "_buffers"):
                    for tensor in module.__dict__[store].values():
                        if tensor is None:
                            continue
                        tensor.data = wrap(convert(tensor.numpy()))
                        grad = leaf_grad(tensor)
                        if grad is not None:
                            grad.data = wrap(convert(grad.numpy()))
        return self

    def to(self, dtype: Any) -> Module:
        """Converts every parameter and buffer to ``dtype`` (in place; the module is returned)."""
        dtype = resolve_dtype(dtype)
        return self._apply_to_tensors(lambda a: a if a.dtype == dtype else a.astype(dtype))

    def float(self) -> Module:
        """Converts parameters and buffers to float32."""
        return self.to("float32")

    def double(self) -> Module:
        """Converts parameters and buffers to float64."""
        return self.to("float64")

    def half(self) -> Module:
        """Converts parameters and buffers to float16."""
        return self.to("float16")

    # ------------------------------------------------------------------ state dict

    def state_dict(self, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Any]:
        """Every parameter and persistent buffer by dotted name, as detached tensors sharing memory."""
        if destination is None:
            destination = OrderedDict()
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else _shared(param)
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buffer if keep_vars else _shared(buffer)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination, prefix + name + ".", keep_vars)
        return destination

    def load_state_dict(self, state_dict: dict, strict: bool = True, assign: bool = False) -> Any:
        """Copies parameters and buffers from ``state_dict`` (tensors or arrays) in place.

        Raises ``RuntimeError`` listing missing and unexpected keys (when ``strict``) and values whose
        shape differs from the module's (always). Returns ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, dict):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        errors = []
        if strict:
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected)
                              + ". ")
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        updates = []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
            if array.shape != target.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {array.shape} from "
                              f"checkpoint, the shape in current model is {target.shape}.")
                continue
            if array.dtype.kind not in "biuf":
                errors.append(f"value for {key} is not numeric (got dtype {array.dtype}).")
                continue
            updates.append((target, array))
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        with set_grad_enabled(False):  # no "nested no_grad" warning inside the library
            for target, array in updates:
                write_(target, array)
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ representation

    def extra_repr(self) -> str:
        """Extra information shown in the module's ``repr``; subclasses override it."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        for name, module in self._modules.items():
            text = _addindent(repr(module), 2)
            lines.append(f"({name}): {text}")
        body = extra_lines + lines
        main = self._get_name() + "("
        if body:
            if len(extra_lines) == 1 and not lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(body) + "\n"
        return main + ")"


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _shared(tensor: Tensor) -> Tensor:
    """A leaf sharing ``tensor``'s memory and version counter, as torch's ``detach()`` (kittygrad's
    ``detach()`` copies, as the original kittygrad's did); ``state_dict`` values are such leaves."""
    out = Tensor.__new__(Tensor)
    init_tensor(out, tensor)
    return out


def leaf_grad(tensor: Tensor) -> Tensor | None:
    """``tensor.grad``, without the warning about reading a non-leaf's ``.grad``: library code that
    walks parameters and buffers reads it whatever they are (a non-leaf keeps none unless retained)."""
    return tensor.grad if tensor.is_leaf or tensor.retains_grad else None


def zero_grad_(tensor: Tensor, set_to_none: bool = True) -> None:
    """Resets ``tensor``'s gradient: to ``None``, or to zeros in place (its version moves)."""
    grad = leaf_grad(tensor)
    if grad is not None:
        if set_to_none:
            tensor.grad = None
        else:
            write_(grad, 0)
