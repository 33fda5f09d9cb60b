"""A local HTTP server that speaks the parts of Spotify's protocol MusicMood uses.

Endpoints: ``POST /api/token`` (client credentials, HTTP Basic auth checked),
``GET /v1/search`` (limit/offset paging; limit > 10 is a 400 as for 2026 development-mode apps),
``GET /v1/playlists/{id}/items`` (entries under ``item``), ``GET /v1/playlists/{id}/tracks``
(answers 403 like Spotify since March 2026), ``GET /v1/tracks/{id}``, ``GET /v1/albums/{id}``
and ``GET /oembed``. Failure modes are switched per path prefix with ``fail(...)``.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret"
ACCESS_TOKEN = "fake-access-token"
SEARCH_MAX_LIMIT = 10
#: Longest a held answer waits for its test (see ``Failure.hold``).
HOLD_LIMIT_SECONDS = 30.0


def track_id(n: int) -> str:
    """A valid-looking 22-character base62 id for fake track number ``n``."""
    return f"faketrack{n:013d}"


def fake_track(n: int) -> dict[str, Any]:
    tid = track_id(n)
    return {
        "type": "track",
        "id": tid,
        "uri": f"spotify:track:{tid}",
        "name": f"Song {n}",
        "duration_ms": 180_000 + n,
        "artists": [{"name": f"Artist {n}"}],
        "album": {"images": [{"url": f"https://i.scdn.co/image/fake{n}"}]},
        "is_local": False,
    }


@dataclass
class Failure:
    """A failure mode for requests whose path starts with ``prefix``."""

    status: int = 500
    times: int = 1_000_000  # how many requests fail before the path works again
    retry_after: str | None = None
    #: Answer only once this is set (a server too slow for the client's timeout); the test
    #: sets it when done, and a forgotten one gives up after HOLD_LIMIT_SECONDS.
    hold: threading.Event | None = None


@dataclass
class FakeSpotifyState:
    playlists: dict[str, list[int]] = field(default_factory=dict)
    albums: dict[str, list[int]] = field(default_factory=dict)
    search_results: int = 25
    failures: dict[str, Failure] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        return

    # --- plumbing --------------------------------------------------------------------------------
    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"status": status, "message": message}}, headers)

    def _failure(self, path: str) -> bool:
        state = self.server.state
        with state.lock:
            failure = next((f for p, f in state.failures.items() if path.startswith(p)), None)
            if failure is None or failure.times <= 0:
                return False
            failure.times -= 1
        if failure.hold is not None:
            failure.hold.wait(HOLD_LIMIT_SECONDS)
            if failure.status == 200:
                return False
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else None
        self._error(failure.status, f"fake failure {failure.status}", headers)
        return True

    def _record(self) -> tuple[str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        with self.server.state.lock:
            self.server.state.requests.append((self.command, parts.path, query))
        return parts.path, query

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}":
            return True
        self._error(401, "No token provided")
        return False

    # --- endpoints -------------------------------------------------------------------------------
    def do_POST(self) -> None:
        path, _ = self._record()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if self._failure(path):
            return
        if path != "/api/token":
            self._error(404, "Not found")
            return
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            self._send(400, {"error": "invalid_client", "error_description": "Invalid client"})
            return
        if parse_qs(body).get("grant_type") != ["client_credentials"]:
            self._send(400, {"error": "unsupported_grant_type"})
            return
        self._send(200, {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})

    def do_GET(self) -> None:
        path, query = self._record()
        if self._failure(path):
            return
        if path == "/oembed":
            self._oembed(query)
            return
        if not self._authorised():
            return
        segments = [s for s in path.split("/") if s]
        state = self.server.state
        if segments == ["v1", "search"]:
            self._search(query)
        elif len(segments) == 4 and segments[:2] == ["v1", "playlists"] and segments[3] == "items":
            self._playlist_items(segments[2], query)
        elif len(segments) == 4 and segments[:2] == ["v1", "playlists"]:
            self._error(403, "Forbidden")  # /tracks is gone for development-mode apps
        elif len(segments) == 3 and segments[:2] == ["v1", "tracks"]:
            n = next((n for n in range(1000) if track_id(n) == segments[2]), None)
            if n is None:
                self._error(404, "Resource not found")
            else:
                self._send(200, fake_track(n))
        elif len(segments) == 3 and segments[:2] == ["v1", "albums"]:
            numbers = state.albums.get(segments[2])
            if numbers is None:
                self._error(404, "Resource not found")
            else:
                items = [{**fake_track(n), "album": None} for n in numbers]
                self._send(
                    200,
                    {
                        "id": segments[2],
                        "images": [{"url": f"https://i.scdn.co/image/album-{segments[2]}"}],
                        "tracks": {"items": items, "next": None},
                    },
                )
        else:
            self._error(404, "Service not found")

    def _search(self, query: dict[str, list[str]]) -> None:
        limit = int(query.get("limit", ["10"])[0])
        offset = int(query.get("offset", ["0"])[0])
        if not query.get("q") or query.get("type") != ["track"]:
            self._error(400, "Missing or bad q/type")
            return
        if not 0 < limit <= SEARCH_MAX_LIMIT:
            self._error(400, "Invalid limit")
            return
        total = self.server.state.search_results
        numbers = range(offset, min(offset + limit, total))
        more = offset + limit < total
        self._send(
            200,
            {
                "tracks": {
                    "items": [fake_track(n) for n in numbers],
                    "limit": limit,
                    "offset": offset,
                    "total": total,
                    "next": "https://api.spotify.com/v1/search?more" if more else None,
                }
            },
        )

    def _playlist_items(self, playlist_id: str, query: dict[str, list[str]]) -> None:
        numbers = self.server.state.playlists.get(playlist_id)
        if numbers is None:
            self._error(404, "Resource not found")
            return
        limit = int(query.get("limit", ["100"])[0])
        offset = int(query.get("offset", ["0"])[0])
        if not 0 < limit <= 50:
            self._error(400, "Invalid limit")
            return
        page = numbers[offset : offset + limit]
        more = offset + limit < len(numbers)
        self._send(
            200,
            {
                "items": [
                    {"added_at": "2025-01-01T00:00:00Z", "item": fake_track(n)} for n in page
                ],
                "limit": limit,
                "offset": offset,
                "total": len(numbers),
                "next": "https://api.spotify.com/v1/next" if more else None,
            },
        )

    def _oembed(self, query: dict[str, list[str]]) -> None:
        url = query.get("url", [""])[0]
        if not url.startswith("https://open.spotify.com/"):
            self._error(400, "Bad url")
            return
        kind, _, item_id = url.removeprefix("https://open.spotify.com/").partition("/")
        known = (
            item_id in self.server.state.playlists
            or item_id in self.server.state.albums
            or item_id.startswith("faketrack")
        )
        if not known:
            self._send(404, None)
            return
        self._send(
            200,
            {
                "type": "rich",
                "version": "1.0",
                "provider_name": "Spotify",
                "title": f"Fake {kind} {item_id}",
                "html": f'<iframe src="https://open.spotify.com/embed/{kind}/{item_id}"></iframe>',
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: FakeSpotifyState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class FakeSpotify:
    """Runs the fake server in a thread; ``settings()`` gives the Django settings pointing at it."""

    def __init__(self) -> None:
        self.state = FakeSpotifyState()
        self._server = _Server(self.state)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeSpotify:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def settings(self, **extra: Any) -> dict[str, Any]:
        return {
            "SPOTIFY_ENABLED": True,
            "SPOTIFY_CLIENT_ID": CLIENT_ID,
            "SPOTIFY_CLIENT_SECRET": CLIENT_SECRET,
            "SPOTIFY_API_URL": f"{self.url}/v1/",
            "SPOTIFY_TOKEN_URL": f"{self.url}/api/token",
            "SPOTIFY_OEMBED_URL": f"{self.url}/oembed",
            "SPOTIFY_TIMEOUT_SECONDS": 2.0,
            **extra,
        }

    def fail(self, prefix: str, **failure: Any) -> None:
        with self.state.lock:
            self.state.failures[prefix] = Failure(**failure)

    def heal(self) -> None:
        with self.state.lock:
            self.state.failures.clear()

    def calls(self, method: str, path_prefix: str) -> list[dict[str, list[str]]]:
        with self.state.lock:
            return [
                q for m, p, q in self.state.requests if m == method and p.startswith(path_prefix)
            ]
