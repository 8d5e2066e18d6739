"""Entry points of installed distributions, found without importing ``importlib.metadata``.

``importlib.metadata`` imports ``email``, ``zipfile``, ``csv`` and more: about 30 ms, a sixth of
``import kittygrad``. Plugin discovery needs only the ``entry_points.txt`` files of the ``*.dist-info``
and ``*.egg-info`` directories on ``sys.path`` (and the name and version of the distributions that
declare the group), which this module reads as ``importlib.metadata.entry_points(group=...)`` does:
path order, the first distribution of a (normalised) name wins. Anything it does not handle (a zip
archive on ``sys.path``, a meta-path finder with distributions of its own, an unreadable file) makes it
defer to ``importlib.metadata``. tests/test_distributions.py holds the two equal.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from typing import Any

_SUFFIXES = (".dist-info", ".egg-info")


class Distribution:
    """The name and version of an installed distribution, from its metadata file's headers."""

    __slots__ = ("name", "version")

    def __init__(self, name: str, version: str | None) -> None:
        self.name, self.version = name, version


class EntryPoint:
    """One ``name = module:attr`` entry of a group, with ``load()`` as ``importlib.metadata``'s."""

    __slots__ = ("name", "value", "group", "dist")

    def __init__(self, name: str, value: str, group: str, dist: Distribution) -> None:
        self.name, self.value, self.group, self.dist = name, value, group, dist

    @property
    def module(self) -> str:
        """The module part of the value."""
        return self.value.partition(":")[0].strip()

    @property
    def attr(self) -> str:
        """The attribute part of the value ('' when it names a module)."""
        return self.value.partition(":")[2].partition("[")[0].strip()

    def load(self) -> Any:
        """Imports the module and returns the attribute the entry names (or the module)."""
        target = importlib.import_module(self.module)
        for part in filter(None, self.attr.split(".")):
            target = getattr(target, part)
        return target

    def __repr__(self) -> str:
        return f"EntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


class _Unsupported(Exception):
    """Something on sys.path that only importlib.metadata reads."""


def entry_points(group: str) -> list[Any]:
    """The entry points of ``group`` of the distributions installed on ``sys.path``."""
    try:
        return _scan(group)
    except (_Unsupported, OSError, UnicodeDecodeError, ValueError):
        from importlib import metadata  # the complete implementation, on the rare path only
        return list(metadata.entry_points(group=group))


def _scan(group: str) -> list[EntryPoint]:
    if any(hasattr(finder, "find_distributions") and not _is_path_finder(finder) for finder in sys.meta_path):
        raise _Unsupported  # a finder that brings distributions of its own (editable installs' may)
    found: list[EntryPoint] = []
    seen: set[str] = set()
    for entry in sys.path:
        directory = entry or "."
        if not os.path.isdir(directory) or directory.lower().endswith(".egg"):
            if os.path.exists(directory):
                raise _Unsupported  # a zip archive, an egg
            continue
        for child in os.listdir(directory):
            stem, suffix = os.path.splitext(child)
            if suffix.lower() not in _SUFFIXES:
                continue
            key = _normalise(stem.partition("-")[0])
            if key in seen:
                continue
            seen.add(key)
            path = os.path.join(directory, child)
            if not os.path.isdir(path):
                raise _Unsupported  # an .egg-info file
            entries = _read_group(os.path.join(path, "entry_points.txt"), group)
            if entries:
                dist = _distribution(path)
                found += [EntryPoint(name, value, group, dist) for name, value in entries]
    return found


def _is_path_finder(finder: Any) -> bool:
    return getattr(finder, "__name__", "") == "PathFinder" or type(finder).__name__ == "PathFinder"


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _read_group(path: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of section ``[group]`` of an entry_points.txt (none if no file)."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        return []
    entries, inside = [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[" and line[-1] == "]":
            inside = line[1:-1].strip() == group
        elif inside:
            name, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path}: {line!r} is not 'name = value'")
            entries.append((name.strip(), value.strip()))
    return entries


def _distribution(path: str) -> Distribution:
    """Name and version from the METADATA (or PKG-INFO) headers of a distribution directory."""
    for file_name in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(path, file_name), encoding="utf-8") as file:
                headers: dict[str, str] = {}
                for line in file:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    key, sep, value = line.partition(":")
                    if sep and key in ("Name", "Version") and key not in headers:
                        headers[key] = value.strip()
        except FileNotFoundError:
            continue
        if "Name" in headers:
            return Distribution(headers["Name"], headers.get("Version"))
    raise _Unsupported(path)
