"""Multi-tensor updates (torch's ``foreach``): one update per parameter group, not per parameter.

The optimizers' ``_update`` rules are elementwise, so they give the same numbers, element for element,
on a group's parameters laid end to end in one flat array as on each parameter alone. For a group of
small parameters (an MLP's weights and biases) the per-parameter cost is mostly the dozen NumPy calls
and the Python around them, so one update of the whole group is several times cheaper.

A ``Pack`` holds a group's flat arrays. Its state buffers (``exp_avg``, ...) are the only copy of the
state: each parameter's state tensor is a view of its slice, made when the pack created the buffer,
so ``optimizer.state[p]`` reads and writes the same numbers, and a step that falls back to the
per-parameter rule (a parameter without a gradient) updates them in place as well. A pack is made only
for state it creates (a fresh group) or that ``load_state_dict`` creates: a state tensor someone may
hold is never replaced by a view. Before each step the pack checks that the group, its parameters and
their state are still the ones it laid out; otherwise the step is per parameter.
"""
from __future__ import annotations

from operator import is_
from typing import Any

import numpy as np

from kittygrad_core import Tensor
from kittygrad_core.extend import wrap, write_

#: The flat update copies each gradient and parameter in and each result out; the per-parameter one
#: costs about 12 us of calls per parameter. Past this mean size per parameter the copies cost more.
MAX_MEAN_SIZE = 1 << 14


class Pack:
    """A parameter group's parameters, gradients and state, laid end to end."""

    __slots__ = ("group", "params", "shapes", "slices", "dtype", "param_flat", "grad_flat", "flat_state",
                 "counts", "dicts", "entries")

    def __init__(self, group: dict[str, Any], params: list[Tensor], dicts: list[dict[str, Any]]) -> None:
        self.group, self.params, self.dicts = group, params, dicts
        self.shapes = [p.numpy().shape for p in params]
        self.dtype = params[0].numpy().dtype
        ends = np.cumsum([p.numpy().size for p in params]).tolist()
        self.slices = [slice(start, end) for start, end in zip([0] + ends, ends)]
        self.param_flat = np.empty(ends[-1], self.dtype)
        self.grad_flat = np.empty(ends[-1], self.dtype)
        self.flat_state: dict[str, Any] = {}
        # Each 0-d entry (a step count) of the parameters' state is a view of one element of an array per
        # name, so that one call checks that they all equal the flat count and one call moves them.
        self.counts: dict[str, np.ndarray] = {}
        # Per parameter, every state entry the pack made (the values of its state dict, in order), for
        # the identity checks of ready().
        self.entries: list[tuple[Tensor, ...]] = [() for _ in params]

    @classmethod
    def fresh(cls, state: dict[Any, dict[str, Any]], group: dict[str, Any]) -> Pack | None:
        """A pack for ``group`` if it has at least two parameters of one floating dtype, small enough,
        none with state yet; else ``None``."""
        params = list(group["params"])
        if len(params) < 2 or any(state.get(p) for p in params):
            return None
        arrays = [p.numpy() for p in params]
        if any(a.dtype is not arrays[0].dtype for a in arrays):
            return None
        if sum(a.size for a in arrays) > MAX_MEAN_SIZE * len(params):
            return None
        return cls(group, params, [])  # the state dicts are made at the first step (ready())

    @classmethod
    def loaded(cls, state: dict[Any, dict[str, Any]], group: dict[str, Any]) -> Pack | None:
        """A pack adopting the state ``load_state_dict`` has just made for ``group`` (no one holds those
        tensors yet), if every parameter's state has the same entries and the same step; else ``None``."""
        params = list(group["params"])
        first = state.get(params[0]) if params else None
        if not first:
            return None
        pack = cls.fresh({}, group)
        if pack is None:
            return None
        names = sorted(first)
        for p, shape in zip(params, pack.shapes):
            entries = state.get(p)
            if not entries or sorted(entries) != names:
                return None
            for name in names:
                value, model = entries[name], first[name]
                if not isinstance(value, Tensor):
                    return None
                data = value.numpy()
                if data.ndim == 0:  # a step count: the same for every parameter
                    if model.numpy().ndim or data != model.numpy():
                        return None
                elif data.shape != shape or data.dtype is not pack.dtype:
                    return None
        pack.dicts = [state[p] for p in params]
        for name in names:
            if first[name].numpy().ndim == 0:
                pack.flat_state[name] = wrap(first[name].numpy().copy())
            else:
                pack.flat_state[name] = wrap(np.concatenate([state[p][name].numpy().reshape(-1) for p in params]))
        for entries in pack.dicts:
            entries.clear()  # refilled by _share_new_state() in the flat state's order (ready() checks it)
        pack._share_new_state()
        return pack

    def ready(self, state: dict[Any, dict[str, Any]]) -> bool:
        """Whether the group, its parameters and their state are as laid out, every parameter has a
        gradient of its shape and dtype and every step count is the pack's; gathers the gradients."""
        params = self.group["params"]
        if len(params) != len(self.params):
            return False
        dtype, fresh = self.dtype, not self.dicts
        grads, datas = [], []
        for i, p in enumerate(params):
            grad, shape = p.grad, self.shapes[i]
            if p is not self.params[i] or grad is None:
                return False
            g, data = grad.numpy(), p.numpy()
            if g.shape != shape or g.dtype is not dtype or data.shape != shape:
                return False
            grads.append(g.reshape(-1))
            datas.append(data.reshape(-1))
            if fresh:  # made by fresh() in this very step: no state to check yet
                continue
            entries, mine = state.get(p), self.entries[i]
            if entries is not self.dicts[i] or len(entries) != len(mine) or not all(map(is_, entries.values(), mine)):
                return False
        for name, counts in self.counts.items():  # unequal after a step per parameter, or a write
            if (counts != self.flat_state[name].numpy()).any():
                return False
        if fresh:  # a parameter gets state when it is first stepped, as in torch
            self.dicts = [state.setdefault(p, {}) for p in params]
        np.concatenate(grads, out=self.grad_flat)
        np.concatenate(datas, out=self.param_flat)
        return True

    def finish(self, new: np.ndarray) -> None:
        """Writes the group's new values (a flat array) into its parameters and brings the parameters'
        step counts and state entries up to the flat state's."""
        for p, where, shape in zip(self.params, self.slices, self.shapes):
            write_(p, new[where].reshape(shape))
        if len(self.entries[0]) != len(self.flat_state):
            self._share_new_state()
        for name, counts in self.counts.items():
            counts.fill(self.flat_state[name].numpy())

    def _share_new_state(self) -> None:
        """Gives each parameter its entry of every flat state buffer it has none of yet: a view of its
        slice, or of its element of the name's count array (kept equal to the flat count by finish())."""
        known = set(self.dicts[0])
        for name, tensor in self.flat_state.items():
            if name in known:
                continue
            data = tensor.numpy()
            if data.ndim == 0:
                counts = self.counts[name] = np.full(len(self.params), data)
                views = [counts[i:i + 1].reshape(()) for i in range(len(self.params))]
            else:
                views = [data[where].reshape(shape) for where, shape in zip(self.slices, self.shapes)]
            for i, (entries, view) in enumerate(zip(self.dicts, views)):
                entries[name] = wrap(view)
                self.entries[i] += (entries[name],)
