"""Playlist services: choose and resolve music for a mood, record feedback and health.

Privacy: what is known about the listener (mood, age band, gender) is used for the choice and
forgotten; the tracks already played in a listening session are kept in the cache under a hash
of the session key, never in the database. Only per-mapping counters are stored.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import F
from django.utils import timezone
from django.utils.timesince import timesince

from ml.labels import AGE_BAND_NAMES, GENDERS, MOODS
from playlists import selectors, spotify
from playlists.links import SpotifyRef, parse_link
from playlists.models import MoodMapping
from playlists.sources import EmbedSource, MusicSource, NotPlayable, Resolution, music_source

logger = logging.getLogger(__name__)

#: Feedback a listener can give on a mapping -> the counter it increments.
FEEDBACK_COUNTERS: dict[str, str] = {
    "skip": "skip_count",
    "like": "like_count",
    "not_my_mood": "not_my_mood_count",
}

#: Spotify error -> the mapping's health state.
_HEALTH_FOR_ERROR: dict[type[spotify.SpotifyError], str] = {
    spotify.SpotifyNotFound: MoodMapping.Health.NOT_FOUND,
    spotify.SpotifyBadRequest: MoodMapping.Health.NOT_FOUND,
    spotify.SpotifyForbidden: MoodMapping.Health.FORBIDDEN,
    spotify.SpotifyAuthFailed: MoodMapping.Health.FORBIDDEN,
    spotify.SpotifyUnavailable: MoodMapping.Health.UNREACHABLE,
    spotify.SpotifyDisabled: MoodMapping.Health.UNKNOWN,
}


class UnknownFeedback(ValueError):
    """The feedback action is not one of FEEDBACK_COUNTERS."""


@dataclass
class PlaylistChoice:
    """The music chosen for a mood, which mapping it came from and why."""

    mood: str
    mapping_id: int | None
    reason: str
    embed_url: str = ""
    tracks: list[dict[str, Any]] = field(default_factory=list)
    degraded: str = ""

    def to_message(self) -> dict[str, Any]:
        """The websocket/HTTP message the player understands; each track with its embed URL,
        so the page never builds one."""
        return {
            "type": "playlist",
            "mood": self.mood,
            "mapping": self.mapping_id,
            "reason": self.reason,
            "embed_url": self.embed_url,
            "tracks": [{**track, "embed_url": _track_embed(track)} for track in self.tracks],
            "degraded": self.degraded or False,
        }


def _health_state(err: spotify.SpotifyError) -> str:
    for klass in type(err).__mro__:
        if klass in _HEALTH_FOR_ERROR:
            return _HEALTH_FOR_ERROR[klass]
    return MoodMapping.Health.UNREACHABLE


def _history_key(session_key: str) -> str:
    digest = hashlib.sha256(session_key.encode()).hexdigest()[:32]
    return f"playlists:history:{digest}"


def _without_repeats(tracks: list[dict[str, Any]], session_key: str) -> list[dict[str, Any]]:
    """Drops tracks this session already got; when all were played, starts over."""
    if not tracks:
        return tracks
    key = _history_key(session_key)
    history: list[str] = cache.get(key) or []
    played = set(history)
    fresh = [t for t in tracks if t["uri"] not in played]
    if not fresh:
        fresh, history = tracks, []
    history = (history + [t["uri"] for t in fresh])[-settings.PLAYLIST_HISTORY_MAX :]
    cache.set(key, history, timeout=settings.PLAYLIST_HISTORY_SECONDS)
    return fresh


def _save_tracks_cache(mapping: MoodMapping, tracks: list[dict[str, Any]]) -> None:
    now = timezone.now()
    MoodMapping.objects.filter(pk=mapping.pk).update(tracks_cache=tracks, tracks_cached_at=now)
    mapping.tracks_cache, mapping.tracks_cached_at = tracks, now


def _record_failure(mapping: MoodMapping, err: spotify.SpotifyError) -> None:
    state = _health_state(err)
    if state in (MoodMapping.Health.NOT_FOUND, MoodMapping.Health.FORBIDDEN):
        MoodMapping.objects.filter(pk=mapping.pk).update(
            health=state, health_checked_at=timezone.now(), health_detail=str(err)[:200]
        )


def _resolve(mapping: MoodMapping, source: MusicSource) -> tuple[Resolution, str]:
    """Resolution for a mapping and, when degraded, why; raises ``NotPlayable``."""
    spec, limit = mapping.spec(), settings.PLAYLIST_MAX_TRACKS
    if isinstance(source, EmbedSource):
        return source.resolve(spec, limit=limit), ""
    whole = spec.refs[0].embed_url if spec.kind in ("playlist", "album") else ""
    if mapping.tracks_cache and mapping.tracks_cache_fresh(
        ttl_seconds=settings.PLAYLIST_CACHE_SECONDS
    ):
        return Resolution(tracks=list(mapping.tracks_cache), embed_url=whole), ""
    try:
        resolution = source.resolve(spec, limit=limit)
    except spotify.SpotifyError as err:
        logger.warning("Spotify failed for mapping %s: %s", mapping.pk, err)
        _record_failure(mapping, err)
        why = f"Spotify failed ({type(err).__name__})"
        if mapping.tracks_cache:
            age = timesince(mapping.tracks_cached_at) if mapping.tracks_cached_at else "a while"
            return (
                Resolution(tracks=list(mapping.tracks_cache), embed_url=whole),
                f"{why}; playing tracks saved {age} ago",
            )
        return EmbedSource().resolve(spec, limit=limit), f"{why}; playing the plain embed"
    if resolution.tracks:
        _save_tracks_cache(mapping, resolution.tracks)
    return resolution, ""


def playlist_for_mood(
    *,
    mood: str,
    age_band: str | None = None,
    gender: str | None = None,
    session_key: str,
    manual: bool = False,
) -> PlaylistChoice:
    """Ordered music for a listener's mood, the mapping that matched and why.

    Walks the fallback order of ``selectors.mapping_candidates``; a mapping its source cannot
    play (a search without credentials) is passed over. Tracks this ``session_key`` already got
    are left out. When Spotify fails, serves the mapping's cached tracks or the plain embed and
    says so in ``degraded``.
    """
    if mood not in MOODS:
        raise ValueError(f"mood must be one of {', '.join(MOODS)}; got {mood!r}")
    age_band = age_band if age_band in AGE_BAND_NAMES else None
    gender = gender if gender in GENDERS else None
    source = music_source()
    passed_over: list[str] = []
    for candidate in selectors.mapping_candidates(mood=mood, age_band=age_band, gender=gender):
        try:
            resolution, degraded = _resolve(candidate.mapping, source)
        except NotPlayable as err:
            passed_over.append(f"mapping {candidate.mapping.pk}: {err}")
            continue
        tracks = _without_repeats(resolution.tracks, session_key)
        embed_url = _track_embed(tracks[0]) if tracks else resolution.embed_url
        reason = f"you chose {mood}" if manual else candidate.reason
        if passed_over:
            degraded = "; ".join([*passed_over, degraded] if degraded else passed_over)
        return PlaylistChoice(
            mood=mood,
            mapping_id=candidate.mapping.pk,
            reason=reason,
            embed_url=embed_url,
            tracks=tracks,
            degraded=degraded,
        )
    return PlaylistChoice(
        mood=mood,
        mapping_id=None,
        reason=f"no music is curated for {mood} yet",
        degraded="; ".join(passed_over),
    )


def _track_embed(track: dict[str, Any]) -> str:
    ref: SpotifyRef = parse_link(track["uri"])
    return ref.embed_url


def mapping_feedback(*, mapping_id: int, action: str) -> dict[str, int]:
    """Counts one listener's feedback on a mapping atomically; returns the new counts."""
    counter = FEEDBACK_COUNTERS.get(action)
    if counter is None:
        raise UnknownFeedback(
            f"feedback must be one of {', '.join(FEEDBACK_COUNTERS)}; got {action!r}"
        )
    updated = MoodMapping.objects.filter(pk=mapping_id).update(**{counter: F(counter) + 1})
    if not updated:
        raise MoodMapping.DoesNotExist(f"No mood mapping with id {mapping_id}.")
    return dict(MoodMapping.objects.filter(pk=mapping_id).values(*FEEDBACK_COUNTERS.values()).get())


