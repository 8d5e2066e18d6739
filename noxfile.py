"""nox sessions for kittygrad: one test session per distribution, plus the whole set.

Run every default session with ``nox`` (or ``make test``); one with ``nox -s ops``.
``nox -r`` reuses existing session virtualenvs (off by default); anything after
``--`` goes to pytest, e.g. ``nox -s core -- -x -k grad``.
"""

import re
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).parent

nox.options.default_venv_backend = "venv"  # plain venv + pip: pip finds torch==2.13.0 on disk
nox.options.reuse_existing_virtualenvs = False  # `nox -r` turns reuse on
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "core", "ops", "viz", "nn", "all", "plugin", "compiled"]  # `bench` is opt-in

CORE = ("-e", "./kittygrad_core[testing]")
OPS = ("-e", "./kittygrad_ops")
VIZ = ("-e", "./kittygrad_viz")
NN = ("-e", "./kittygrad_nn")


def _pytest(session: nox.Session, path: str) -> None:
    session.run("pytest", path, *session.posargs)


LINT_TOOLS = ("ruff==0.17.6", "mypy==2.4.1")
# What `ruff check` covers so far (the rules are in pyproject.toml's [tool.ruff]). kittygrad-ops,
# kittygrad-nn, the umbrella, the examples and core's _registry/_op/extend/__init__/__main__ join once
# they are clean; then this becomes ".". mypy's scope is `files` in pyproject.toml's [tool.mypy].
RUFF_SCOPE = (".",)  # the whole repository (ruff.toml excludes .nox, build, dist, out)


@nox.session
def lint(session: nox.Session) -> None:
    """Check the code with ruff and mypy (strict on kittygrad-core); no torch needed."""
    # numpy, pluggy and hypothesis ship their types; the sources resolve through mypy_path.
    session.install(*LINT_TOOLS, "numpy>=2.0", "pluggy>=1.3", "hypothesis>=6", "pytest>=7")
    session.run("ruff", "check", *RUFF_SCOPE)
    session.run("mypy")


@nox.session
def core(session: nox.Session) -> None:
    """Test kittygrad-core alone, with no plugin distribution installed."""
    session.install(*CORE)
    session.run("pytest", "kittygrad_core/tests", *session.posargs, env={"KITTYGRAD_EXPECT_BUILD": "pure"})


@nox.session
def ops(session: nox.Session) -> None:
    """Test kittygrad-ops on top of kittygrad-core."""
    session.install(*CORE, *OPS)
    _pytest(session, "kittygrad_ops/tests")


@nox.session
def viz(session: nox.Session) -> None:
    """Test kittygrad-viz with kittygrad-core and kittygrad-ops."""
    session.install(*CORE, *OPS, *VIZ)
    _pytest(session, "kittygrad_viz/tests")


@nox.session
def nn(session: nox.Session) -> None:
    """Test kittygrad-nn with kittygrad-core and kittygrad-ops."""
    session.install(*CORE, *OPS, *NN)
    _pytest(session, "kittygrad_nn/tests")


@nox.session(name="all")
def all_(session: nox.Session) -> None:
    """Test the whole set: every distribution plus the kittygrad umbrella."""
    session.install(*CORE, *OPS, *VIZ, *NN, "-e", ".[examples]")
    _pytest(session, "tests")


CLEAN_COPY = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", "*.so", "*.c")


def install_compiled_core(session: nox.Session) -> None:
    """Installs kittygrad-core as a compiled wheel (Cython; failing to compile is an error here), built
    from a clean copy so that no stale build folder is reused and nothing is written into the tree."""
    source = Path(session.create_tmp()) / "kittygrad_core"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(ROOT / "kittygrad_core", source, ignore=CLEAN_COPY)
    session.install(f"{source}[testing]", env={"KITTYGRAD_COMPILE": "1"})


@nox.session
def compiled(session: nox.Session) -> None:
    """Test kittygrad-core, kittygrad-ops, kittygrad-nn and the whole set against the compiled build of core."""
    install_compiled_core(session)
    session.install(*OPS, *VIZ, *NN, "-e", ".[examples]")
    env = {"KITTYGRAD_EXPECT_BUILD": "compiled"}
    session.run("python", "-m", "kittygrad_core", silent=False)  # prints "build: compiled (...)"
    for path in ("kittygrad_core/tests", "kittygrad_ops/tests", "kittygrad_nn/tests", "tests"):
        session.run("pytest", path, *session.posargs, env=env)


