"""The lint configuration agrees with the code and with itself.

The rule keeping core's private modules private (ruff's TID251, configured in ruff.toml): plugins use
``kittygrad_core`` and ``kittygrad_core.extend`` only, as a third party must. The rule bans each private
module by name, so these tests make sure the list follows the modules core actually has.

The `lint` nox session, its pre-commit mirror and the README name the same checks over the same scope.
"""
import ast
import re
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


# ----------------------------------------------------------------- the lint session and its mirrors

def _noxfile_value(name):
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return node.value
    raise AssertionError(f"noxfile.py has no {name}")


def _ruff_scope():
    scope = []
    for element in _noxfile_value("RUFF_SCOPE").elts:
        if isinstance(element, ast.Constant):
            scope.append(element.value)
        else:  # *(f"prefix/{name}.py" for name in (...))
            generator = element.value
            prefix = generator.elt.values[0].value
            scope += [f"{prefix}{name.value}.py" for name in generator.generators[0].iter.elts]
    return scope


def _python_files():
    skip = {".venv", ".nox", ".git", "build", "dist", "out"}
    return [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.py")
            if not skip & set(p.relative_to(ROOT).parts)]


def test_lint_is_a_default_session_listed_in_the_readme():
    source = (ROOT / "noxfile.py").read_text()
    defaults = ast.literal_eval(re.search(r"^nox\.options\.sessions = (\[.*?\])", source, re.M).group(1))
    assert "lint" in defaults, defaults
    assert re.search(r"^\| `lint` \| ", (ROOT / "README.md").read_text(), re.M)


def test_the_pre_commit_ruff_hook_covers_the_sessions_scope():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    pattern = re.compile(re.search(r"^ +files: (.+)$", config, re.M).group(1))
    scope = _ruff_scope()
    assert all((ROOT / path).exists() for path in scope), scope

    def in_scope(path):
        return any(s == "." or path == s or path.startswith(s.rstrip("/") + "/") for s in scope)

    differ = [path for path in _python_files() if bool(pattern.search(path)) != in_scope(path)]
    assert not differ, f"pre-commit's ruff `files` and noxfile's RUFF_SCOPE disagree on {differ}"


def test_mypys_files_exist_and_core_is_strict():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["files"] and all((ROOT / path).exists() for path in config["files"])
    core = next(o for o in config["overrides"] if "kittygrad_core.*" in o["module"])
    assert core["disallow_untyped_defs"] and core["disallow_any_generics"] and core["warn_return_any"]
