"""Entry point module of kittygrad-viz (group ``kittygrad``, name ``viz``).

kittygrad-core loads this module through the ``kittygrad`` entry-point group.
It implements no hooks yet; the ``CompGraph`` hook implementations will live here.
"""
