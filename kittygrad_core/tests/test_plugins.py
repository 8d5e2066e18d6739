"""Plugin discovery with fake distributions, the environment switches, the listing, the hook API."""
import inspect
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import types

import pytest

import kittygrad_core as kitty
from kittygrad_core import hookspecs

TESTS = pathlib.Path(__file__).parent
SRC = pathlib.Path(kitty.__file__).parent.parent


class FakeDist:
    def __init__(self, name, version="1.0"):
        self.name, self.version = name, version


class FakeEntryPoint:
    """What ``importlib.metadata`` gives for one entry point, without installing anything."""

    group = kitty.ENTRY_POINT_GROUP

    def __init__(self, name, plugin, dist="dist-x", version="1.0"):
        self.name, self._plugin, self.dist = name, plugin, FakeDist(dist, version)
        self.loaded = False

    def load(self):
        self.loaded = True
        if isinstance(self._plugin, BaseException):
            raise self._plugin
        return self._plugin


def op_named(name, value=1.):
    """A tiny op record whose forward returns ``value`` everywhere, to tell look-alikes apart."""
    def forward(self, xp, input):
        return xp.full_like(input, value)
    return type(name.capitalize(), (kitty.Op,), {"name": name, "__doc__": f"Returns {value}.",
                                                 "forward": forward})


def plugin_module(name, *ops):
    """A plugin module whose ``kittygrad_register_ops`` returns ``ops``."""
    module = types.ModuleType(name)

    @kitty.hookimpl
    def kittygrad_register_ops():
        return list(ops)

    module.kittygrad_register_ops = kittygrad_register_ops
    return module


@pytest.fixture
def tensor_type():
    return type("FakeTensor", (kitty.Tensor,), {"__slots__": ()})


@pytest.fixture
def module():
    return types.ModuleType("fake")


