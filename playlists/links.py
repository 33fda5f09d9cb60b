"""Spotify links and URIs: parse what an admin pastes, normalise it to ``spotify:`` URIs.

Pure module: no Django, no network. Accepted forms, for tracks, albums and playlists:

- ``https://open.spotify.com/track/<id>`` with or without ``https://``, with an ``intl-xx/``
  locale segment, an ``embed/`` segment or a ``?si=...`` share query;
- ``spotify:track:<id>`` and the legacy ``spotify:user:<name>:playlist:<id>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Item kinds a mapping can point at; artists, shows and episodes are not music for a mood.
SUPPORTED_KINDS: tuple[str, ...] = ("track", "album", "playlist")

#: Kinds of music source a mapping can have, derived from what was pasted.
SOURCE_KINDS: tuple[str, ...] = ("playlist", "album", "tracks", "search")

#: Spotify's own limit on the search ``q`` parameter is generous; ours keeps queries readable.
SEARCH_QUERY_MAX_CHARS = 200

_SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
_LOCALE_SEGMENT = re.compile(r"^intl-[a-z]{2}(-[a-z]{2})?$", re.IGNORECASE)
_OPEN_HOSTS = {"open.spotify.com", "play.spotify.com"}
_SEPARATORS = re.compile(r"[\s,]+")


class LinkError(ValueError):
    """Pasted text is not a supported Spotify link or URI."""


@dataclass(frozen=True)
class SpotifyRef:
    """One Spotify item: its kind (track, album, playlist) and its 22-character base62 id."""

    kind: str
    id: str

    @property
    def uri(self) -> str:
        return f"spotify:{self.kind}:{self.id}"

    @property
    def open_url(self) -> str:
        return f"https://open.spotify.com/{self.kind}/{self.id}"

    @property
    def embed_url(self) -> str:
        return f"https://open.spotify.com/embed/{self.kind}/{self.id}"


@dataclass(frozen=True)
class SourceSpec:
    """What a mapping plays: a playlist, an album, a list of tracks or a search query."""

    kind: str
    refs: tuple[SpotifyRef, ...] = ()
    query: str = ""

    @property
    def uris(self) -> list[str]:
        return [ref.uri for ref in self.refs]


def _checked(kind: str, item_id: str, original: str) -> SpotifyRef:
    if kind not in SUPPORTED_KINDS:
        raise LinkError(
            f"{original!r} is a Spotify {kind or 'page'} link; expected a playlist, album or "
            "track link."
        )
    if not _SPOTIFY_ID.match(item_id):
        raise LinkError(
            f"{original!r} has {item_id!r} where a 22-character Spotify {kind} id "
            "(letters and digits) was expected."
        )
    return SpotifyRef(kind=kind, id=item_id)


def _parse_uri(text: str) -> SpotifyRef:
    parts = text.split(":")
    # spotify:user:<name>:playlist:<id> is the pre-2018 playlist URI; the id alone identifies it.
    if len(parts) == 5 and parts[1] == "user" and parts[3] == "playlist":
        return _checked("playlist", parts[4], text)
    if len(parts) != 3:
        raise LinkError(f"{text!r} is not a Spotify URI; expected spotify:<kind>:<id>.")
    return _checked(parts[1].lower(), parts[2], text)


def _parse_url(text: str) -> SpotifyRef:
    candidate = text if "://" in text else f"https://{text}"
    parts = urlsplit(candidate)
    host = (parts.hostname or "").lower()
    if host == "spotify.link":
        raise LinkError(
            f"{text!r} is a short share link, which cannot be resolved offline; open it and "
            "paste the open.spotify.com link it leads to."
        )
    if parts.scheme not in ("http", "https") or host not in _OPEN_HOSTS:
        raise LinkError(
            f"{text!r} is not a Spotify link; expected https://open.spotify.com/... "
            "or a spotify: URI."
        )
    segments = [segment for segment in parts.path.split("/") if segment]
    if segments and _LOCALE_SEGMENT.match(segments[0]):
        segments = segments[1:]
    if segments and segments[0] == "embed":
        segments = segments[1:]
    if len(segments) == 4 and segments[0] == "user" and segments[2] == "playlist":
        segments = segments[2:]
    if len(segments) != 2:
        raise LinkError(
            f"{text!r} does not point at one item; expected open.spotify.com/<kind>/<id>."
        )
    return _checked(segments[0].lower(), segments[1], text)


def parse_link(text: str) -> SpotifyRef:
    """Parse one Spotify link or URI; raise ``LinkError`` saying what was expected."""
    text = text.strip()
    if not text:
        raise LinkError("Empty link; expected a Spotify playlist, album or track link.")
    if text.lower().startswith("spotify:"):
        return _parse_uri(text)
    return _parse_url(text)


def parse_links(text: str) -> list[SpotifyRef]:
    """Parse links separated by new lines, spaces or commas; duplicates are dropped."""
    refs: list[SpotifyRef] = []
    for token in _SEPARATORS.split(text.strip()):
        if token:
            ref = parse_link(token)
            if ref not in refs:
                refs.append(ref)
    return refs


def source_spec(*, links: str, query: str) -> SourceSpec:
    """The music source for pasted ``links`` or a search ``query`` (exactly one of them)."""
    links, query = links.strip(), " ".join(query.split())
    if links and query:
        raise LinkError("Give either Spotify links or a search query, not both.")
    if query:
        if len(query) > SEARCH_QUERY_MAX_CHARS:
            raise LinkError(
                f"The search query has {len(query)} characters; at most "
                f"{SEARCH_QUERY_MAX_CHARS} are allowed."
            )
        return SourceSpec(kind="search", query=query)
    if not links:
        raise LinkError("Give Spotify links (a playlist, an album or tracks) or a search query.")
    refs = parse_links(links)
    kinds = {ref.kind for ref in refs}
    if kinds == {"track"}:
        return SourceSpec(kind="tracks", refs=tuple(refs))
    if len(refs) == 1:
        return SourceSpec(kind=refs[0].kind, refs=tuple(refs))
    raise LinkError(
        f"Got {len(refs)} links of kinds {', '.join(sorted(kinds))}; expected one playlist, "
        "one album, or one or more tracks."
    )


def spec_from_uris(kind: str, uris: list[str], query: str = "") -> SourceSpec:
    """Rebuild a ``SourceSpec`` from stored, already normalised URIs."""
    return SourceSpec(kind=kind, refs=tuple(parse_link(uri) for uri in uris), query=query)