EXAMPLE_PLUGINS = {  # folder under examples/plugins -> (distribution, plugin, version, its ops)
    "kittygrad-conv": ("kittygrad-conv", "conv", "0.1.0", ("_conv2d", "avg_pool2d", "conv2d", "max_pool2d")),
    "kittygrad-guide-example": ("kittygrad-hardtanh", "hardtanh", "0.1.0", ("hardtanh",)),
}


@nox.session
def plugin(session: nox.Session) -> None:
    """Build the example plugins as wheels, install them with core, ops and nn, and run their tests."""
    tmp = Path(session.create_tmp())
    wheels, sources = tmp / "wheels", tmp / "sources"
    shutil.rmtree(wheels, ignore_errors=True)
    shutil.rmtree(sources, ignore_errors=True)
    # Build from clean copies: setuptools would reuse (stale) build/ folders and write into the tree.
    junk = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
    for folder in EXAMPLE_PLUGINS:
        shutil.copytree(ROOT / "examples" / "plugins" / folder, sources / folder, ignore=junk)
    session.run("python", "-m", "pip", "wheel", "--no-deps", "-w", str(wheels),
                *(str(sources / folder) for folder in EXAMPLE_PLUGINS))
    built = sorted(str(path) for path in wheels.glob("*.whl"))
    if len(built) != len(EXAMPLE_PLUGINS):
        session.error(f"expected {len(EXAMPLE_PLUGINS)} wheels, pip built {built}")
    session.install(*CORE, *OPS, *NN)
    session.install(*built)  # their kittygrad-core requirement is met by the editable install above
    listing = session.run("python", "-m", "kittygrad_core", silent=True)
    for distribution, name, version, ops in EXAMPLE_PLUGINS.values():
        if not re.search(rf"^  {name} +{distribution} {re.escape(version)} +{len(ops)} ops$", listing, re.M):
            session.error(f"`python -m kittygrad_core` does not list plugin {name} ({distribution} "
                          f"{version}, {len(ops)} ops):\n{listing}")
        missing = [op for op in ops if not re.search(rf"^  {op} +{distribution}$", listing, re.M)]
        if missing:
            session.error(f"`python -m kittygrad_core` does not list {missing} as ops of {distribution}")
    _pytest(session, "examples/plugins/kittygrad-conv/tests")
    # the guide's example alone, with every other plugin switched off: it must need nothing but core;
    # then with kittygrad-ops' plugin too, whose array namespace the double-backward check needs
    # (a plugin's second derivatives run on the namespace a standard plugin provides)
    guide = "examples/plugins/kittygrad-guide-example/tests"
    session.run("pytest", guide, "-k", "not conformance", *session.posargs,
                env={"KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD": "1", "KITTYGRAD_PLUGINS": "hardtanh"})
    session.run("pytest", guide, *session.posargs,
                env={"KITTYGRAD_DISABLE_PLUGIN_AUTOLOAD": "1", "KITTYGRAD_PLUGINS": "hardtanh,ops"})
    _pytest(session, "examples/plugins/test_guide.py")  # the guide's code blocks equal the example's files


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run the benchmarks (benchmarks/run.py) for the pure and the compiled build of kittygrad-core side
    by side with torch and hand-written NumPy; not a default session."""
    session.install(*CORE, *OPS, *VIZ, *NN, "-e", ".[examples]")  # the training case reads sklearn's digits
    # the compiled build of core, beside the pure editable one: benchmarks/run.py puts it first on the
    # path of the child process that measures it
    source, target = Path(session.create_tmp()) / "kittygrad_core", Path(session.create_tmp()) / "compiled"
    shutil.rmtree(source, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "kittygrad_core", source, ignore=CLEAN_COPY)
    session.run("python", "-m", "pip", "install", "--no-deps", "--target", str(target), str(source),
                env={"KITTYGRAD_COMPILE": "1"})
    session.run("python", "benchmarks/run.py", "--compiled", str(target), *session.posargs)


@nox.session(default=False)
def fuzz(session: nox.Session) -> None:
    """Fuzz the public API against torch (50,000 calls, docs/fuzz.md); not a default session."""
    session.install(*CORE, *OPS, *VIZ, *NN, "-e", ".[examples]")
    session.run("python", "-m", "kittygrad_core.testing.fuzz", "--calls", "50000", "--seed", "0",
                *session.posargs)