@pytest.fixture
def host(module, tensor_type, monkeypatch):
    for name in ("KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD", "KITTYGRAD_PLUGINS", "KITTYGRAD_BLOCK_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return kitty.PluginHost(kitty.OpRegistry(module, tensor_type))


# ----------------------------------------------------------------------------- entry points


def test_entry_points_register_ops_with_provenance(host, module):
    host.load_entry_points(entry_points=[
        FakeEntryPoint("one", plugin_module("one", op_named("first")), "dist-one", "1.2"),
        FakeEntryPoint("two", plugin_module("two", op_named("second"), op_named("third")), "dist-two"),
    ])
    assert host.registry.names() == ["first", "second", "third"]
    assert host.registry.owner("first") == "dist-one"
    assert host.registry["second"].plugin == "two"
    assert host.plugins["one"] == kitty.PluginInfo("one", "dist-one", "1.2", ["first"])
    assert host.plugins["two"].ops == ["second", "third"]
    assert module.first(kitty.tensor([5.])).tolist() == [1.]
    assert host.manager.get_plugin("one") is not None


def test_a_class_can_be_a_plugin(host):
    class Plugin:
        @kitty.hookimpl
        def kittygrad_register_ops(self):
            return [op_named("from_class")]

    host.add_plugin(Plugin(), name="class-plugin")
    assert "from_class" in host.registry and host.plugins["class-plugin"].distribution is None


@pytest.mark.parametrize("order", [1, -1], ids=["a-first", "b-first"])
def test_name_clash_at_autoload_warns_and_the_alphabetically_first_distribution_wins(host, module, order):
    eps = [FakeEntryPoint("alpha", plugin_module("alpha", op_named("twin", 1.)), "dist-a"),
           FakeEntryPoint("beta", plugin_module("beta", op_named("twin", 2.)), "dist-b")][::order]
    with pytest.warns(kitty.PluginWarning, match="plugin 'beta' \\(distribution 'dist-b'\\): op 'twin' "
                                                 "was not registered: .*clashes with op 'twin' from "
                                                 "distribution 'dist-a'") as record:
        host.load_entry_points(entry_points=eps)
    assert len(record) == 1
    assert host.registry.owner("twin") == "dist-a"
    assert module.twin(kitty.tensor([0.])).tolist() == [1.]
    assert host.plugins["alpha"].ops == ["twin"] and host.plugins["beta"].ops == []


def test_name_clash_at_explicit_add_plugin_raises(host):
    host.add_plugin(plugin_module("alpha", op_named("twin")), name="alpha", distribution="dist-a")
    with pytest.raises(RuntimeError, match="clashes with op 'twin' from distribution 'dist-a'"):
        host.add_plugin(plugin_module("beta", op_named("twin")), name="beta", distribution="dist-b")


def test_plugin_op_with_override_replaces_the_other(host, module):
    overriding = type("Twin", (op_named("twin", 2.),), {"override": True})
    host.load_entry_points(entry_points=[
        FakeEntryPoint("alpha", plugin_module("alpha", op_named("twin", 1.)), "dist-a"),
        FakeEntryPoint("beta", plugin_module("beta", overriding), "dist-b"),
    ])
    assert host.registry.owner("twin") == "dist-b"
    assert module.twin(kitty.tensor([0.])).tolist() == [2.]
    host.registry.unregister("twin")
    assert host.registry.owner("twin") == "dist-a"


def test_plugin_that_fails_to_import_is_reported_and_skipped(host):
    with pytest.warns(kitty.PluginWarning, match="plugin 'broken' \\(distribution 'dist-broken'\\) failed "
                                                 "to import: ModuleNotFoundError.*it was skipped"):
        host.load_entry_points(entry_points=[
            FakeEntryPoint("broken", ModuleNotFoundError("No module named 'nowhere'"), "dist-broken"),
            FakeEntryPoint("fine", plugin_module("fine", op_named("fine_op")), "dist-fine"),
        ])
    assert "fine_op" in host.registry
    assert "failed to import" in host.plugins["broken"].error and host.plugins["fine"].error is None


def test_plugin_whose_package_is_still_importing_is_deferred_then_loaded(host, monkeypatch):
    # `import kittygrad_ops` imports kittygrad_core, which autoloads kittygrad_ops.plugin while the
    # package kittygrad_ops is half-initialised: the entry point waits, without a warning, until the
    # package's import is over
    package = types.ModuleType("halfway_pkg")
    package.__spec__ = types.SimpleNamespace(_initializing=True)
    monkeypatch.setitem(sys.modules, "halfway_pkg", package)
    ep = FakeEntryPoint("halfway", plugin_module("halfway", op_named("halfway_op")), "dist-halfway")
    ep.value = "halfway_pkg.plugin"
    host.load_entry_points(entry_points=[ep])
    assert host.deferred == [ep] and not ep.loaded and "halfway_op" not in host.registry
    assert host.load_deferred() is False and host.deferred == [ep]  # still importing: still waiting
    package.__spec__._initializing = False
    assert host.load_deferred() is True and host.deferred == [] and "halfway_op" in host.registry
    assert host.plugins["halfway"].distribution == "dist-halfway"


def test_a_deferred_plugin_may_reenter_load_deferred_while_loading(host, monkeypatch):
    # loading a deferred plugin may make a tensor, whose constructor calls load_deferred again (while
    # another entry point is still waiting): no deadlock, and the waiting one stays deferred
    waiting, ready = types.ModuleType("waiting_pkg"), types.ModuleType("ready_pkg")
    waiting.__spec__ = types.SimpleNamespace(_initializing=True)
    ready.__spec__ = types.SimpleNamespace(_initializing=True)
    monkeypatch.setitem(sys.modules, "waiting_pkg", waiting)
    monkeypatch.setitem(sys.modules, "ready_pkg", ready)

    class Reentrant(FakeEntryPoint):
        def load(self):
            host.load_deferred()  # what Tensor.__init__ does for the global plugin host
            return super().load()

    first = FakeEntryPoint("waiting", plugin_module("waiting", op_named("waiting_op")), "dist-w")
    second = Reentrant("ready", plugin_module("ready", op_named("ready_op")), "dist-r")
    first.value, second.value = "waiting_pkg.plugin", "ready_pkg.plugin"
    host.load_entry_points(entry_points=[first, second])
    ready.__spec__._initializing = False
    worker = threading.Thread(target=host.load_deferred, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "load_deferred deadlocked when re-entered"
    assert "ready_op" in host.registry and host.deferred == [first]


def test_plugin_whose_hook_raises_is_reported_and_skipped(host):
    failing = types.ModuleType("failing")

    @kitty.hookimpl
    def kittygrad_register_ops():
        raise ValueError("boom")

    failing.kittygrad_register_ops = kittygrad_register_ops
    with pytest.warns(kitty.PluginWarning, match="plugin 'failing' \\(distribution 'dist-failing'\\) "
                                                 "raised in kittygrad_register_ops: ValueError\\('boom'\\)"):
        host.load_entry_points(entry_points=[
            FakeEntryPoint("failing", failing, "dist-failing"),
            FakeEntryPoint("fine", plugin_module("fine", op_named("fine_op")), "dist-fine"),
        ])
    assert "fine_op" in host.registry
    assert host.manager.get_plugin("failing") is None
    assert "boom" in host.plugins["failing"].error


def test_invalid_op_of_a_plugin_is_reported_and_the_others_registered(host):
    bad = type("Bad", (kitty.Op,), {"name": "not an identifier"})
    with pytest.warns(kitty.PluginWarning, match="op 'not an identifier' was not registered"):
        host.load_entry_points(entry_points=[
            FakeEntryPoint("mixed", plugin_module("mixed", bad, op_named("good")), "dist-mixed")])
    assert host.plugins["mixed"].ops == ["good"]


def test_misspelled_hook_is_reported(host):
    typo = types.ModuleType("typo")

    @kitty.hookimpl
    def kittygrad_register_op():
        return [op_named("never")]

    typo.kittygrad_register_op = kittygrad_register_op
    with pytest.warns(kitty.PluginWarning, match=r"plugin 'typo' \(distribution 'dist-typo'\) implements "
                                                 r"unknown hook\(s\) \['kittygrad_register_op'\]; known "
                                                 r"hooks: \['kittygrad_array_namespace', 'kittygrad_register_ops'"):
        host.load_entry_points(entry_points=[FakeEntryPoint("typo", typo, "dist-typo")])
    assert "never" not in host.registry and host.manager.get_plugin("typo") is None


def test_plugin_name_taken_twice_is_reported(host):
    host.add_plugin(plugin_module("same", op_named("one")), name="same")
    with pytest.warns(kitty.PluginWarning, match="plugin 'same' .* was rejected by the plugin manager"):
        host.add_plugin(plugin_module("same", op_named("two")), name="same")
    assert "two" not in host.registry


# ----------------------------------------------------------------------------- environment switches


def two_plugins():
    return [FakeEntryPoint("alpha", plugin_module("alpha", op_named("a_op")), "dist-a"),
            FakeEntryPoint("beta", plugin_module("beta", op_named("b_op")), "dist-b")]


def test_all_plugins_load_by_default(host):
    eps = two_plugins()
    host.load_entry_points(entry_points=eps)
    assert host.registry.names() == ["a_op", "b_op"] and all(ep.loaded for ep in eps)


def test_disabled_autoload_loads_nothing(host, monkeypatch):
    monkeypatch.setenv("KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD", "1")
    eps = two_plugins()
    host.load_entry_points(entry_points=eps)
    assert len(host.registry) == 0 and host.plugins == {} and not any(ep.loaded for ep in eps)


def test_disabled_autoload_loads_the_plugins_named_in_kittygrad_plugins(host, monkeypatch):
    monkeypatch.setenv("KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("KITTYGRAD_PLUGINS", " beta , other")
    eps = two_plugins()
    host.load_entry_points(entry_points=eps)
    assert host.registry.names() == ["b_op"] and not eps[0].loaded


def test_kittygrad_plugins_is_ignored_while_autoload_is_on(host, monkeypatch):
    monkeypatch.setenv("KITTYGRAD_PLUGINS", "beta")
    host.load_entry_points(entry_points=two_plugins())
    assert host.registry.names() == ["a_op", "b_op"]


def test_blocked_plugins_are_never_loaded(host, monkeypatch):
    monkeypatch.setenv("KITTYGRAD_BLOCK_PLUGINS", "alpha")
    eps = two_plugins()
    host.load_entry_points(entry_points=eps)
    assert host.registry.names() == ["b_op"] and not eps[0].loaded


def test_block_wins_over_kittygrad_plugins(host, monkeypatch):
    monkeypatch.setenv("KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("KITTYGRAD_PLUGINS", "alpha,beta")
    monkeypatch.setenv("KITTYGRAD_BLOCK_PLUGINS", "beta")
    host.load_entry_points(entry_points=two_plugins())
    assert host.registry.names() == ["a_op"]


# ----------------------------------------------------------------------------- python -m kittygrad_core


@pytest.fixture
def installed_fake_plugin(tmp_path):
    """A distribution 'fake-dist' 1.2 with plugin 'fakeplug', installed by a .dist-info on PYTHONPATH."""
    (tmp_path / "fakeplug.py").write_text(textwrap.dedent("""
        import kittygrad_core

        class Twice(kittygrad_core.Op):
            '''Doubles input.'''
            name = "twice"

            def forward(self, xp, input):
                return input * 2

            def backward(self, xp, grad):
                return grad * 2

        @kittygrad_core.hookimpl
        def kittygrad_register_ops():
            return [Twice]
    """))
    info = tmp_path / "fake_dist-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-dist\nVersion: 1.2\n")
    (info / "entry_points.txt").write_text("[kittygrad]\nfakeplug = fakeplug\n")
    return tmp_path


def run_listing(path, **env):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(path)]), **env}
    return subprocess.run([sys.executable, "-m", "kittygrad_core"], env=env, capture_output=True,
                          text=True, check=True, timeout=60).stdout


