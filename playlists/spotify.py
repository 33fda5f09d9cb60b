"""Spotify at the edge: the Web API through spotipy and oEmbed through requests.

The only module that imports spotipy. Every spotipy and requests error leaves this module as one
of the exceptions below, chained to the original. What still works for a development-mode app in
2026 shapes the calls: client credentials only, ``search`` paged at ``limit`` <= 10,
playlist contents from ``/playlists/{id}/items`` (entries under ``item``, formerly ``track``),
single-item ``/tracks/{id}`` and ``/albums/{id}`` (the batch endpoints are gone).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import requests
import spotipy
from django.conf import settings
from django.core.cache import cache
from spotipy.cache_handler import CacheHandler
from spotipy.exceptions import SpotifyException, SpotifyOauthError
from spotipy.oauth2 import SpotifyClientCredentials

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Spotify's largest page for playlist and album contents.
CONTENT_PAGE_SIZE = 50
#: Seconds before expiry at which a cached token counts as stale (spotipy uses 60 too).
TOKEN_EXPIRY_MARGIN_SECONDS = 60


class SpotifyError(Exception):
    """Base of every error the Spotify integration raises."""


class SpotifyDisabled(SpotifyError):
    """The Web API is switched off (SPOTIFY_ENABLED is false) or has no credentials."""


class SpotifyUnavailable(SpotifyError):
    """Spotify could not be reached in time or answered with a server error."""


class SpotifyRateLimited(SpotifyUnavailable):
    """Spotify kept answering 429 Too Many Requests beyond the allowed retries or wait."""


class SpotifyNotFound(SpotifyError):
    """The item does not exist or is not public (HTTP 404)."""


class SpotifyForbidden(SpotifyError):
    """Spotify refused this app access to the item or endpoint (HTTP 403)."""


class SpotifyAuthFailed(SpotifyError):
    """Spotify rejected the client credentials (HTTP 400/401 from the token endpoint)."""


class SpotifyBadRequest(SpotifyError):
    """Spotify rejected a request as malformed (HTTP 400)."""


_STATUS_ERRORS: dict[int, type[SpotifyError]] = {
    400: SpotifyBadRequest,
    401: SpotifyAuthFailed,
    403: SpotifyForbidden,
    404: SpotifyNotFound,
    429: SpotifyRateLimited,
}


def error_for_status(status: int) -> type[SpotifyError]:
    """The app's exception class for an HTTP status from Spotify."""
    return _STATUS_ERRORS.get(status, SpotifyUnavailable)


@dataclass(frozen=True)
class Track:
    """One playable track as the player shows it."""

    title: str
    uri: str
    artists: list[str] = field(default_factory=list)
    image: str = ""
    ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def track_from_api(item: dict[str, Any] | None, *, image: str = "") -> Track | None:
    """A ``Track`` from a Web API track object; None for episodes, local files and gaps."""
    if not item or item.get("type", "track") != "track" or not item.get("uri"):
        return None
    if item.get("is_local"):
        return None
    images = (item.get("album") or {}).get("images") or []
    return Track(
        title=item.get("name", ""),
        uri=item["uri"],
        artists=[artist.get("name", "") for artist in item.get("artists") or []],
        image=images[0]["url"] if images else image,
        ms=item.get("duration_ms"),
    )


class DjangoCacheTokenStore(CacheHandler):
    """Keeps the client-credentials token in Django's cache instead of spotipy's ``.cache`` file."""

    def __init__(self, key: str) -> None:
        self.key = key

    def get_cached_token(self) -> dict[str, Any] | None:
        return cache.get(self.key)

    def save_token_to_cache(self, token_info: dict[str, Any]) -> None:
        ttl = int(token_info.get("expires_in", 3600)) - TOKEN_EXPIRY_MARGIN_SECONDS
        cache.set(self.key, token_info, timeout=max(ttl, 1))


@dataclass(frozen=True)
class SpotifyConfig:
    """Everything the client needs, read from settings by ``from_settings``."""

    client_id: str
    client_secret: str
    api_url: str
    token_url: str
    timeout: float
    retries: int
    retry_after_max: float
    market: str
    search_page_size: int

    @classmethod
    def from_settings(cls) -> SpotifyConfig:
        return cls(
            client_id=settings.SPOTIFY_CLIENT_ID,
            client_secret=settings.SPOTIFY_CLIENT_SECRET,
            api_url=settings.SPOTIFY_API_URL,
            token_url=settings.SPOTIFY_TOKEN_URL,
            timeout=settings.SPOTIFY_TIMEOUT_SECONDS,
            retries=settings.SPOTIFY_RETRIES,
            retry_after_max=settings.SPOTIFY_RETRY_AFTER_MAX_SECONDS,
            market=settings.SPOTIFY_MARKET,
            search_page_size=min(settings.SPOTIFY_SEARCH_PAGE_SIZE, 10),
        )


