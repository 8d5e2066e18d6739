"""``torch.utils.data`` for kittygrad (exposed as ``kitty.utils.data``): ``TensorDataset`` and ``DataLoader``."""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

import kittygrad_core as _core
from kittygrad_core import Tensor
from kittygrad_core.extend import wrap

__all__ = ["DataLoader", "Dataset", "TensorDataset", "default_collate"]


class Dataset:
    """A map-style dataset: ``dataset[i]`` is one sample and ``len(dataset)`` the number of samples."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


def _take(data: Any, index: Any) -> Any:
    if isinstance(data, Tensor):
        array = data.numpy()[index]
        if isinstance(index, np.ndarray):
            array = array.copy()
        elif not isinstance(array, np.ndarray):  # one element of a 1-d tensor: a NumPy scalar
            array = np.asarray(array)
        return wrap(array)
    return data[index]


class TensorDataset(Dataset):
    """Samples of several tensors (or NumPy arrays) indexed along their first dim.

    ``dataset[i]`` is ``(t[i] for t in tensors)``. Arrays stay arrays, so integer class labels can be
    kept as an int array.
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = {len(t) for t in tensors}
        if len(sizes) != 1:
            raise ValueError(f"Size mismatch between tensors: first dims {[len(t) for t in tensors]}")
        self.tensors = tensors

    def __getitem__(self, index: Any) -> tuple:
        return tuple(_take(t, index) for t in self.tensors)

    def __getitems__(self, indices: Sequence[int]) -> tuple:
        """A whole batch at once (what ``DataLoader`` uses): one fancy index per tensor, no stacking."""
        index = np.asarray(indices, dtype=np.int64)
        return tuple(_take(t, index) for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])


def default_collate(batch: list) -> Any:
    """Stacks a list of samples: tensors and arrays along a new first dim, numbers into arrays, and
    tuples, lists and dicts element by element."""
    first = batch[0]
    if isinstance(first, Tensor):
        return wrap(np.stack([t.numpy() for t in batch]))
    if isinstance(first, (np.ndarray, np.generic)):
        return np.stack(batch)
    if isinstance(first, bool) or isinstance(first, int):
        return np.asarray(batch, dtype=np.int64)
    if isinstance(first, float):
        return wrap(np.asarray(batch, dtype=np.float32))
    if isinstance(first, dict):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(items)) for items in zip(*batch)) \
            if isinstance(first, list) else tuple(default_collate(list(items)) for items in zip(*batch))
    return batch


class DataLoader:
    """Iterates over a dataset in batches.

    Args:
        dataset: a map-style dataset (``TensorDataset`` batches with one fancy index per tensor).
        batch_size (int): samples per batch (``None``: one sample at a time, not collated).
        shuffle (bool): draw a new permutation at every epoch.
        drop_last (bool): drop the last incomplete batch.
        generator: a ``numpy.random.Generator`` or an int seed for shuffling; by default
            ``kittygrad_core.generator()``, so ``kitty.manual_seed`` makes shuffling reproducible.
        collate_fn: turns a list of samples into a batch (``default_collate``).
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool = False,
                 drop_last: bool = False, generator: Any = None,
                 collate_fn: Callable[[list], Any] | None = None) -> None:
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.generator = np.random.default_rng(generator) if isinstance(generator, (int, np.integer)) \
            else generator
        self.collate_fn = collate_fn

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self.generator if self.generator is not None else _core.generator()
        return rng.permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield self.dataset[int(i)]
            return
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            if self.drop_last and len(indices) < self.batch_size:
                return
            if self.collate_fn is None and hasattr(self.dataset, "__getitems__"):
                yield self.dataset.__getitems__(indices)
            else:
                samples = [self.dataset[int(i)] for i in indices]
                yield (self.collate_fn or default_collate)(samples)

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
