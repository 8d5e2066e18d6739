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


def _pxd_attributes(class_name):
    """The attributes ``_engine.pxd`` declares for ``class_name`` (``cdef public <type> <name>`` lines)."""
    pxd = (pathlib.Path(kitty.__file__).parent / "_engine.pxd")
    if not pxd.exists():  # an installed wheel ships the modules, not the declarations
        pxd = pathlib.Path(__file__).resolve().parents[1] / "src" / "kittygrad_core" / "_engine.pxd"
    names, inside = [], False
    for line in pxd.read_text().splitlines():
        if line.startswith("cdef class "):
            inside = line.split()[2].split("(")[0].rstrip(":") == class_name
        elif inside and line.strip().startswith("cdef public "):
            names.append(line.split("#")[0].split()[-1])
    return tuple(names)


def test_node_slots_are_declared_for_the_compiled_build():
    # In the compiled build Node is an extension type with exactly the pxd's attributes: a slot added
    # to Node.__slots__ alone would be missing there (AttributeError when set).
    from kittygrad_core._engine import AccumulateGrad, Node

    assert _pxd_attributes("Node") == Node.__slots__
    assert _pxd_attributes("AccumulateGrad") == AccumulateGrad.__slots__
