"""kittygrad-hardtanh: adds ``hardtanh`` to kittygrad through the ``kittygrad`` entry point."""
__version__ = "0.1.0"
