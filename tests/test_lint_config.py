"""The lint configuration agrees with itself: the nox session, the pre-commit hooks and the README."""
import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
        return any(path == s or path.startswith(s.rstrip("/") + "/") for s in scope)

    differ = [path for path in _python_files() if bool(pattern.search(path)) != in_scope(path)]
    assert not differ, f"pre-commit's ruff `files` and noxfile's RUFF_SCOPE disagree on {differ}"


def test_mypys_files_exist_and_core_is_strict():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["files"] and all((ROOT / path).exists() for path in config["files"])
    core = next(o for o in config["overrides"] if "kittygrad_core.*" in o["module"])
    assert core["disallow_untyped_defs"] and core["disallow_any_generics"] and core["warn_return_any"]
