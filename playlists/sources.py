"""Music sources: how a mapping's links or query become something to play.

Pluggable classes with one small interface (``resolve`` and ``check``):

- ``EmbedSource`` needs no credentials and no network to play: playlists and albums become a
  Spotify embed, track lists become their tracks (without titles); search needs the Web API.
- ``SpotifyApiSource`` resolves every kind to tracks with title, artists, artwork and duration
  through ``playlists.spotify`` (client credentials).

Both check health through oEmbed, which needs no credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from playlists import spotify
from playlists.links import SourceSpec, SpotifyRef


class NotPlayable(Exception):
    """This source cannot play the mapping at all (e.g. a search without credentials)."""


@dataclass
class Resolution:
    """What a source made of a mapping: tracks (maybe empty) and an embed for the whole."""

    tracks: list[dict[str, Any]] = field(default_factory=list)
    embed_url: str = ""


class MusicSource:
    """Interface of a music source."""

    def resolve(self, spec: SourceSpec, *, limit: int) -> Resolution:
        """Tracks and embed for ``spec``; raises ``NotPlayable`` or ``spotify.SpotifyError``."""
        raise NotImplementedError

    def check(self, spec: SourceSpec) -> None:
        """Return when every linked item is public; raise a ``spotify.SpotifyError`` if not."""
        if spec.kind == "search":
            raise spotify.SpotifyDisabled("A search can only be checked with Spotify credentials.")
        for ref in spec.refs:
            spotify.oembed(ref.open_url)


def _bare_track(ref: SpotifyRef) -> dict[str, Any]:
    return spotify.Track(title="", uri=ref.uri).to_dict()


class EmbedSource(MusicSource):
    """Plays curated links as Spotify embeds; needs no credentials."""

    def resolve(self, spec: SourceSpec, *, limit: int) -> Resolution:
        if spec.kind == "search":
            raise NotPlayable("a search query needs Spotify credentials (SPOTIFY_ENABLED)")
        if spec.kind == "tracks":
            tracks = [_bare_track(ref) for ref in spec.refs[:limit]]
            return Resolution(tracks=tracks, embed_url=spec.refs[0].embed_url)
        return Resolution(embed_url=spec.refs[0].embed_url)


class SpotifyApiSource(MusicSource):
    """Resolves mappings to full tracks through the Spotify Web API."""

    def __init__(self, client: spotify.SpotifyClient) -> None:
        self.client = client
        self._resolvers: dict[str, Callable[[SourceSpec, int], list[spotify.Track]]] = {
            "playlist": lambda s, n: self.client.playlist_tracks(s.refs[0].id, limit=n),
            "album": lambda s, n: self.client.album_tracks(s.refs[0].id, limit=n),
            "tracks": lambda s, n: self.client.tracks([ref.id for ref in s.refs[:n]]),
            "search": lambda s, n: self.client.search_tracks(s.query, limit=n),
        }

    def resolve(self, spec: SourceSpec, *, limit: int) -> Resolution:
        tracks = self._resolvers[spec.kind](spec, limit)
        whole = spec.refs[0].embed_url if spec.kind in ("playlist", "album") else ""
        return Resolution(tracks=[t.to_dict() for t in tracks], embed_url=whole)

    def check(self, spec: SourceSpec) -> None:
        if spec.kind != "search":
            super().check(spec)
        elif not self.client.search_tracks(spec.query, limit=1):
            raise spotify.SpotifyNotFound(f'The search "{spec.query}" finds no tracks.')


def music_source() -> MusicSource:
    """The Web API source when Spotify is switched on, else the embed-only source."""
    try:
        return SpotifyApiSource(spotify.spotify_client())
    except spotify.SpotifyDisabled:
        return EmbedSource()