def test_python_m_kittygrad_core_lists_plugins_and_ops(installed_fake_plugin):
    out = run_listing(installed_fake_plugin, KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD="1",
                      KITTYGRAD_PLUGINS="fakeplug")
    lines = out.splitlines()
    assert lines[0] == f"kittygrad-core {kitty.__version__}"
    # which build runs: the subprocess imports the same kittygrad_core as this process
    assert lines[1] == (f"build: compiled ({', '.join(kitty.COMPILED)})" if kitty.COMPILED else "build: pure Python")
    assert lines[2] == "plugins:"
    assert lines[3].split() == ["fakeplug", "fake-dist", "1.2", "1", "ops"]
    assert lines[4] == "ops (1):"
    assert lines[5].split() == ["twice", "fake-dist"]


def test_python_m_kittygrad_core_without_plugins(installed_fake_plugin):
    out = run_listing(installed_fake_plugin, KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD="1")
    assert "plugins:\n  (none)\nops (0):" in out


def test_python_m_kittygrad_core_shows_failed_plugins(installed_fake_plugin):
    (installed_fake_plugin / "fakeplug.py").write_text("raise ImportError('cannot load me')\n")
    out = run_listing(installed_fake_plugin, KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD="1",
                      KITTYGRAD_PLUGINS="fakeplug", PYTHONWARNINGS="ignore")
    assert "fakeplug" in out and "FAILED: failed to import: ImportError('cannot load me')" in out


