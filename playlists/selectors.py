"""Queries over mood mappings: the fallback order lives here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from playlists.models import MoodMapping


@dataclass(frozen=True)
class Candidate:
    """A mapping that may play for a listener, and why (the fallback level it matched at)."""

    mapping: MoodMapping
    reason: str


def _label(value: str) -> str:
    return value.replace("_", " ")


def _levels(
    mood: str, age_band: str | None, gender: str | None, default_mood: str
) -> list[tuple[str, str, str, str]]:
    """(mood, age band, gender, reason) per fallback level, most specific first; '' is 'any'."""
    levels: list[tuple[str, str, str, str]] = []
    if age_band and gender:
        levels.append((mood, age_band, gender, f"{mood} · {_label(age_band)} · {gender}"))
    if age_band:
        levels.append((mood, age_band, "", f"{mood} · {_label(age_band)}"))
    if gender:
        levels.append((mood, "", gender, f"{mood} · {gender}"))
    levels.append((mood, "", "", mood))
    if default_mood != mood:
        levels.append(
            (default_mood, "", "", f"{default_mood} (default: nothing curated for {mood})")
        )
    return levels


def mapping_candidates(
    *, mood: str, age_band: str | None = None, gender: str | None = None
) -> list[Candidate]:
    """Enabled mappings for a listener in fallback order.

    Order: mood + age band + gender, mood + age band, mood + gender, mood alone, then the
    general mappings of ``PLAYLIST_DEFAULT_MOOD``; within a level, higher priority first, then
    the older mapping.
    """
    default_mood = settings.PLAYLIST_DEFAULT_MOOD
    levels = _levels(mood, age_band or None, gender or None, default_mood)
    rows = MoodMapping.objects.filter(enabled=True, mood__in={mood, default_mood}).order_by(
        "-priority", "id"
    )
    by_key: dict[tuple[str, str, str], list[MoodMapping]] = {}
    for row in rows:
        by_key.setdefault((row.mood, row.age_band, row.gender), []).append(row)
    return [
        Candidate(mapping=row, reason=reason)
        for m, a, g, reason in levels
        for row in by_key.get((m, a, g), [])
    ]
