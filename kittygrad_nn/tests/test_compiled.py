"""Every op of kittygrad-nn inside ``kitty.compile``: bit-identical to its eager run, and replayed unless
allowed below with the reason."""
from kittygrad_core.testing import compiled_tests

test_compiled = compiled_tests(distribution="kittygrad-nn", allowed={
    "batch_norm": "training reads the batch statistics into NumPy to update the running buffers "
                  "(write_, unrecorded); evaluation replays",
})
