"""docs/writing-a-plugin.md cannot drift from its worked example, and its notebook snippets run.

A fenced block right after ``<!-- file: PATH -->`` must equal ``kittygrad-guide-example/PATH`` byte for
byte, and every source file of the example must be shown so. Blocks after ``<!-- run -->`` are run, in
order, in one fresh interpreter (the ``plugin`` nox session installs what they import).
"""
from __future__ import annotations

import pathlib
import re
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
GUIDE = ROOT / "docs" / "writing-a-plugin.md"
EXAMPLE = HERE / "kittygrad-guide-example"

BLOCK = re.compile(r"^<!-- (file: (?P<path>\S+)|run) -->\n```[\w-]*\n(?P<code>.*?)^```$", re.M | re.S)


def blocks(kind: str) -> list[tuple[str | None, str]]:
    found = [(m["path"], m["code"]) for m in BLOCK.finditer(GUIDE.read_text())]
    return [(path, code) for path, code in found if (path is not None) == (kind == "file")]


def example_sources() -> set[str]:
    skip = ("build", "dist", "__pycache__", ".pytest_cache")
    relative = [path.relative_to(EXAMPLE) for path in EXAMPLE.rglob("*") if path.is_file()]
    return {path.as_posix() for path in relative if path.suffix in (".py", ".toml", ".cfg", ".txt", ".md")
            and not any(part in skip or part.endswith(".egg-info") for part in path.parts)}


def test_every_file_block_of_the_guide_equals_its_file():
    shown = blocks("file")
    assert len(shown) >= 4
    for path, code in shown:
        assert (EXAMPLE / path).read_text() == code, f"docs/writing-a-plugin.md's block for {path} differs " \
                                                      f"from examples/plugins/kittygrad-guide-example/{path}"


def test_every_source_file_of_the_example_is_in_the_guide():
    assert example_sources() == {path for path, _ in blocks("file")}


def test_the_guides_notebook_snippets_run():
    code = "\n".join(code for _, code in blocks("run"))
    assert code.count("kitty.registry.register(") >= 2
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
