"""Mood services: settings into per-socket smoothing, a newly announced mood into music.

The smoothing itself is pure (``emotion.mood``); here it meets settings and the playlists app.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from emotion.mood import Mood, MoodConfig, MoodState, mood_step
from ml.analysis import FrameAnalysis  # plain dataclasses: no model runtime imported


def mood_config(*, demographics: bool = True) -> MoodConfig:
    """Mood smoothing thresholds from settings; ``demographics``: the listener's switch."""
    return MoodConfig(
        window_seconds=settings.MOOD_WINDOW_SECONDS,
        min_dwell_seconds=settings.MOOD_MIN_DWELL_SECONDS,
        switch_margin=settings.MOOD_SWITCH_MARGIN,
        min_confidence=settings.MOOD_MIN_CONFIDENCE,
        absence_seconds=settings.MOOD_ABSENCE_SECONDS,
        age_margin_years=settings.MOOD_AGE_MARGIN_YEARS,
        gender_margin=settings.MOOD_GENDER_MARGIN,
        demographics=demographics,
    )


def mood_state_new(*, demographics: bool = True) -> MoodState:
    """A fresh per-socket smoothing state; with ``demographics`` off, no age band or gender."""
    return MoodState(config=mood_config(demographics=demographics))


def mood_update(*, state: MoodState, analysis: dict[str, Any], now: float) -> Mood | None:
    """Feed one frame's analysis (``FrameAnalysis.to_dict()`` form) into ``state``.

    Returns the new ``Mood`` when what is announced changed (see ``mood_step``), else None.
    """
    frame = FrameAnalysis.from_dict(analysis)
    return mood_step(state, frame.faces, now=now)


def mood_playlist_message(*, mood: Mood, session_key: str) -> dict[str, Any] | None:
    """The ``playlist`` message for a newly announced mood; None when no one is there.

    Synchronous (it reads the database and may call Spotify): the consumer runs it in a thread.
    """
    if mood.mood is None:
        return None
    from playlists.services import playlist_for_mood

    choice = playlist_for_mood(
        mood=mood.mood, age_band=mood.age_band, gender=mood.gender, session_key=session_key
    )
    return choice.to_message()