# ----------------------------------------------------------------------------- the hook API


def test_kittygrad_trace_op_hook_sees_every_op_while_tracing(host, module):
    seen = []

    class Tracer:
        @kitty.hookimpl
        def kittygrad_trace_op(self, op, inputs, output):
            seen.append((op.name, inputs, output))

    host.add_plugin(plugin_module("ops", op_named("one")), name="ops")
    host.add_plugin(Tracer(), name="tracer")
    x = kitty.tensor([3.])
    kitty.start_tracing(host.trace_hook)
    try:
        y = module.one(x)
    finally:
        kitty.stop_tracing(host.trace_hook)
    module.one(x)
    assert len(seen) == 1
    name, inputs, output = seen[0]
    assert name == "one" and inputs == (x,) and output is y


def test_hookimpl_and_hookspec_markers_belong_to_the_kittygrad_project():
    assert kitty.hookimpl.project_name == kitty.hookspec.project_name == "kittygrad"
    assert kitty.plugins.manager.project_name == "kittygrad"


def hook_names():
    return sorted(name for name, value in vars(hookspecs).items()
                  if inspect.isfunction(value) and hasattr(value, "kittygrad_spec"))


def test_hookspecs_are_all_known_to_the_plugin_manager():
    assert hook_names() == ["kittygrad_array_namespace", "kittygrad_register_ops", "kittygrad_trace_op"]
    for name in hook_names():
        assert getattr(kitty.plugins.manager.hook, name).spec is not None


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_has_a_docstring(name):
    assert len(inspect.getdoc(getattr(hookspecs, name)) or "") > 40


