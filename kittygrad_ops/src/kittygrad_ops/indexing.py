"""indexing ops (to be written)."""
OPS = ()
