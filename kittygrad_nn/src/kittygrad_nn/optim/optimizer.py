"""The ``Optimizer`` base class: parameter groups, per-parameter state, ``zero_grad`` and state dicts."""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

import kittygrad_core as _core
from kittygrad_core import Tensor
from kittygrad_core.extend import replayable, write_

from .._module import zero_grad_
from ._foreach import Pack


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


class Optimizer:
    """Base class of the optimizers, with PyTorch's API.

    Args:
        params: an iterable of tensors, or of dicts (parameter groups) with a ``"params"`` entry and
            options overriding ``defaults``.
        defaults: the default options of every group.

    Subclasses implement ``_update``, which returns a parameter's new value; ``step`` writes it with
    ``kittygrad_core.extend.write_`` (unrecorded, the version moves), so a graph that saved ``p``
    before the step raises when it is used afterwards. A subclass whose ``_update`` is elementwise
    (each element's new value depends on that element of the parameter, gradient and state alone)
    sets ``_elementwise = True``: a group of small parameters is then updated in one call on the group
    laid end to end (``foreach``, as torch's; the group option ``foreach=False`` turns it off).
    """

    _elementwise = False

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._packs: dict[int, Pack] = {}  # id(group) -> its flat layout (optim/_foreach.py)
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            f"dicts, but got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Adds a group of parameters with its own options (missing options take the defaults)."""
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Resets the gradients of every parameter (to ``None``, or to zeros)."""
        replayable(self._zero_grad, set_to_none)

    def _zero_grad(self, set_to_none: bool) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:  # parameters are leaves (add_param_group checks it; they stay leaves)
                    p.grad = None
                else:
                    zero_grad_(p, False)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Performs one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with _core.enable_grad():
                loss = closure()
        # kitty.compile replays the update as a call (its Python arithmetic on arrays is not recorded)
        replayable(self._step)
        return loss

    def _step(self) -> None:
        with _core.set_grad_enabled(False):  # no "nested no_grad" warning inside the library
            for group in self.param_groups:
                if self._elementwise and group.get("foreach") is not False and self._step_foreach(group):
                    continue
                for p in group["params"]:
                    grad = p.grad
                    if grad is None:
                        continue
                    state = self.state.setdefault(p, {})
                    write_(p, self._update(group, p.numpy(), grad.numpy(), state))

    def _step_foreach(self, group: dict[str, Any]) -> bool:
        """Updates ``group`` in one call on its flat layout; False (nothing done) if it has none or it
        does not apply this time (a parameter without a gradient, state changed from outside)."""
        pack = self._packs.get(id(group))
        if pack is None or pack.group is not group or not pack.ready(self.state):
            # a new group, or one whose state was cleared (optimizer.state = {}): a fresh layout
            pack = Pack.fresh(self.state, group)
            if pack is None or not pack.ready(self.state):
                return False
            self._packs[id(group)] = pack
        pack.finish(self._update(group, pack.param_flat, pack.grad_flat, pack.flat_state))
        return True

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray,
                state: dict[str, Any]) -> np.ndarray:
        """Returns the new value of a parameter (whose array is ``param``; not to be modified) from its
        gradient; subclasses implement it."""
        raise NotImplementedError

    # ------------------------------------------------------------------ state dict

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}`` as in torch."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: {k: (v.detach() if isinstance(v, Tensor) else v) for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores options and per-parameter state saved by :meth:`state_dict` (deep-copied)."""
        state_dict = copy.deepcopy(state_dict)
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for saved, group in zip(groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the "
                                 "size of optimizer's group")
        by_index = {i: p for saved, group in zip(groups, self.param_groups)
                    for i, p in zip(saved["params"], group["params"])}
        # Built aside and checked first: a bad entry leaves the optimizer as it was, and a buffer of the
        # wrong shape fails here rather than half way through a later step().
        state = {}
        for key, values in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                continue
            if not isinstance(values, dict):
                raise ValueError(f"loaded state dict: the state of parameter {key} must be a dict, "
                                 f"not {type(values).__name__}")
            restored = {}
            for name, value in values.items():
                if isinstance(value, np.ndarray):
                    value = Tensor(value)
                if isinstance(value, Tensor) and name != "step":
                    if value.shape != p.shape:
                        raise ValueError(f"loaded state dict: state '{name}' of parameter {key} has shape "
                                         f"{tuple(value.shape)}, but the parameter has shape {tuple(p.shape)}")
                    value = Tensor(value.numpy().astype(p.dtype, copy=False))
                restored[name] = value
            state[p] = restored
        self.state = state
        for saved, group in zip(groups, self.param_groups):
            for name, value in saved.items():
                if name != "params":
                    group[name] = value
        self._packs = {}
        if self._elementwise:
            for group in self.param_groups:
                pack = Pack.loaded(state, group)
                if pack is not None:
                    self._packs[id(group)] = pack

    def __getstate__(self) -> dict[str, Any]:
        # A copy's state tensors are no longer views of its packs' arrays: it starts without packs.
        return {**self.__dict__, "_packs": {}}

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}"
            for key in sorted(group):
                if key != "params":
                    text += f"\n    {key}: {group[key]}"
        return text + "\n)"


def _buffer(state: dict[str, Any], name: str, like: np.ndarray) -> np.ndarray:
    """The array of state tensor ``name``, created as zeros like ``like`` on first use."""
    value = state.get(name)
    if value is None:
        value = state[name] = Tensor(np.zeros_like(like))
    return value.numpy()


def _step(state: dict[str, Any]) -> float:
    """Increments and returns the step count (a 0-d float tensor, as torch's)."""
    step = state.get("step")
    if step is None:
        step = state["step"] = Tensor(np.zeros((), np.float32))
    count = step.numpy()
    value = float(count) + 1.0
    count.fill(value)  # a ufunc on a 0-d array costs several times more
    return value
