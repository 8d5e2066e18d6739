"""Smoke tests: kittygrad-nn is installed and registered as a kittygrad plugin."""

import importlib
import importlib.metadata as md
import types

DIST = "kittygrad-nn"
PKG = "kittygrad_nn"
EP_NAME = "nn"


def _entry_point():
    eps = [ep for ep in md.entry_points(group="kittygrad") if ep.name == EP_NAME]
    assert len(eps) == 1, f"expected exactly one 'kittygrad' entry point named {EP_NAME!r}, got {eps}"
    return eps[0]


def test_package_imports():
    pkg = importlib.import_module(PKG)
    assert pkg.__doc__ and pkg.__doc__.strip()
    assert pkg.__all__ == []


def test_distribution_metadata():
    dist = md.distribution(DIST)
    assert dist.version == "0.1.0"
    requires = [r.split(";")[0].replace(" ", "") for r in (dist.requires or [])]
    assert any(r.startswith("kittygrad-core") for r in requires), requires


def test_entry_point_registered_and_loads():
    ep = _entry_point()
    assert ep.value == f"{PKG}.plugin"
    assert ep.dist is not None and ep.dist.name == DIST
    module = ep.load()
    assert isinstance(module, types.ModuleType)
    assert module.__name__ == f"{PKG}.plugin"
    assert module is importlib.import_module(f"{PKG}.plugin")
