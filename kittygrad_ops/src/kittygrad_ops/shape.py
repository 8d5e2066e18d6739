"""shape ops (to be written)."""
OPS = ()
