"""Bad plugins, the cases test_plugins.py does not cover: broken backward rules of a loaded plugin, and
every kind of bad plugin installed at once, which must neither stop ``import kittygrad_core`` (nor the
umbrella ``import kittygrad``: tests/test_umbrella.py runs the same check through it) nor corrupt a good
plugin's ops."""
import os
import pathlib
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

import kittygrad_core as kitty

SRC = pathlib.Path(kitty.__file__).parent.parent


class FakeEntryPoint:
    """An entry point of a distribution that is not installed (as in test_plugins.py)."""

    group = kitty.ENTRY_POINT_GROUP

    def __init__(self, name, plugin, dist):
        self.name, self._plugin = name, plugin
        self.dist = types.SimpleNamespace(name=dist, version="1.0")

    def load(self):
        return self._plugin


def record(name, backward):
    def forward(self, xp, input):
        return input * 2

    return type(name.title().replace("_", ""), (kitty.Op,), {"name": name, "forward": forward,
                                                            "backward": backward})


BROKEN_RULES = {
    "wrong_count": (lambda self, xp, grad: (grad * 2, grad), r"returned 2 gradients for 1 inputs"),
    "wrong_shape": (lambda self, xp, grad: grad[..., None] * 2, r"gradient of shape \(3, 1\) for input 0, "
                                                                r"whose shape is \(3,\)"),
    "wrong_dtype": (lambda self, xp, grad: (grad * 2).astype(np.float64), r"gradient of dtype float64 for "
                                                                          r"input 0, whose dtype is float32"),
    "int_grad": (lambda self, xp, grad: np.ones(grad.shape, np.int64), r"expected a floating array"),
}


