"""Meta-tests over kittygrad-ops' records: declared names, docstrings, one owner, the docs entry."""
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import kittygrad_core as kitty
import kittygrad_ops
from kittygrad_core.testing import check_provides

RECORDS = [kitty.registry[record.name] for record in kittygrad_ops.OPS]


def test_pyproject_declares_every_public_name_so_a_missing_plugin_is_named():
    # Without kittygrad-ops loaded, core names the distribution of `exp`, `+`, ... from these entries.
    check_provides("kittygrad-ops", Path(__file__).resolve().parents[1] / "pyproject.toml")


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name)
def test_every_op_is_documented_in_pytorch_voice(record):
    doc = inspect.getdoc(record)
    assert doc and len(doc.splitlines()) >= 2, f"{record.name} needs a signature line and a description"


def test_every_op_belongs_to_kittygrad_ops():
    assert {r.distribution for r in RECORDS} == {"kittygrad-ops"}
    assert len({r.name for r in RECORDS}) == len(RECORDS)


def test_every_op_has_its_docs_entry():
    # docs/ops.md holds the generated reference: regenerate it when an op or its docstring changes.
    docs = Path(__file__).resolve().parents[2] / "docs" / "ops.md"
    table = subprocess.run([sys.executable, "-m", "kittygrad_core", "--markdown", "kittygrad-ops"],
                           capture_output=True, text=True, check=True).stdout
    assert table in docs.read_text(), (
        "docs/ops.md is out of date: python -m kittygrad_core --markdown kittygrad-ops")
