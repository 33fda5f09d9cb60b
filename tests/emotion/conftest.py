"""Fixtures of the emotion tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def inline(settings, tiny_model_dir):
    """Embedded mode with the tiny model, a quick mood and generous limits."""
    settings.ANALYSIS_MODE = "inline"
    settings.MUSICMOOD_MODEL = str(tiny_model_dir)
    settings.FACE_DETECTOR = "opencv"
    settings.ANALYSIS_TIMEOUT_SECONDS = 30.0
    settings.MOOD_MIN_DWELL_SECONDS = 0.0
    settings.FRAME_RATE_PER_SECOND = 100.0
    settings.FRAME_RATE_BURST = 100
    settings.WS_MAX_ERRORS = 50
    return settings
