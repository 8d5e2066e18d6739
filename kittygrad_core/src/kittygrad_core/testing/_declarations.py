"""The check that a distribution declares, in its pyproject.toml, every public name its ops bind."""
from __future__ import annotations

from importlib import metadata
from pathlib import Path


def check_provides(distribution: str, pyproject: str | Path) -> None:
    """Asserts that ``pyproject`` holds the ``kittygrad.provides`` table that
    ``python -m kittygrad_core --provides DISTRIBUTION`` prints from the live registry, and that the
    installed metadata (what core reads when a name is missing) has the same entries.

    Call it from one test of the distribution, with its plugin loaded::

        def test_pyproject_declares_every_public_name():
            check_provides("my-kittygrad-plugin", Path(__file__).parents[1] / "pyproject.toml")
    """
    import kittygrad_core
    from kittygrad_core.__main__ import provides

    command = f"python -m kittygrad_core --provides {distribution}"
    table = provides(kittygrad_core.registry, distribution, kittygrad_core.plugins)
    assert table in Path(pyproject).read_text(), (
        f"{pyproject} does not declare the names {distribution} provides: replace its "
        f"[project.entry-points.\"kittygrad.provides\"] table with the output of `{command}`")
    expected = {line.split(" = ")[0]: line.split(" = ")[1].strip('"')
                for line in table.splitlines()[1:] if not line.startswith("#")}
    installed = {ep.name: ep.value for ep in metadata.entry_points(group=kittygrad_core.PROVIDES_GROUP)
                 if ep.dist is not None and ep.dist.name == distribution}
    assert installed == expected, (
        f"the installed metadata of {distribution} is stale (core reads the declarations from it): "
        f"reinstall the distribution, e.g. `pip install --no-deps -e <its folder>`")
