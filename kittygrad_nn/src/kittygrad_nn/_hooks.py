"""Module hooks: forward pre-hooks, forward hooks and full backward hooks, as PyTorch's.

A full backward hook sees ``grad_input`` (the gradients of the module's positional tensor inputs) and
``grad_output`` (of its tensor outputs). Identity functions are put around the call: the one on the
outputs records ``grad_output`` when the gradient reaches the module; the one on the input runs the
hooks when the gradient leaves it, and may replace the gradient it passes on.
"""
from __future__ import annotations

from typing import Any

from kittygrad_core import Function, Tensor


class _State:
    __slots__ = ("module", "hooks", "grad_outputs", "n_outputs", "inputs", "called", "wanting")

    def __init__(self, module: Any, hooks: list, inputs: tuple) -> None:
        self.module, self.hooks, self.inputs = module, hooks, inputs
        self.grad_outputs: dict[int, Any] = {}
        self.n_outputs = 0
        self.called = False
        self.wanting = False  # whether an input needs a gradient (else the output side runs the hooks)

    def run(self, grad_input: tuple) -> tuple:
        self.called = True
        grad_output = tuple(self.grad_outputs.get(i) for i in range(self.n_outputs))
        for hook in self.hooks:
            result = hook(self.module, grad_input, grad_output)
            if result is not None:
                result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
                if len(result) != len(grad_input):
                    raise RuntimeError(f"backward hook {getattr(hook, '__qualname__', hook)!r} of "
                                       f"{type(self.module).__name__} returned {len(result)} gradients; "
                                       f"expected {len(grad_input)} (one per positional tensor input).")
                grad_input = result
        return grad_input


class _Identity(Function):
    """Passes ``x`` through; the subclasses' backward sees the gradient going by."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, state: _State, index: int) -> Tensor:
        ctx.state, ctx.index = state, index
        return x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        return grad, None, None


class _OutputHook(_Identity):
    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        state = ctx.state
        state.grad_outputs[ctx.index] = grad
        if not state.wanting and len(state.grad_outputs) == state.n_outputs:
            state.run((None,) * len(state.inputs))  # no input needs a gradient: the hooks run here
        return grad, None, None


class _InputHook(_Identity):
    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Any:
        grad_input: list[Any] = [None] * len(ctx.state.inputs)
        grad_input[ctx.index] = grad
        return ctx.state.run(tuple(grad_input))[ctx.index], None, None


def call_with_hooks(module: Any, args: tuple, kwargs: dict) -> Any:
    """Calls ``module.forward`` with its pre-hooks, forward hooks and full backward hooks."""
    for hook in list((module._forward_pre_hooks or {}).values()):
        result = hook(module, args)
        if result is not None:
            args = result if isinstance(result, tuple) else (result,)
    backward_hooks = list((module._backward_hooks or {}).values())
    state = None
    if backward_hooks:
        positional = tuple(a if isinstance(a, Tensor) else None for a in args)
        wanting = [i for i, a in enumerate(positional) if a is not None and a.requires_grad]
        if len(wanting) > 1:
            raise NotImplementedError(
                f"{type(module).__name__}: a full backward hook on a module called with several "
                "positional tensors that require grad is not supported (one is).")
        state = _State(module, backward_hooks, tuple(a for a in positional if a is not None))
        state.wanting = bool(wanting)
        if wanting:
            tensors = [a for a in positional if a is not None]
            position = tensors.index(args[wanting[0]])
            args = tuple(_InputHook.apply(a, state, position) if i == wanting[0] else a
                         for i, a in enumerate(args))
    output = module.forward(*args, **kwargs)
    for hook in list((module._forward_hooks or {}).values()):
        result = hook(module, args, output)
        if result is not None:
            output = result
    if state is not None:
        if isinstance(output, Tensor):
            state.n_outputs = 1
            output = _OutputHook.apply(output, state, 0) if output.requires_grad else output
        elif isinstance(output, tuple):
            state.n_outputs = len(output)
            output = tuple(_OutputHook.apply(o, state, i) if isinstance(o, Tensor) and o.requires_grad
                           else o for i, o in enumerate(output))
    return output
