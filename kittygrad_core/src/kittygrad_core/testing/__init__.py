"""The conformance suite: every registered op checked against PyTorch with hypothesis.

Needs the ``testing`` extra (``pip install kittygrad-core[testing]``: torch, hypothesis, pytest);
``import kittygrad_core`` alone never imports them. A plugin checks its ops with one line in a test
module::

    from kittygrad_core.testing import conformance_tests, saves_tests

    test_conformance = conformance_tests(distribution="my-kittygrad-plugin")
    test_saves = saves_tests(distribution="my-kittygrad-plugin")  # saved state matches backward's reads

Each op is read from its record's :class:`~kittygrad_core.Conformance` metadata. The hypothesis
profile is ``ci`` (bounded) unless ``KITTYGRAD_HYPOTHESIS_PROFILE`` says ``thorough``.
"""
try:
    from ._checks import (
        STATS,
        call_kitty,
        call_torch,
        check_case,
        check_op,
        conformance_stats,
        conformance_tests,
        differentiable_inputs,
        op_names,
        ops_with_second_derivatives,
        ops_without_conformance,
        ops_without_second_derivatives,
        reset_stats,
        second_derivative_report,
        second_derivative_summary,
        torch_reference,
    )
    from ._compiled import ALLOWED_FALLBACKS, FALLBACKS, REPLAYED, check_compiled, compiled_summary, compiled_tests
    from ._profiles import DEFAULT_PROFILE, PROFILE_ENV, PROFILES, profile_settings
    from ._saves import check_saves, saves_tests
    from ._strategies import Case, cases
except ModuleNotFoundError as _error:
    if _error.name not in ("torch", "hypothesis", "pytest"):
        raise
    # A bare "No module named 'torch'" does not say that it is an optional extra, nor which one.
    raise ModuleNotFoundError(
        f"kittygrad_core.testing needs {_error.name}, which is missing: install the testing extra, "
        'pip install "kittygrad-core[testing]" (torch, hypothesis, pytest).', name=_error.name) from _error
from ._declarations import check_provides

__all__ = [
    "ALLOWED_FALLBACKS", "DEFAULT_PROFILE", "FALLBACKS", "REPLAYED", "compiled_summary",
    "PROFILES", "PROFILE_ENV", "STATS", "Case", "call_kitty", "call_torch",
    "cases", "check_case", "check_compiled", "check_op", "compiled_tests", "check_provides", "check_saves",
    "conformance_stats",
    "conformance_tests",
    "differentiable_inputs", "op_names", "ops_with_second_derivatives", "ops_without_conformance",
    "ops_without_second_derivatives", "profile_settings",
    "reset_stats", "saves_tests", "second_derivative_report",
    "second_derivative_summary", "torch_reference",
]
