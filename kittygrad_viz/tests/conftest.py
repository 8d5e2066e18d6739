"""kittygrad-viz tests: every test must leave no tracer and no recording graph behind."""
import pytest

import kittygrad_core
from kittygrad_viz import _state


@pytest.fixture(autouse=True)
def no_recording_left():
    yield
    assert not kittygrad_core._tracing.active_tracers(), "a test left a tracer active"
    assert _state.active.get() is None, "a test left a CompGraph recording"
