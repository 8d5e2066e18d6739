"""Whole-set checks: every kittygrad distribution is installed and its plugin is registered."""

import importlib.metadata as md

import pytest

DISTRIBUTIONS = ["kittygrad", "kittygrad-core", "kittygrad-ops", "kittygrad-viz", "kittygrad-nn"]
PLUGINS = {  # entry point name in group "kittygrad" -> (distribution, module)
    "ops": ("kittygrad-ops", "kittygrad_ops.plugin"),
    "viz": ("kittygrad-viz", "kittygrad_viz.plugin"),
    "nn": ("kittygrad-nn", "kittygrad_nn.plugin"),
}


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_distribution_installed(name):
    assert md.version(name) == "0.1.0"


def test_umbrella_requires_every_part():
    requires = {r.split(";")[0].strip() for r in md.requires("kittygrad") or []}
    assert {"kittygrad-core", "kittygrad-ops", "kittygrad-viz", "kittygrad-nn"} <= requires


@pytest.mark.parametrize("ep_name", sorted(PLUGINS))
def test_plugin_entry_point_loads(ep_name):
    dist, module = PLUGINS[ep_name]
    eps = [ep for ep in md.entry_points(group="kittygrad") if ep.name == ep_name]
    assert len(eps) == 1, eps
    assert eps[0].value == module
    assert eps[0].dist.name == dist
    assert eps[0].load().__name__ == module


def test_console_script_registered():
    scripts = {ep.name: ep.value for ep in md.entry_points(group="console_scripts")}
    assert scripts.get("kittygrad") == "kittygrad_core.__main__:main"


def test_without_kittygrad_ops_the_umbrella_names_itself_the_op_and_the_distribution():
    import os
    import subprocess
    import sys
    code = """
import kittygrad as kitty
for use in (lambda: kitty.exp, lambda: kitty.tensor([1.]) + 1, lambda: kitty.no_such_function):
    try:
        use()
    except AttributeError as error:
        print(type(error).__name__, "|", error)
print(hasattr(kitty, "exp"), hasattr(kitty.tensor([1.]), "exp"))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                            env=dict(os.environ, KITTYGRAD_BLOCK_PLUGINS="ops", PYTHONWARNINGS="ignore"))
    exp, add, other, has = result.stdout.splitlines()
    assert exp.startswith("MissingOpError | module 'kittygrad' has no attribute 'exp': 'exp' belongs to op "
                          "'exp' of the distribution 'kittygrad-ops', whose plugin is not loaded: blocked "
                          "(KITTYGRAD_BLOCK_PLUGINS)"), result.stdout + result.stderr
    assert "pip install kittygrad-ops" in exp
    assert add.startswith("MissingOpError | 'Tensor' object has no operator + ('__add__'): '__add__' belongs "
                          "to op 'add' of the distribution 'kittygrad-ops'")
    assert other == "AttributeError | module 'kittygrad' has no attribute 'no_such_function'"
    assert has == "False False"
