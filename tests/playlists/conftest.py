"""Fixtures for the playlists tests: a fake Spotify on 127.0.0.1 and a clean cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from tests.playlists.fake_spotify import FakeSpotify


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fake_spotify() -> Iterator[FakeSpotify]:
    server = FakeSpotify().start()
    yield server
    server.stop()


@pytest.fixture
def spotify_on(settings, fake_spotify: FakeSpotify) -> FakeSpotify:
    """Spotify switched on, every URL pointing at the fake server."""
    for name, value in fake_spotify.settings().items():
        setattr(settings, name, value)
    return fake_spotify


@pytest.fixture
def oembed_only(settings, fake_spotify: FakeSpotify) -> FakeSpotify:
    """Spotify Web API off (the default install), oEmbed pointing at the fake server."""
    settings.SPOTIFY_ENABLED = False
    settings.SPOTIFY_OEMBED_URL = f"{fake_spotify.url}/oembed"
    settings.SPOTIFY_TIMEOUT_SECONDS = 2.0
    return fake_spotify
