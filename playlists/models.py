"""Mood mappings: which music an admin curated for a mood, optionally narrowed by listener."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from ml.labels import AGE_BAND_NAMES, GENDERS, MOODS
from playlists import links as spotify_links

FALLBACK_HELP = (
    "For a listener with mood M, age band A and gender G the first enabled mapping found in this "
    "order plays: (1) M + A + G, (2) M + A with any gender, (3) M + G with any age band, "
    "(4) M alone, (5) the default: the general mappings of the default mood "
    "(PLAYLIST_DEFAULT_MOOD, 'neutral'). Within a level the highest priority wins, then the "
    "oldest mapping."
)


def _label(name: str) -> str:
    return name.replace("_", " ")


class MoodMapping(models.Model):
    """Music an admin curated for a mood, optionally for one age band and/or gender."""

    class Kind(models.TextChoices):
        PLAYLIST = "playlist", "Spotify playlist"
        ALBUM = "album", "Spotify album"
        TRACKS = "tracks", "Spotify tracks"
        SEARCH = "search", "Search query"

    class Health(models.TextChoices):
        UNKNOWN = "unknown", "not checked"
        OK = "ok", "ok"
        NOT_FOUND = "not_found", "not found"
        FORBIDDEN = "forbidden", "forbidden"
        UNREACHABLE = "unreachable", "unreachable"

    mood = models.CharField(max_length=16, choices=[(m, m) for m in MOODS])
    age_band = models.CharField(
        max_length=16,
        blank=True,
        default="",
        choices=[(a, _label(a)) for a in AGE_BAND_NAMES],
        help_text="Leave empty to match every age band.",
    )
    gender = models.CharField(
        max_length=16,
        blank=True,
        default="",
        choices=[(g, g) for g in GENDERS],
        help_text="Leave empty to match every gender.",
    )
    links = models.TextField(
        blank=True,
        default="",
        help_text=(
            "One Spotify playlist, one album, or one or more tracks: open.spotify.com links "
            "(intl-xx/ paths and ?si= are fine) or spotify: URIs, one per line. Saved as URIs."
        ),
    )
    search_query = models.CharField(
        max_length=spotify_links.SEARCH_QUERY_MAX_CHARS,
        blank=True,
        default="",
        help_text="Instead of links: a Spotify search (needs Spotify credentials), "
        'e.g. "genre:lo-fi chill".',
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, blank=True, editable=False)
    priority = models.IntegerField(default=0, help_text="Higher plays first within a level.")
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True, default="")

    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    health_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    health_detail = models.CharField(max_length=200, blank=True, default="", editable=False)

    skip_count = models.PositiveIntegerField(default=0, editable=False)
    like_count = models.PositiveIntegerField(default=0, editable=False)
    not_my_mood_count = models.PositiveIntegerField(default=0, editable=False)

    #: Tracks resolved through the Spotify Web API, as the player's track dicts.
    tracks_cache = models.JSONField(default=list, blank=True, editable=False)
    tracks_cached_at = models.DateTimeField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("mood", "age_band", "gender", "-priority", "id")
        verbose_name = "mood mapping"
        indexes = [models.Index(fields=("mood", "enabled"))]

    def __str__(self) -> str:
        return f"{self.audience_label()} → {self.source_label()}"

    def clean(self) -> None:
        try:
            spec = spotify_links.source_spec(links=self.links, query=self.search_query)
        except spotify_links.LinkError as err:
            field = (
                "search_query" if self.search_query.strip() and not self.links.strip() else "links"
            )
            raise ValidationError({field: str(err)}) from err
        if spec.uris != self.uris or spec.kind != self.kind:
            self.links = "\n".join(spec.uris)
            self.kind = spec.kind
            self.tracks_cache, self.tracks_cached_at = [], None
            self.health, self.health_checked_at, self.health_detail = self.Health.UNKNOWN, None, ""
        self.search_query = spec.query

    @property
    def uris(self) -> list[str]:
        return [line for line in self.links.split() if line]

    def spec(self) -> spotify_links.SourceSpec:
        """The stored source as a ``SourceSpec``."""
        return spotify_links.spec_from_uris(self.kind, self.uris, self.search_query)

    def audience_label(self) -> str:
        """'happy · young adult · female'; parts left empty match everyone and are left out."""
        parts = [self.mood, _label(self.age_band), self.gender]
        return " · ".join(part for part in parts if part)

    def source_label(self) -> str:
        if self.kind == self.Kind.SEARCH:
            return f'search "{self.search_query}"'
        count = len(self.uris)
        if self.kind == self.Kind.TRACKS:
            return f"{count} track{'s' if count != 1 else ''}"
        return self.get_kind_display()

    def tracks_cache_fresh(self, *, ttl_seconds: int) -> bool:
        return bool(
            self.tracks_cached_at
            and timezone.now() - self.tracks_cached_at < timedelta(seconds=ttl_seconds)
        )
