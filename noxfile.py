"""nox sessions for kittygrad: one test session per distribution, plus the whole set.

Run every default session with ``nox`` (or ``make test``); one with ``nox -s ops``.
``nox -r`` reuses existing session virtualenvs (off by default); anything after
``--`` goes to pytest, e.g. ``nox -s core -- -x -k grad``.
"""

from pathlib import Path

import nox

ROOT = Path(__file__).parent

nox.options.default_venv_backend = "venv"  # plain venv + pip: pip finds torch==2.13.0 on disk
nox.options.reuse_existing_virtualenvs = False  # `nox -r` turns reuse on
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["core", "ops", "viz", "nn", "all"]  # `bench` is opt-in

CORE = ("-e", "./kittygrad_core[testing]")
OPS = ("-e", "./kittygrad_ops")
VIZ = ("-e", "./kittygrad_viz")
NN = ("-e", "./kittygrad_nn")
UMBRELLA = ("-e", ".")


def _pytest(session: nox.Session, path: str) -> None:
    session.run("pytest", path, *session.posargs)


@nox.session
def core(session: nox.Session) -> None:
    """Test kittygrad-core alone, with no plugin distribution installed."""
    session.install(*CORE)
    _pytest(session, "kittygrad_core/tests")


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


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Run the benchmarks (benchmarks/run.py) against the whole set; not a default session."""
    script = ROOT / "benchmarks" / "run.py"
    if not script.is_file():
        session.error(f"no benchmarks yet: {script.relative_to(ROOT)} does not exist")
    session.install(*CORE, *OPS, *VIZ, *NN, *UMBRELLA)
    session.run("python", str(script.relative_to(ROOT)), *session.posargs)
