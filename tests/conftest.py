"""Shared pytest setup: the hypothesis profile every property test runs under, and a
fixture that silences the demos' progress bars.

``HYPOTHESIS_PROFILE=thorough pytest`` runs ten times as many examples.
"""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "tapegrad",
    max_examples=50,
    deadline=None,  # timings vary on a shared 2-core machine; the suite has a total budget
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("tapegrad"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tapegrad"))


@pytest.fixture
def quiet(monkeypatch):
    """Demos run without progress bars (the TAPEGRAD_QUIET switch of demos._common)."""
    monkeypatch.setenv("TAPEGRAD_QUIET", "1")
