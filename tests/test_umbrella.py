"""`import kittygrad as kitty` gives the original kittygrad's API, and the README examples run."""
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kittygrad as kitty
import kittygrad_core

ROOT = Path(__file__).resolve().parent.parent


def test_umbrella_reexports_core_and_ops():
    for name in ("tensor", "Tensor", "randn", "manual_seed", "no_grad", "Function", "float64",
                 "dot", "matmul", "exp", "log", "std", "var", "mean", "sum"):
        assert getattr(kitty, name) is getattr(kittygrad_core, name), name
    assert "dot" in dir(kitty)


def test_readme_gradient_example_through_the_umbrella():
    a = kitty.tensor([1, 2, 3], requires_grad=True)
    b = a.std()
    b.retain_grad()
    c = b * kitty.dot(a, a)
    assert repr(c) == "tensor(14., grad_fn=<MulBackward>)"
    c.backward()
    assert repr(a.grad) == "tensor([-5.,  4., 13.])"
    assert repr(b.grad) == "tensor(14.)"


def test_main_job_script_runs():
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "readme_examples.py")],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    lines = result.stdout.splitlines()
    assert lines[1:4] == ["tensor(14., grad_fn=<MulBackward>)", "tensor([-5.,  4., 13.])", "tensor(14.)"]
    assert "grad_fn=<MulBackward>" in result.stdout.split("== graph example ==")[1]


def test_umbrella_exposes_nn_optim_data_and_saving():
    import kittygrad_nn
    assert kitty.save is kittygrad_nn.save and kitty.load is kittygrad_nn.load
    assert kitty.nn is kittygrad_nn and kitty.optim is kittygrad_nn.optim
    assert kitty.utils.data is kittygrad_nn.data
    import kittygrad.nn.functional as F
    assert F.mse_loss is kittygrad_nn.functional.mse_loss


def test_bad_plugins_do_not_stop_import_kittygrad(tmp_path):
    # The core session's check, through the umbrella with every installed plugin autoloading.
    spec = importlib.util.spec_from_file_location(
        "core_bad_plugins", ROOT / "kittygrad_core" / "tests" / "test_bad_plugins.py")
    bad = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bad)
    out = bad.run(bad.installed_bad_plugins.__wrapped__(tmp_path), "kittygrad")
    bad.check_output(out)


@pytest.mark.parametrize("first", ["kittygrad_ops", "kittygrad_nn", "kittygrad_viz"])
def test_importing_a_plugin_package_first_loses_no_op(first):
    # the plugin package imports kittygrad_core, whose autoload meets the package half-imported: its
    # entry point is deferred (no warning) and loads with `import kittygrad` or the first tensor
    code = textwrap.dedent(f"""
        import {first}
        import kittygrad_core
        x = kittygrad_core.tensor([1.0, 2.0], requires_grad=True)
        (x * 2).exp().sum().backward()  # an operator first: no __getattr__ on the way
        import kittygrad as kitty
        assert kitty.plugins.deferred == [], kitty.plugins.deferred
        assert {{"ops", "nn", "viz"}} <= set(kitty.plugins.plugins), kitty.plugins.plugins
        print(kitty.mul(x, 3).tolist(), [round(g, 4) for g in x.grad.tolist()], kitty.nn.functional.relu(x).tolist())
    """)
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == "[3.0, 6.0] [14.7781, 109.1963] [1.0, 2.0]".split()
