"""Every op of kittygrad-ops inside ``kitty.compile``: bit-identical to its eager run (replayed, or
fallen back to eager with a warning)."""
from kittygrad_core.testing import compiled_tests

test_compiled = compiled_tests(distribution="kittygrad-ops")
