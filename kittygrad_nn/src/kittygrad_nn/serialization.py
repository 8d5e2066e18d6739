"""``save`` / ``load``: (nested) state dicts in a NumPy ``.npz`` file, loaded with ``allow_pickle=False``.

The file holds one array per tensor or array leaf and a JSON description of the structure (dicts,
lists, tuples, numbers, strings, ``None``), so loading a file never runs code.
"""
from __future__ import annotations

import json
import os
from typing import Any, BinaryIO

import numpy as np

from kittygrad_core import Tensor

__all__ = ["load", "save"]

_STRUCTURE = "__kittygrad_structure__"
_FORMAT = 1
_KEY_TYPES = {"str": str, "int": int, "float": float, "bool": lambda v: bool(v), "none": lambda v: None}


def _key(key: Any) -> list:
    if key is None:
        return ["none", None]
    if isinstance(key, bool):  # before int: a bool is an int
        return ["bool", key]
    if isinstance(key, (int, np.integer)):
        return ["int", int(key)]
    if isinstance(key, float):
        return ["float", key]
    if isinstance(key, str):
        return ["str", key]
    raise TypeError(f"save(): dict keys must be str, int, float, bool or None, got {type(key).__name__}")


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, Tensor):
        ref = f"a{len(arrays)}"
        arrays[ref] = obj._data
        return {"tensor": ref, "requires_grad": obj.requires_grad}
    if isinstance(obj, (np.ndarray, np.generic)):
        array = np.asarray(obj)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"save(): cannot save an array of dtype {array.dtype} without pickle")
        ref = f"a{len(arrays)}"
        arrays[ref] = array
        return {"array": ref, "scalar": isinstance(obj, np.generic)}
    if isinstance(obj, dict):
        return {"dict": [[_key(k), _encode(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"tuple" if isinstance(obj, tuple) else "list": [_encode(v, arrays) for v in obj]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    raise TypeError(f"save(): cannot save an object of type {type(obj).__name__}; save tensors, arrays, "
                    "numbers, strings and dicts, lists or tuples of them")


def save(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """Saves ``obj`` (a state dict, or nested dicts, lists and tuples of tensors, arrays, numbers and
    strings) to ``f``, a path or a binary file, in NumPy's ``.npz`` format."""
    arrays: dict[str, np.ndarray] = {}
    structure = {"format": _FORMAT, "root": _encode(obj, arrays)}
    arrays[_STRUCTURE] = np.array(json.dumps(structure))
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as file:  # a file object: np.savez would otherwise append ".npz" to the name
            np.savez(file, **arrays)
    else:
        np.savez(f, **arrays)


def _decode(node: Any, arrays: Any) -> Any:
    if "tensor" in node:
        return Tensor(arrays[node["tensor"]], requires_grad=node["requires_grad"])
    if "array" in node:
        array = arrays[node["array"]]
        return array[()] if node["scalar"] else array
    if "dict" in node:
        return {_KEY_TYPES[kind](key): _decode(value, arrays) for (kind, key), value in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays) for v in node["tuple"])
    return node["value"]


def load(f: str | os.PathLike | BinaryIO, map_location: Any = None, *, weights_only: bool = True) -> Any:
    """Loads what :func:`save` wrote. Uses ``numpy.load(..., allow_pickle=False)``: no code runs."""
    with np.load(f, allow_pickle=False) as arrays:
        if _STRUCTURE not in arrays.files:
            raise ValueError(f"load(): {f!r} is not a file written by kittygrad.save (no structure entry)")
        structure = json.loads(str(arrays[_STRUCTURE]))
        if structure.get("format") != _FORMAT:
            raise ValueError(f"load(): unsupported format {structure.get('format')!r}")
        return _decode(structure["root"], {name: arrays[name] for name in arrays.files})
