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
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            check=False,
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


def _entry_points():
    import kittygrad_core
    return kittygrad_core._entry_points  # noqa: TID251  # the private scanner, held equal to importlib.metadata


def _entry(ep):
    return ep.name, ep.value, ep.group, ep.dist.name, ep.dist.version


@pytest.mark.parametrize("group", ["kittygrad", "kittygrad.provides", "console_scripts", "pytest11"])
def test_plugin_discovery_reads_what_importlib_metadata_reads(group):
    # kittygrad_core scans the dist-info directories itself (importlib.metadata costs a sixth of
    # `import kittygrad`): the same entry points, distributions and versions
    mine = sorted(map(_entry, _entry_points()._scan(group)))
    assert mine == sorted(map(_entry, md.entry_points(group=group)))
    assert mine or group == "pytest11"


def _fake_dist(root, folder, name, entries):
    info = root / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 2.0\n\nName: not this\n")
    (info / "entry_points.txt").write_text("# a comment\n[other]\nx = nowhere\n\n[kittygrad]\n" + entries)


def test_plugin_discovery_follows_sys_path_order_and_falls_back_on_archives(tmp_path, monkeypatch):
    scanner = _entry_points()
    _fake_dist(tmp_path / "first", "Fake_Plugin-2.0.dist-info", "fake-plugin", "fake = fake_one.plugin\n")
    _fake_dist(tmp_path / "second", "fake.plugin-1.0.dist-info", "fake.plugin", "fake = fake_two.plugin\n")
    _fake_dist(tmp_path / "second", "noversion.dist-info", "noversion", "bare = bare_mod:attr.inner\n")
    monkeypatch.setattr("sys.path", [str(tmp_path / "first"), str(tmp_path / "second")])
    mine = sorted(map(_entry, scanner._scan("kittygrad")))
    assert mine == sorted(map(_entry, md.entry_points(group="kittygrad")))
    assert mine == [("bare", "bare_mod:attr.inner", "kittygrad", "noversion", "2.0"),
                    ("fake", "fake_one.plugin", "kittygrad", "fake-plugin", "2.0")]  # the first on the path
    archive = tmp_path / "plugins.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip archive
    monkeypatch.setattr("sys.path", [str(archive), str(tmp_path / "first")])
    with pytest.raises(scanner._Unsupported):
        scanner._scan("kittygrad")
    assert [ep.value for ep in scanner.entry_points("kittygrad")] == ["fake_one.plugin"]  # importlib's