@pytest.mark.parametrize("name", hook_names())
def test_every_hook_has_a_test(name):
    """Meta-test: some test implements every hook, so a new hook without a test fails here."""
    implementing = [path.name for path in TESTS.glob("test_*.py") if f"def {name}(" in path.read_text()]
    assert implementing, f"no test implements the hook {name}"


# ----------------------------------------------------------------------------- hostile plugins


def test_third_party_never_displaces_a_standard_op_whatever_its_name_sorts_as(host, module):
    # "evil-clash" sorts before "kittygrad-ops": the standard distributions still load first
    eps = [FakeEntryPoint("evil", plugin_module("evil", op_named("twin", 2.)), "evil-clash"),
           FakeEntryPoint("ops", plugin_module("ops", op_named("twin", 1.)), "kittygrad-ops")]
    with pytest.warns(kitty.PluginWarning, match="plugin 'evil' \\(distribution 'evil-clash'\\): op 'twin' "
                                                 "was not registered: .*clashes with op 'twin' from "
                                                 "distribution 'kittygrad-ops'"):
        host.load_entry_points(entry_points=eps)
    assert host.registry.owner("twin") == "kittygrad-ops"
    assert module.twin(kitty.tensor([0.])).tolist() == [1.]


def test_a_plugin_named_like_a_standard_one_does_not_get_it_rejected(host, module):
    eps = [FakeEntryPoint("ops", plugin_module("ops", op_named("shadowed", 2.)), "aaa-shadow"),
           FakeEntryPoint("ops", plugin_module("ops", op_named("standard", 1.)), "kittygrad-ops")]
    host.load_entry_points(entry_points=eps)
    assert host.plugins["ops"].distribution == "kittygrad-ops" and host.plugins["ops"].ops == ["standard"]
    assert host.plugins["aaa-shadow:ops"].ops == ["shadowed"]
    assert host.registry.owner("standard") == "kittygrad-ops"


def test_override_is_announced_naming_both_distributions_and_listed(host, module):
    overriding = type("Twin", (op_named("twin", 2.),), {"override": True})
    with pytest.warns(kitty.OverrideWarning, match="op 'twin' from distribution 'third-party' "
                                                   "\\(plugin 'mine'\\) overrides distribution "
                                                   "'kittygrad-ops' \\(plugin 'ops'\\)"):
        host.load_entry_points(entry_points=[
            FakeEntryPoint("mine", plugin_module("mine", overriding), "third-party"),
            FakeEntryPoint("ops", plugin_module("ops", op_named("twin", 1.)), "kittygrad-ops")])
    assert host.registry.owner("twin") == "third-party"
    assert host.registry.overrides("twin") == ["distribution 'kittygrad-ops' (plugin 'ops')"]


