"""Meta-tests over kittygrad-ops' records: bindings known to core, docstrings, one owner."""
import inspect

import pytest

import kittygrad_core as kitty
import kittygrad_ops
from kittygrad_core._registry import STANDARD_BINDINGS, STANDARD_DISTRIBUTION

RECORDS = [kitty.registry[record.name] for record in kittygrad_ops.OPS]


def _bindings(record):
    names = list(record.functions if record.functions is not None else (record.name,))
    names += record.methods if record.methods is not None else (record.name,)
    names += getattr(record, "operators", ()) + getattr(record, "reflected", ())
    names += getattr(record, "inplace", ()) + getattr(record, "properties", ())
    return names


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.name)
def test_every_binding_is_known_to_core_so_a_missing_plugin_is_named(record):
    # Without kittygrad-ops, core must say which distribution provides each of these names.
    unknown = [name for name in _bindings(record) if STANDARD_BINDINGS.get(name) != record.name]
    assert not unknown, f"add {unknown} under '{record.name}' to kittygrad_core._registry._STANDARD"


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
    from pathlib import Path

    from kittygrad_core.__main__ import markdown
    docs = Path(__file__).resolve().parents[2] / "docs" / "ops.md"
    table = markdown(kitty.registry, "kittygrad-ops")
    assert table in docs.read_text(), (
        "docs/ops.md is out of date: python -m kittygrad_core --markdown kittygrad-ops")
