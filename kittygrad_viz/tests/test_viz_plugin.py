"""kittygrad-viz is installed, registered as a kittygrad plugin, and reached through the trace hook."""

import importlib
import importlib.metadata as md
import os
import subprocess
import sys
import textwrap
import types

import kittygrad_core
from kittygrad_viz import CompGraph, plugin

DIST = "kittygrad-viz"
PKG = "kittygrad_viz"
EP_NAME = "viz"


def _entry_point():
    eps = [ep for ep in md.entry_points(group="kittygrad") if ep.name == EP_NAME]
    assert len(eps) == 1, f"expected exactly one 'kittygrad' entry point named {EP_NAME!r}, got {eps}"
    return eps[0]


def test_package_imports():
    pkg = importlib.import_module(PKG)
    assert pkg.__doc__ and pkg.__doc__.strip()
    assert sorted(pkg.__all__) == ["CompGraph", "GraphvizNotFoundError", "draw"]


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


def test_graphviz_dependency_importable():
    import graphviz

    assert graphviz.Digraph().source.startswith("digraph")


# ----------------------------------------------------------------------------- the trace hook


def test_plugin_implements_the_trace_hook_and_nothing_else():
    hooks = [name for name in dir(plugin) if name.startswith("kittygrad_")]
    assert hooks == ["kittygrad_trace_op"]
    assert kittygrad_core.plugins.manager.is_registered(plugin)


def test_hook_without_a_recording_graph_does_nothing(monkeypatch):
    from kittygrad_viz import _state
    calls = []
    monkeypatch.setattr(CompGraph, "_record", lambda self, *args: calls.append((self, args)))
    with CompGraph():  # a graph that has finished recording must not receive later calls
        pass
    assert _state.active.get() is None
    x = kittygrad_core.ones(2, requires_grad=True)
    y = x * 2
    assert plugin.kittygrad_trace_op(op=type(y.grad_fn), inputs=(x, 2), output=y) is None
    assert calls == []
    with CompGraph() as graph:  # the control: while a graph records, the same call reaches it
        plugin.kittygrad_trace_op(op=type(y.grad_fn), inputs=(x, 2), output=y)
    assert len(calls) == 1 and calls[0][0] is graph and calls[0][1][1] == (x, 2)


def test_importing_core_does_not_import_graphviz():
    code = "import sys, kittygrad_core; assert 'graphviz' not in sys.modules, 'graphviz imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_compgraph_records_with_plugin_autoload_disabled():
    # The viz plugin is not loaded at import then; CompGraph registers its hook itself.
    code = textwrap.dedent("""
        import kittygrad_core as kitty
        from kittygrad_viz import CompGraph, plugin
        assert not kitty.plugins.manager.is_registered(plugin)
        a = kitty.ones(2, requires_grad=True)
        with CompGraph() as dot:
            a * 2
        assert "label=mul" in dot.source and "MulBackward" in dot.source, dot.source
        assert not kitty._tracing.active_tracers()
    """)
    env = {**os.environ, "KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD": "1", "KITTYGRAD_PLUGINS": "ops"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_an_op_reported_twice_is_drawn_once():
    # Another plugin switching the hook on too makes the hook run twice per op call.
    a = kittygrad_core.ones(2, requires_grad=True)
    with CompGraph() as dot:
        kittygrad_core.start_tracing()
        try:
            a * 2
        finally:
            kittygrad_core.stop_tracing()
    assert dot.source.count("label=mul") == 1
    assert dot.source.count("label=MulBackward") == 1
