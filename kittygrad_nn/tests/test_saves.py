"""Each op of kittygrad-nn saves (and version-checks) exactly what its backward reads."""
from kittygrad_core.testing import saves_tests

test_saves = saves_tests(distribution="kittygrad-nn")
