"""The conformance suite over every op of kittygrad-conv, in one line (see ``kittygrad_core.testing``)."""
from kittygrad_core.testing import conformance_tests, ops_without_conformance, saves_tests

test_conformance = conformance_tests(distribution="kittygrad-conv")
test_saves = saves_tests(distribution="kittygrad-conv")


def test_every_op_has_conformance_metadata():
    assert ops_without_conformance(distribution="kittygrad-conv") == []