@pytest.mark.parametrize("exit_kind",
                         [SystemExit(3), GeneratorExit(), type("Custom", (BaseException,), {})()])
def test_a_plugin_raising_a_base_exception_at_import_is_isolated(host, exit_kind):
    with pytest.warns(kitty.PluginWarning, match="plugin 'quitter' \\(distribution 'dist-quit'\\) failed "
                                                 "to import"):
        host.load_entry_points(entry_points=[
            FakeEntryPoint("quitter", exit_kind, "dist-quit"),
            FakeEntryPoint("fine", plugin_module("fine", op_named("fine_op")), "dist-fine")])
    assert "fine_op" in host.registry and host.plugins["quitter"].error


def test_a_plugin_hook_raising_system_exit_is_isolated(host):
    quitting = types.ModuleType("quitting")

    @kitty.hookimpl
    def kittygrad_register_ops():
        raise SystemExit(1)

    quitting.kittygrad_register_ops = kittygrad_register_ops
    with pytest.warns(kitty.PluginWarning, match="raised in kittygrad_register_ops: SystemExit"):
        host.load_entry_points(entry_points=[FakeEntryPoint("quitting", quitting, "dist-quit"),
                                             FakeEntryPoint("fine", plugin_module("fine", op_named("ok")))])
    assert "ok" in host.registry


def test_keyboard_interrupt_at_plugin_import_is_not_swallowed(host):
    with pytest.raises(KeyboardInterrupt):
        host.load_entry_points(entry_points=[FakeEntryPoint("ctrl_c", KeyboardInterrupt(), "dist-c")])


@pytest.mark.parametrize("where, attribute", [("functions", "no_grad"), ("functions", "tensor"),
                                              ("functions", "Tensor"), ("methods", "backward"),
                                              ("methods", "grad"), ("methods", "__init__"),
                                              ("methods", "__eq__"), ("methods", "requires_grad_")])
def test_core_names_are_reserved_from_runtime_registrations(where, attribute):
    target = kitty if where == "functions" else kitty.Tensor
    before = inspect.getattr_static(target, attribute)
    hijack = type("Hijack", (op_named("hijack"),), {where: (attribute,), "override": True})
    with pytest.raises(RuntimeError, match=f"wants to bind '{attribute}', which is reserved"):
        kitty.registry.register(hijack)
    assert "hijack" not in kitty.registry
    assert inspect.getattr_static(target, attribute) is before


def test_an_autoloaded_plugin_binding_a_core_name_is_warned_about_and_skipped(host, module, tensor_type):
    module.no_grad = kitty.no_grad  # a fresh registry reserves what its module already holds
    hijack = type("Hijack", (op_named("hijack"),), {"functions": ("no_grad",)})
    steal = type("Steal", (op_named("steal"),), {"methods": ("backward",)})
    with pytest.warns(kitty.PluginWarning) as record:
        host.load_entry_points(entry_points=[
            FakeEntryPoint("evil", plugin_module("evil", hijack, steal, op_named("harmless")), "dist-evil")])
    messages = [str(w.message) for w in record]
    assert any("plugin 'evil' (distribution 'dist-evil'): op 'hijack'" in m and "reserved" in m
               for m in messages)
    assert any("op 'steal'" in m and "reserved" in m for m in messages)
    assert module.no_grad is kitty.no_grad and tensor_type.backward is kitty.Tensor.backward
    assert host.plugins["evil"].ops == ["harmless"]


# ------------------------------------------------------------------------ declared names (kittygrad.provides)


def run_code(path, code, **env):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(path)]), "PYTHONWARNINGS": "ignore",
           **env}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, check=True, timeout=60).stdout


@pytest.fixture
def declaring_fake_plugin(installed_fake_plugin):
    """fake-dist also declares what its plugin binds: ``twice`` (function and method) and ``__lshift__``."""
    (installed_fake_plugin / "fake_dist-1.2.dist-info" / "entry_points.txt").write_text(
        "[kittygrad]\nfakeplug = fakeplug\n\n"
        "[kittygrad.provides]\ntwice = fakeplug:twice\n__lshift__ = fakeplug:twice\n")
    return installed_fake_plugin


