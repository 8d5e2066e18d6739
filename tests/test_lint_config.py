"""The lint rule keeping core's private modules private (ruff's TID251, configured in ruff.toml).

Plugins use ``kittygrad_core`` and ``kittygrad_core.extend`` only, as a third party must. The rule bans
each private module by name, so these tests make sure the list follows the modules core actually has.
"""
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "kittygrad_core" / "src" / "kittygrad_core"


def _config() -> dict:
    return tomllib.loads((ROOT / "ruff.toml").read_text())["lint"]


def _private_modules(package: Path) -> set[str]:
    """The dotted name of every module of core named ``_x`` (``_x.py`` or a ``_x/`` package), at any
    depth (``kittygrad_core._tensor``, ``kittygrad_core.testing._checks``); dunders excepted."""
    names = set()
    for path in [*package.rglob("_*.py"), *(p.parent for p in package.rglob("_*/__init__.py"))]:
        parts = path.relative_to(package).with_suffix("").parts
        if not parts[-1].startswith("__"):
            names.add(".".join(("kittygrad_core", *parts)))
    return names


def test_every_private_module_of_core_is_banned_outside_core():
    config = _config()
    assert "TID251" in config.get("select", []) + config.get("extend-select", [])
    banned = set(config["flake8-tidy-imports"]["banned-api"])
    private = _private_modules(CORE)
    assert {"kittygrad_core._tensor", "kittygrad_core._dispatch", "kittygrad_core.testing._checks"} <= private
    missing = private - banned
    assert not missing, f"add {sorted(missing)} to [lint.flake8-tidy-imports.banned-api] in ruff.toml"
    stale = {name for name in banned if name.startswith("kittygrad_core.")} - private
    assert not stale, f"ruff.toml bans modules core no longer has: {sorted(stale)}"


def test_only_core_and_tests_of_internals_are_exempt():
    ignores = {path: rules for path, rules in _config().get("per-file-ignores", {}).items()
               if "TID251" in rules}
    assert ignores.pop("kittygrad_core/**") == ["TID251"]
    for path in ignores:  # a plugin's source exempted here would defeat the rule
        assert path.startswith("tests/") or "/tests/" in path, path
        assert (ROOT / path).is_file(), f"ruff.toml exempts {path}, which does not exist"
