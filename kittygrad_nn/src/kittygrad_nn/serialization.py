"""``save`` / ``load``: (nested) state dicts in a NumPy ``.npz`` file, loaded with ``allow_pickle=False``.

The file holds one array per tensor or array leaf and a JSON description of the structure (dicts,
lists, tuples, numbers, strings, ``None``), so loading a file never runs code. ``load`` treats the file
as untrusted: every malformed input raises ``ValueError`` naming the file and the fault, nesting is
limited to :data:`MAX_DEPTH` levels, and the arrays' total size to :data:`MAX_BYTES` (or ``max_bytes=``),
checked from the ``.npy`` headers before anything is decompressed or allocated.
"""
from __future__ import annotations

import json
import math
import os
import zlib
from typing import Any, BinaryIO

import numpy as np

from kittygrad_core import Tensor

__all__ = ["MAX_BYTES", "MAX_DEPTH", "load", "save"]

#: Default limit of :func:`load` on the total bytes of the arrays a file declares (256 MiB, 64M float32
#: values). Assign to change it for every call, or pass ``max_bytes=`` to one call.
MAX_BYTES = 1 << 28
#: Deepest nesting of dicts, lists and tuples :func:`save` writes and :func:`load` reads.
MAX_DEPTH = 100

_STRUCTURE = "__kittygrad_structure__"
_FORMAT = 1
_KEY_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": lambda v: bool(v), "none": lambda v: None}


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


