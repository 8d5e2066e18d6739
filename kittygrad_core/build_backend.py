"""kittygrad-core's build backend: setuptools, asking for Cython only when a wheel may be compiled.

Editable installs and ``KITTYGRAD_NO_EXTENSIONS=1`` builds are pure Python and need no Cython; a wheel
build asks for it (setup.py still falls back to pure Python when no C compiler works).
"""
import os
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  # every hook this module does not override

CYTHON = "cython>=3"


def get_requires_for_build_wheel(config_settings: Any = None) -> list[str]:
    """setuptools' requirements, plus Cython unless the build is to stay pure."""
    requires = _setuptools.get_requires_for_build_wheel(config_settings)
    if os.environ.get("KITTYGRAD_NO_EXTENSIONS", "") in ("", "0"):
        requires = [*requires, CYTHON]
    return requires