class SpotifyClient:
    """Client-credentials access to the Web API calls MusicMood needs."""

    def __init__(self, config: SpotifyConfig, *, sleep: Callable[[float], None] | None = None):
        """``sleep`` waits out a 429's Retry-After; None: ``time.sleep``, looked up when waiting."""
        self.config = config
        self._sleep = sleep
        # A plain session: no urllib3 retry adapter, so a 429 reaches us with its Retry-After.
        session = requests.Session()
        token_key = hashlib.sha256(f"{config.client_id}|{config.token_url}".encode()).hexdigest()
        auth = SpotifyClientCredentials(
            client_id=config.client_id,
            client_secret=config.client_secret,
            requests_session=session,
            requests_timeout=config.timeout,
            cache_handler=DjangoCacheTokenStore(f"playlists:spotify-token:{token_key[:24]}"),
        )
        auth.OAUTH_TOKEN_URL = config.token_url
        self._api = spotipy.Spotify(
            auth_manager=auth,
            requests_session=session,
            requests_timeout=config.timeout,
            retries=0,
            status_retries=0,
        )
        self._api.prefix = config.api_url.rstrip("/") + "/"

    # --- calls ----------------------------------------------------------------------------------
    def search_tracks(self, query: str, *, limit: int) -> list[Track]:
        """Up to ``limit`` tracks for a search, fetched in pages of at most 10."""
        tracks: list[Track] = []
        offset = 0
        while len(tracks) < limit:
            page_size = min(self.config.search_page_size, limit - len(tracks))
            page = self._call(
                self._api.search,
                q=query,
                limit=page_size,
                offset=offset,
                type="track",
                market=self.config.market,
            )
            result = (page or {}).get("tracks") or {}
            items = result.get("items") or []
            tracks.extend(t for t in map(track_from_api, items) if t is not None)
            offset += len(items)
            if len(items) < page_size or not result.get("next"):
                break
        return tracks[:limit]

    def playlist_tracks(self, playlist_id: str, *, limit: int) -> list[Track]:
        """Up to ``limit`` tracks of a playlist, from ``/playlists/{id}/items``."""
        tracks: list[Track] = []
        offset = 0
        while len(tracks) < limit:
            page = self._call(
                self._api.playlist_items,
                playlist_id,
                limit=CONTENT_PAGE_SIZE,
                offset=offset,
                market=self.config.market,
                additional_types=("track",),
            )
            items = (page or {}).get("items") or []
            for entry in items:
                # Since February 2026 the entry is under "item"; "track" is its deprecated alias.
                track = track_from_api(entry.get("item") or entry.get("track"))
                if track is not None:
                    tracks.append(track)
            offset += len(items)
            if not items or not (page or {}).get("next"):
                break
        return tracks[:limit]

    def album_tracks(self, album_id: str, *, limit: int) -> list[Track]:
        """Up to ``limit`` tracks of an album, with the album's artwork."""
        album = self._call(self._api.album, album_id, market=self.config.market) or {}
        images = album.get("images") or []
        image = images[0]["url"] if images else ""
        items = (album.get("tracks") or {}).get("items") or []
        tracks = [track_from_api(item, image=image) for item in items]
        return [t for t in tracks if t is not None][:limit]

    def tracks(self, track_ids: list[str]) -> list[Track]:
        """The given tracks in order, one ``/tracks/{id}`` call each."""
        found = (
            track_from_api(self._call(self._api.track, tid, market=self.config.market))
            for tid in track_ids
        )
        return [t for t in found if t is not None]

    # --- error translation and 429 handling ----------------------------------------------------
    def _call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        attempt = 0
        while True:
            try:
                return func(*args, **kwargs)
            except SpotifyException as err:
                wait = self._retry_wait(err, attempt)
                if wait is None:
                    raise error_for_status(err.http_status)(
                        f"Spotify answered {err.http_status} to {func.__name__}: {err.msg}"
                    ) from err
                logger.warning("Spotify rate limit on %s; retrying in %.1f s", func.__name__, wait)
                (self._sleep or time.sleep)(wait)
                attempt += 1
            except SpotifyOauthError as err:
                status = getattr(getattr(err.__context__, "response", None), "status_code", 0)
                raise (SpotifyAuthFailed if status in (400, 401) else SpotifyUnavailable)(
                    f"Spotify's token endpoint refused the client credentials: {err}"
                ) from err
            except requests.Timeout as err:
                raise SpotifyUnavailable(
                    f"Spotify did not answer {func.__name__} within {self.config.timeout} s"
                ) from err
            except requests.RequestException as err:
                raise SpotifyUnavailable(f"Spotify unreachable for {func.__name__}: {err}") from err

    def _retry_wait(self, err: SpotifyException, attempt: int) -> float | None:
        """Seconds to wait before retrying a 429, or None when it must not be retried."""
        if err.http_status != 429 or attempt >= self.config.retries:
            return None
        raw = (err.headers or {}).get("Retry-After", "1")
        try:
            wait = max(float(raw), 0.0)
        except ValueError:
            wait = 1.0
        return wait if wait <= self.config.retry_after_max else None


_clients: dict[SpotifyConfig, SpotifyClient] = {}


def spotify_client() -> SpotifyClient:
    """The process's client for the current settings; raises ``SpotifyDisabled`` when off."""
    if not settings.SPOTIFY_ENABLED:
        raise SpotifyDisabled("SPOTIFY_ENABLED is off; only embeds are available.")
    config = SpotifyConfig.from_settings()
    if not (config.client_id and config.client_secret):
        raise SpotifyDisabled("SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET must both be set.")
    if config not in _clients:
        _clients[config] = SpotifyClient(config)
    return _clients[config]


def oembed(open_url: str) -> dict[str, Any]:
    """Spotify's oEmbed answer for a public item's URL; needs no credentials."""
    timeout = settings.SPOTIFY_TIMEOUT_SECONDS
    try:
        response = requests.get(
            settings.SPOTIFY_OEMBED_URL, params={"url": open_url}, timeout=timeout
        )
    except requests.Timeout as err:
        raise SpotifyUnavailable(f"oEmbed did not answer within {timeout} s") from err
    except requests.RequestException as err:
        raise SpotifyUnavailable(f"oEmbed unreachable: {err}") from err
    if response.status_code != 200:
        raise error_for_status(response.status_code)(
            f"oEmbed answered {response.status_code} for {open_url}"
        )
    try:
        return response.json()
    except ValueError as err:
        raise SpotifyUnavailable(
            f"oEmbed answered with something other than JSON for {open_url}"
        ) from err
