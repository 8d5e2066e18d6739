"""The optional compiled build (kittygrad_core/setup.py): which modules it compiles, and that a session
that means to test one build really runs it (``KITTYGRAD_EXPECT_BUILD``, set by the nox sessions)."""
import ast
import os
import pathlib
import sys

import kittygrad_core as kitty

SETUP = pathlib.Path(__file__).resolve().parents[1] / "setup.py"


def _setup_constant(name):
    for statement in ast.parse(SETUP.read_text()).body:
        if isinstance(statement, ast.Assign) and getattr(statement.targets[0], "id", None) == name:
            return ast.literal_eval(statement.value)
    raise AssertionError(f"setup.py defines no {name}")


def test_setup_compiles_the_modules_the_package_reports():
    assert _setup_constant("COMPILED_MODULES") == kitty.COMPILABLE


def test_compiled_names_the_modules_that_run_compiled():
    for name in kitty.COMPILABLE:
        path = sys.modules[f"kittygrad_core.{name}"].__file__
        assert (name in kitty.COMPILED) == (not path.endswith((".py", ".pyc"))), (name, path)


def test_the_session_runs_the_build_it_means_to_test():
    expected = os.environ.get("KITTYGRAD_EXPECT_BUILD")
    if expected == "compiled":
        assert kitty.COMPILED == kitty.COMPILABLE, kitty.COMPILED
    elif expected == "pure":
        assert kitty.COMPILED == ()
    else:
        assert expected is None, f"KITTYGRAD_EXPECT_BUILD must be 'pure' or 'compiled', not {expected!r}"