def _encode(obj: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"save(): the object is nested more than {MAX_DEPTH} levels deep")
    if isinstance(obj, Tensor):
        ref = f"a{len(arrays)}"
        arrays[ref] = obj.numpy()
        return {"tensor": ref, "requires_grad": obj.requires_grad}
    if isinstance(obj, (np.ndarray, np.generic)):
        array = np.asarray(obj)
        if array.dtype.kind not in "biufc":
            raise TypeError(f"save(): cannot save an array of dtype {array.dtype} without pickle")
        ref = f"a{len(arrays)}"
        arrays[ref] = array
        return {"array": ref, "scalar": isinstance(obj, np.generic)}
    if isinstance(obj, dict):
        return {"dict": [[_key(k), _encode(v, arrays, depth + 1)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"tuple" if isinstance(obj, tuple) else "list": [_encode(v, arrays, depth + 1) for v in obj]}
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
            np.savez(file, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwds
    else:
        np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwds


class _Malformed(ValueError):
    """A fault in the structure entry, located by a path such as ``root['model'][0]``."""


class _BadFile(ValueError):
    """What :func:`load` raises: a ``ValueError`` whose message names the file and the fault."""


_NODE_KEYS = {"tensor": {"tensor", "requires_grad"}, "array": {"array", "scalar"}, "dict": {"dict"},
              "list": {"list"}, "tuple": {"tuple"}, "value": {"value"}}
_KEY_CHECKS: dict[str, Any] = {"str": str, "int": int, "float": (int, float), "bool": bool, "none": type(None)}


class _Decoder:
    def __init__(self, arrays: Any, sizes: dict[str, int]) -> None:
        self.arrays, self.sizes = arrays, sizes
        self.used: set[str] = set()

    def array(self, ref: Any, where: str) -> np.ndarray:
        if not isinstance(ref, str) or ref not in self.sizes or ref == _STRUCTURE:
            raise _Malformed(f"{where} refers to array {ref!r}, which the file does not hold")
        if ref in self.used:  # save() never shares one: each reference would be a copy past the limit
            raise _Malformed(f"{where} refers to array {ref!r} a second time")
        self.used.add(ref)
        return self.arrays[ref]

    def decode(self, node: Any, where: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _Malformed(f"nested more than {MAX_DEPTH} levels deep")
        if not isinstance(node, dict) or len(node) == 0:
            raise _Malformed(f"{where} must be a JSON object, got {type(node).__name__}")
        kind = next((k for k in _NODE_KEYS if k in node), None)
        if kind is None or set(node) != _NODE_KEYS[kind]:
            raise _Malformed(f"{where} has keys {sorted(node)}; expected one of "
                             f"{[sorted(keys) for keys in _NODE_KEYS.values()]}")
        if kind == "tensor":
            if not isinstance(node["requires_grad"], bool):
                raise _Malformed(f"{where}: 'requires_grad' must be true or false")
            array = self.array(node["tensor"], where)
            if array.dtype.kind != "f":
                raise _Malformed(f"{where}: a tensor must hold floats, got dtype {array.dtype}")
            return Tensor(array, requires_grad=node["requires_grad"])
        if kind == "array":
            if not isinstance(node["scalar"], bool):
                raise _Malformed(f"{where}: 'scalar' must be true or false")
            array = self.array(node["array"], where)
            if node["scalar"]:
                if array.ndim != 0:
                    raise _Malformed(f"{where}: a scalar must be a 0-d array, got shape {array.shape}")
                return array[()]
            return array
        if kind == "dict":
            items = node["dict"]
            if not isinstance(items, list):
                raise _Malformed(f"{where}: 'dict' must be a list of [[kind, key], value] pairs")
            out = {}
            for item in items:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], list)
                        and len(item[0]) == 2 and item[0][0] in _KEY_TYPES):
                    raise _Malformed(f"{where}: dict entry {str(item)[:80]} is not a [[kind, key], value] "
                                     f"pair with kind in {sorted(_KEY_TYPES)}")
                (kind_name, key), value = item
                if not isinstance(key, _KEY_CHECKS[kind_name]) or (kind_name != "bool" and isinstance(key, bool)):
                    raise _Malformed(f"{where}: dict key {key!r} does not have kind {kind_name!r}")
                key = _KEY_TYPES[kind_name](key)
                out[key] = self.decode(value, f"{where}[{key!r}]", depth + 1)
            return out
        if kind in ("list", "tuple"):
            items = node[kind]
            if not isinstance(items, list):
                raise _Malformed(f"{where}: {kind!r} must be a list")
            values = [self.decode(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(items)]
            return tuple(values) if kind == "tuple" else values
        value = node["value"]
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise _Malformed(f"{where}: 'value' must be a number, a string, true, false or null")
        return value


def _describe(f: Any) -> str:
    if isinstance(f, (str, os.PathLike)):
        return repr(os.fspath(f))
    return repr(getattr(f, "name", None) or f"<{type(f).__name__}>")


def _is_zip(f: Any) -> bool:
    """Whether ``f`` starts like a zip archive (read without consuming a file object)."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as file:
            magic = file.read(4)
    else:
        position = f.tell()
        magic = f.read(4)
        f.seek(position)
    return magic in (b"PK\x03\x04", b"PK\x05\x06")


def _declared_sizes(archive: Any, name: str) -> dict[str, int]:
    """Bytes each member will take once loaded, from its ``.npy`` header alone (nothing decompressed)."""
    sizes = {}
    for member in archive.zip.namelist():
        key = member[:-4] if member.endswith(".npy") else member
        with archive.zip.open(member) as fp:
            try:
                version = np.lib.format.read_magic(fp)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
                else:
                    raise ValueError(f"format version {version}, which load() does not read")
            except ValueError as error:
                raise _BadFile(f"load(): {name}: entry {key!r} is not a .npy array ({error})") from None
        if dtype.hasobject:
            raise _BadFile(f"load(): {name}: entry {key!r} holds Python objects (pickled data); "
                             "load() never unpickles (allow_pickle=False)")
        if dtype.kind not in ("biufcU" if key == _STRUCTURE else "biufc"):
            raise _BadFile(f"load(): {name}: entry {key!r} has dtype {dtype}, which save() never writes")
        sizes[key] = math.prod(shape) * dtype.itemsize
    return sizes


def load(f: str | os.PathLike | BinaryIO, map_location: Any = None, *, weights_only: bool = True,
         max_bytes: int | None = None) -> Any:
    """Loads what :func:`save` wrote. Uses ``numpy.load(..., allow_pickle=False)``: no code runs.

    Args:
        f: a path or a binary file object.
        map_location, weights_only: accepted for torch compatibility; kittygrad has one device and
            never loads code.
        max_bytes: the most bytes the file's arrays may take once loaded (default :data:`MAX_BYTES`,
            256 MiB), checked from the array headers before any array is read, so a small compressed
            file cannot expand into a huge allocation.

    Raises:
        ValueError: ``f`` is not a file written by :func:`save`, is malformed (wrong or missing
            entries, bad structure, nesting deeper than :data:`MAX_DEPTH`, pickled objects), or its
            arrays exceed ``max_bytes``. The message names the file and the fault.
    """
    import zipfile  # here, not at the top: numpy.load imports it anyway, `import kittygrad` need not
    limit = MAX_BYTES if max_bytes is None else max_bytes
    if not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit < 0:
        raise TypeError(f"load(): max_bytes must be a non-negative int, got {limit!r}")
    name = _describe(f)
    if not _is_zip(f):  # outside the try: a missing file stays a FileNotFoundError
        raise _BadFile(f"load(): {name} is not a file written by kittygrad.save (not an .npz archive)")
    try:
        with np.load(f, allow_pickle=False) as arrays:
            if not isinstance(arrays, np.lib.npyio.NpzFile):
                raise _BadFile(f"load(): {name} is not a file written by kittygrad.save (not an .npz archive)")
            if _STRUCTURE not in arrays.files:
                raise _BadFile(f"load(): {name} is not a file written by kittygrad.save (no structure entry)")
            sizes = _declared_sizes(arrays, name)
            total = sum(sizes.values())
            if total > limit:
                raise _BadFile(f"load(): {name} declares arrays of {total} bytes in total, more than "
                                 f"max_bytes={limit}; pass a larger max_bytes= (or set "
                                 f"kittygrad_nn.serialization.MAX_BYTES) if the file is trusted")
            text = arrays[_STRUCTURE]
            if text.ndim != 0:
                raise _BadFile(f"load(): {name}: the structure entry must be a 0-d string array, got "
                                 f"shape {text.shape}")
            try:
                structure = json.loads(str(text))
            except RecursionError:
                raise _BadFile(f"load(): {name}: the structure entry is nested too deeply") from None
            except ValueError as error:
                raise _BadFile(f"load(): {name}: the structure entry is not valid JSON ({error})") from None
            if not isinstance(structure, dict) or "root" not in structure:
                raise _BadFile(f"load(): {name}: the structure entry must be an object with 'format' "
                                 "and 'root'")
            if structure.get("format") != _FORMAT:
                raise _BadFile(f"load(): {name}: unsupported format {structure.get('format')!r} "
                                 f"(this version reads format {_FORMAT})")
            decoder = _Decoder(arrays, sizes)
            try:
                return decoder.decode(structure["root"], "root", 0)
            except _Malformed as error:
                raise _BadFile(f"load(): {name}: malformed structure: {error}") from None
    except _BadFile:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
        # truncated or corrupted archives surface from zipfile and numpy as any of these
        raise _BadFile(f"load(): {name} is corrupted or truncated ({type(error).__name__}: {error})") from None