def mapping_check_health(*, mapping: MoodMapping) -> MoodMapping:
    """Checks a mapping's links through oEmbed (a search through the API) and stores the state."""
    source = music_source()
    try:
        source.check(mapping.spec())
    except spotify.SpotifyError as err:
        state, detail = _health_state(err), str(err)
    else:
        state, detail = MoodMapping.Health.OK, ""
    mapping.health, mapping.health_detail = state, detail[:200]
    mapping.health_checked_at = timezone.now()
    MoodMapping.objects.filter(pk=mapping.pk).update(
        health=mapping.health,
        health_detail=mapping.health_detail,
        health_checked_at=mapping.health_checked_at,
    )
    return mapping


def mapping_preview(*, mapping: MoodMapping) -> PlaylistChoice:
    """What this one mapping resolves to now, without touching any listener's history."""
    source = music_source()
    try:
        resolution, degraded = _resolve(mapping, source)
    except NotPlayable as err:
        return PlaylistChoice(
            mood=mapping.mood, mapping_id=mapping.pk, reason="", degraded=str(err)
        )
    tracks = resolution.tracks
    embed_url = resolution.embed_url or (_track_embed(tracks[0]) if tracks else "")
    return PlaylistChoice(
        mood=mapping.mood,
        mapping_id=mapping.pk,
        reason=mapping.audience_label(),
        embed_url=embed_url,
        tracks=tracks,
        degraded=degraded,
    )