@pytest.fixture
def host(monkeypatch):
    for name in ("KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD", "KITTYGRAD_PLUGINS", "KITTYGRAD_BLOCK_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    tensor_type = type("FakeTensor", (kitty.Tensor,), {"__slots__": ()})
    return kitty.PluginHost(kitty.OpRegistry(types.ModuleType("fake"), tensor_type))


def plugin_module(name, *ops):
    module = types.ModuleType(name)
    module.kittygrad_register_ops = kitty.hookimpl(lambda: list(ops))
    module.kittygrad_register_ops.__name__ = "kittygrad_register_ops"
    return module


@pytest.mark.parametrize("op_name", sorted(BROKEN_RULES))
def test_a_plugins_broken_backward_names_the_op_the_plugin_and_its_distribution(host, op_name):
    backward, message = BROKEN_RULES[op_name]
    good = record("good", lambda self, xp, grad: grad * 2)
    host.load_entry_points(entry_points=[
        FakeEntryPoint("goodplug", plugin_module("goodplug", good), "dist-good"),
        FakeEntryPoint("badplug", plugin_module("badplug", record(op_name, backward)), "dist-bad"),
    ])
    module = host.registry._module
    x = kitty.tensor([1., 2., 3.], requires_grad=True)
    y = getattr(module, op_name)(x)
    with pytest.raises(RuntimeError, match=rf"of op '{op_name}' \(registered by dist-bad, plugin 'badplug'\)"
                                           rf".*{message}"):
        y.backward(kitty.ones(3))
    # the good plugin's op is untouched and still differentiates
    x = kitty.tensor([1., 2., 3.], requires_grad=True)
    module.good(x).backward(kitty.ones(3))
    assert x.grad.tolist() == [2., 2., 2.]


def test_a_runtime_registration_without_provenance_is_described_by_op_only():
    node = type("Lonely", (kitty.Op,), {"name": "lonely"})
    assert node()._describe() == "Lonely of op 'lonely'"
    assert type("P", (node,), {"plugin": "p"})()._describe() == "P of op 'lonely' (registered by plugin 'p')"


# ----------------------------------------------------------------------------- all of them, installed


PLUGINS = {  # module -> (distribution, source)
    "good_plugin": ("dist-a-good", """
        import kittygrad_core

        class Good(kittygrad_core.Op):
            name = "good_op"
            def forward(self, xp, input):
                return input * 3
            def backward(self, xp, grad):
                return grad * 3

        @kittygrad_core.hookimpl
        def kittygrad_register_ops():
            return [Good]
    """),
    "no_import": ("dist-b-import", "import module_that_does_not_exist\n"),
    "hook_raises": ("dist-c-raises", """
        import kittygrad_core

        @kittygrad_core.hookimpl
        def kittygrad_register_ops():
            raise ValueError("boom in the hook")
    """),
    "name_taken": ("dist-d-clash", """
        import kittygrad_core

        class Impostor(kittygrad_core.Op):
            name = "good_op"
            def forward(self, xp, input):
                return input * 0

        @kittygrad_core.hookimpl
        def kittygrad_register_ops():
            return [Impostor]
    """),
    "misspelled": ("dist-e-typo", """
        import kittygrad_core

        @kittygrad_core.hookimpl
        def kittygrad_register_op():
            return []
    """),
    "bad_backward": ("dist-f-backward", """
        import kittygrad_core

        class Bad(kittygrad_core.Op):
            name = "bad_op"
            def forward(self, xp, input):
                return input * 2
            def backward(self, xp, grad):
                return grad, grad

        @kittygrad_core.hookimpl
        def kittygrad_register_ops():
            return [Bad]
    """),
}

CHECK = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import {module} as k
import kittygrad_core
for w in caught:
    if issubclass(w.category, kittygrad_core.PluginWarning):
        print("WARNING", w.message)
x = kittygrad_core.tensor([1., 2.], requires_grad=True)
k.good_op(x).backward(kittygrad_core.ones(2))
print("GOOD", k.good_op(kittygrad_core.tensor([1.])).tolist(), x.grad.tolist())
try:
    kittygrad_core.bad_op(kittygrad_core.tensor([1.], requires_grad=True)).backward(kittygrad_core.ones(1))
except RuntimeError as error:
    print("BACKWARD", error)
x = kittygrad_core.tensor([1., 2.], requires_grad=True)
k.good_op(x).backward(kittygrad_core.ones(2))
print("STILL GOOD", x.grad.tolist())
"""


@pytest.fixture
def installed_bad_plugins(tmp_path):
    """Every module of PLUGINS installed as its own distribution (a .dist-info on PYTHONPATH)."""
    for module, (dist, source) in PLUGINS.items():
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[kittygrad]\n{module} = {module}\n")
    return tmp_path


def run(path, module, **env):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(path)]), **env}
    if "KITTYGRAD_PLUGINS" not in env:  # conftest disables autoloading for this process, not this check
        env.pop("KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD", None)
    result = subprocess.run([sys.executable, "-c", CHECK.format(module=module)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def check_output(out):
    warnings = [line for line in out.splitlines() if line.startswith("WARNING")]
    expected = [
        "plugin 'no_import' (distribution 'dist-b-import') failed to import: ModuleNotFoundError",
        "plugin 'hook_raises' (distribution 'dist-c-raises') raised in kittygrad_register_ops: "
        "ValueError('boom in the hook')",
        "plugin 'name_taken' (distribution 'dist-d-clash'): op 'good_op' was not registered: op 'good_op' "
        "from distribution 'dist-d-clash' (plugin 'name_taken') clashes with op 'good_op' from distribution "
        "'dist-a-good' (plugin 'good_plugin')",
        "plugin 'misspelled' (distribution 'dist-e-typo') implements unknown hook(s) "
        "['kittygrad_register_op']",
    ]
    for text in expected:
        assert sum(text in w for w in warnings) == 1, (text, warnings)
    assert len(warnings) == len(expected), warnings
    assert "GOOD [3.0] [3.0, 3.0]" in out
    assert ("BACKWARD BadBackward of op 'bad_op' (registered by dist-f-backward, plugin 'bad_backward') "
            "returned 2 gradients for 1 inputs.") in out
    assert "STILL GOOD [3.0, 3.0]" in out


def test_bad_plugins_neither_stop_import_kittygrad_core_nor_corrupt_a_good_plugin(installed_bad_plugins):
    out = run(installed_bad_plugins, "kittygrad_core", KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD="1",
              KITTYGRAD_PLUGINS=",".join(PLUGINS))
    check_output(out)

