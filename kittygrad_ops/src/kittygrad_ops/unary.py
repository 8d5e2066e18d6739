"""unary ops (to be written)."""
OPS = ()
