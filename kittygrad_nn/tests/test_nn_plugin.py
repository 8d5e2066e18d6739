"""kittygrad-nn is installed, registered as a kittygrad plugin, and its ops come from it."""

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
    assert {"Module", "Linear", "functional", "optim", "save", "load"} <= set(pkg.__all__)


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


def test_hook_returns_the_nn_ops_and_they_are_registered():
    import kittygrad_core
    from kittygrad_nn import plugin
    from kittygrad_nn.ops import OPS

    assert plugin.kittygrad_register_ops() == list(OPS)
    for op in OPS:
        assert kittygrad_core.registry.owner(op.name) == DIST, op.name


def test_losses_are_module_functions_only_where_torch_has_them():
    import kittygrad_core
    for name in ("mse_loss", "cross_entropy", "dropout", "layer_norm", "batch_norm", "embedding"):
        assert callable(getattr(kittygrad_core, name))
    assert not hasattr(kittygrad_core.Tensor, "mse_loss")


def test_pyproject_declares_every_public_name_so_a_missing_plugin_is_named():
    from pathlib import Path

    from kittygrad_core.testing import check_provides
    check_provides(DIST, Path(__file__).resolve().parents[1] / "pyproject.toml")
