"""Meta-tests over kittygrad-ops' records: declared names, docstrings, one owner, the docs entry."""
import inspect
from pathlib import Path

import pytest

import kittygrad_core as kitty
import kittygrad_ops
from kittygrad_core._registry import STANDARD_DISTRIBUTION
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
    assert STANDARD_DISTRIBUTION == "kittygrad-ops"
    assert {r.distribution for r in RECORDS} == {"kittygrad-ops"}
    assert len({r.name for r in RECORDS}) == len(RECORDS)


def test_every_op_has_its_docs_entry():
    # docs/ops.md holds the generated reference: regenerate it when an op or its docstring changes.
    from kittygrad_core.__main__ import markdown
    docs = Path(__file__).resolve().parents[2] / "docs" / "ops.md"
    table = markdown(kitty.registry, "kittygrad-ops")
    assert table in docs.read_text(), (
        "docs/ops.md is out of date: python -m kittygrad_core --markdown kittygrad-ops")
