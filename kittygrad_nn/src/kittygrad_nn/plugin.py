"""Entry point module of kittygrad-nn (group ``kittygrad``, name ``nn``).

kittygrad-core loads this module through the ``kittygrad`` entry-point group.
It implements no hooks yet; the nn hook implementations will live here.
"""
