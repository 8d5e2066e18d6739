"""activations ops (to be written)."""
OPS = ()
