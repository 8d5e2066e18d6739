"""Hypothesis profiles of the conformance suite, chosen with ``KITTYGRAD_HYPOTHESIS_PROFILE``.

They are registered with hypothesis as ``kittygrad-ci`` and ``kittygrad-thorough`` so that they
neither replace nor are replaced by another project's ``ci`` profile; the environment variable and
``check_op(profile=...)`` take the short names, or the name of any other registered hypothesis profile.
"""
from __future__ import annotations

import os
import tempfile
from typing import Any

# Hypothesis caches what it learns (e.g. constants of the modules under test) in ``.hypothesis``
# of the working directory; unless told otherwise, keep that out of the user's tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY",
                      os.path.join(tempfile.gettempdir(), "kittygrad-hypothesis"))

from hypothesis import HealthCheck, settings  # noqa: E402

PROFILE_ENV = "KITTYGRAD_HYPOTHESIS_PROFILE"
DEFAULT_PROFILE = "ci"
#: Examples per op in each profile.
PROFILES = {"ci": 50, "thorough": 500}

_COMMON: dict[str, Any] = {
    "deadline": None,  # op timings vary with the machine; a slow op is not a wrong op
    "database": None,  # nothing is written into the working tree
    "print_blob": True,  # a failure prints a @reproduce_failure line, since there is no database
    "report_multiple_bugs": False,  # one AssertionError per op, not an ExceptionGroup of several
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

for _name, _examples in PROFILES.items():
    # ci: the same cases on every run, so that a CI run is reproducible and never flaky (a new draw is
    # what `thorough` and the fuzzer are for); thorough: fresh cases each run
    settings.register_profile(f"kittygrad-{_name}", max_examples=_examples, derandomize=_name == "ci",
                              **_COMMON)


def profile_settings(profile: str | None = None) -> settings:
    """The hypothesis settings of ``profile``, by default the one named by the environment variable."""
    name = profile or os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    return settings.get_profile(f"kittygrad-{name}" if name in PROFILES else name)