MISSING = """
    import kittygrad_core as k
    t = k.tensor([1.])
    for name, use in [("function", lambda: k.twice), ("method", lambda: t.twice),
                      ("operator", lambda: t << t), ("other", lambda: k.thrice)]:
        try:
            use()
        except Exception as error:
            print(name, type(error).__name__, isinstance(error, NotImplementedError),
                  isinstance(error, AttributeError), "|", error)
    print("hasattr", hasattr(k, "twice"), hasattr(t, "twice"), hasattr(k, "thrice"))
"""


def missing_lines(out):
    return {line.split()[0]: line for line in out.splitlines()}


def test_a_blocked_plugins_declared_names_name_the_op_and_the_distribution(declaring_fake_plugin):
    out = missing_lines(run_code(declaring_fake_plugin, MISSING, KITTYGRAD_BLOCK_PLUGINS="fakeplug"))
    why = ("'twice' belongs to op 'twice' of the distribution 'fake-dist', whose plugin is not loaded: "
           "blocked (KITTYGRAD_BLOCK_PLUGINS)")
    assert out["function"].startswith("function MissingOpError True True | module 'kittygrad_core' has "
                                      f"no attribute 'twice': {why}")
    assert out["method"].startswith(f"method MissingOpError True True | 'Tensor' object has no attribute "
                                    f"'twice': {why}")
    assert "pip install fake-dist" in out["function"] and "pip install fake-dist" in out["method"]
    assert out["operator"].startswith("operator MissingOpError True True | 'Tensor' object has no operator "
                                      "<< ('__lshift__'): '__lshift__' belongs to op 'twice' of the "
                                      "distribution 'fake-dist'")
    assert out["other"] == ("other AttributeError False True | module 'kittygrad_core' has no attribute "
                            "'thrice'")
    assert out["hasattr"] == "hasattr False False False"


def test_a_failed_plugins_declared_names_say_why_it_failed(declaring_fake_plugin):
    (declaring_fake_plugin / "fakeplug.py").write_text("raise ImportError('cannot load me')\n")
    out = missing_lines(run_code(declaring_fake_plugin, MISSING, KITTYGRAD_PLUGINS="fakeplug"))
    assert ("whose plugin 'fakeplug' failed: failed to import: ImportError('cannot load me')"
            in out["function"])


def test_a_loaded_plugin_provides_its_declared_names(declaring_fake_plugin):
    out = run_code(declaring_fake_plugin,
                   "import kittygrad_core as k; print(k.twice(k.tensor([2.])).tolist())",
                   KITTYGRAD_PLUGINS="fakeplug")
    assert out.split() == ["[4.0]"]


def test_an_undeclared_plugins_names_are_plain_attribute_errors(installed_fake_plugin):
    out = missing_lines(run_code(installed_fake_plugin, MISSING, KITTYGRAD_BLOCK_PLUGINS="fakeplug",
                                 KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD="1"))
    assert out["function"] == ("function AttributeError False True | module 'kittygrad_core' has no "
                               "attribute 'twice'")
    assert out["method"] == "method AttributeError False True | 'Tensor' object has no attribute 'twice'"


def test_python_m_kittygrad_core_provides_prints_the_declarations(declaring_fake_plugin):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(declaring_fake_plugin)]),
           "KITTYGRAD_PLUGINS": "fakeplug"}
    out = subprocess.run([sys.executable, "-m", "kittygrad_core", "--provides", "fake-dist"], env=env,
                         capture_output=True, text=True, check=True, timeout=60).stdout
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert lines == ['[project.entry-points."kittygrad.provides"]', 'twice = "fakeplug:twice"']
    missing = subprocess.run([sys.executable, "-m", "kittygrad_core", "--provides", "nobody"], env=env,
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 1 and "distribution 'nobody' registered no op" in missing.stderr
