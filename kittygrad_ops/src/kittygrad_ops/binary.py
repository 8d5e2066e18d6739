"""binary ops (to be written)."""
OPS = ()
