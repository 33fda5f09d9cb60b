import threading
import time
from pathlib import Path

import pytest
import requests
from spotipy.exceptions import SpotifyException

from playlists import spotify
from playlists.models import MoodMapping
from playlists.services import mapping_check_health
from playlists.spotify import (
    SpotifyAuthFailed,
    SpotifyBadRequest,
    SpotifyClient,
    SpotifyConfig,
    SpotifyDisabled,
    SpotifyNotFound,
    SpotifyRateLimited,
    SpotifyUnavailable,
    spotify_client,
)
from tests.playlists.fake_spotify import fake_track, track_id

PLAYLIST_ID = "fakeplaylist0000000001"


def client_with_recorded_sleeps(**config) -> tuple[SpotifyClient, list[float]]:
    sleeps: list[float] = []
    return SpotifyClient(
        SpotifyConfig(**{**SpotifyConfig.from_settings().__dict__, **config}), sleep=sleeps.append
    ), sleeps


def test_the_client_is_refused_while_spotify_is_switched_off(settings):
    settings.SPOTIFY_ENABLED = False
    with pytest.raises(SpotifyDisabled):
        spotify_client()


def test_the_token_is_fetched_once_and_reused_for_later_calls(spotify_on):
    client = spotify_client()
    client.search_tracks("chill", limit=5)
    client.search_tracks("calm", limit=5)
    spotify_client().search_tracks("calm", limit=5)
    assert len(spotify_on.calls("POST", "/api/token")) == 1
    assert len(spotify_on.calls("GET", "/v1/search")) == 3


def test_wrong_client_credentials_raise_auth_failed(spotify_on, settings):
    settings.SPOTIFY_CLIENT_SECRET = "wrong"
    with pytest.raises(SpotifyAuthFailed):
        spotify_client().search_tracks("chill", limit=5)


def test_search_is_paged_at_ten_or_fewer_per_call(spotify_on, settings):
    settings.SPOTIFY_SEARCH_PAGE_SIZE = 50  # asking for more still sends at most 10
    tracks = spotify_client().search_tracks("mood", limit=25)
    calls = spotify_on.calls("GET", "/v1/search")
    assert [(q["limit"], q["offset"]) for q in calls] == [
        (["10"], ["0"]),
        (["10"], ["10"]),
        (["5"], ["20"]),
    ]
    assert [t.title for t in tracks] == [f"Song {n}" for n in range(25)]
    assert tracks[0].to_dict() == {
        "title": "Song 0",
        "uri": f"spotify:track:{track_id(0)}",
        "artists": ["Artist 0"],
        "image": "https://i.scdn.co/image/fake0",
        "ms": 180_000,
    }


def test_search_stops_when_spotify_has_no_more_results(spotify_on):
    spotify_on.state.search_results = 12
    assert len(spotify_client().search_tracks("mood", limit=30)) == 12
    assert len(spotify_on.calls("GET", "/v1/search")) == 2


def test_the_fake_server_rejects_search_limits_above_ten_like_spotify(spotify_on):
    answer = requests.get(
        f"{spotify_on.url}/v1/search",
        params={"q": "x", "type": "track", "limit": 11},
        headers={"Authorization": "Bearer fake-access-token"},
        timeout=2,
    )
    assert answer.status_code == 400


def test_playlist_contents_come_from_the_items_endpoint(spotify_on):
    spotify_on.state.playlists[PLAYLIST_ID] = list(range(60))
    tracks = spotify_client().playlist_tracks(PLAYLIST_ID, limit=55)
    assert len(tracks) == 55
    assert tracks[54].uri == f"spotify:track:{track_id(54)}"
    assert len(spotify_on.calls("GET", f"/v1/playlists/{PLAYLIST_ID}/items")) == 2
    assert spotify_on.calls("GET", f"/v1/playlists/{PLAYLIST_ID}/tracks") == []


def test_album_tracks_carry_the_album_artwork(spotify_on):
    spotify_on.state.albums["fakealbum0000000000001"] = [3, 4]
    tracks = spotify_client().album_tracks("fakealbum0000000000001", limit=10)
    assert [t.title for t in tracks] == ["Song 3", "Song 4"]
    assert tracks[0].image == "https://i.scdn.co/image/album-fakealbum0000000000001"


def test_tracks_are_fetched_one_by_one_in_order(spotify_on):
    tracks = spotify_client().tracks([track_id(7), track_id(2)])
    assert [t.title for t in tracks] == ["Song 7", "Song 2"]


def test_a_429_is_retried_after_the_retry_after_seconds_then_succeeds(spotify_on):
    spotify_on.fail("/v1/search", status=429, times=1, retry_after="3")
    client, sleeps = client_with_recorded_sleeps()
    assert len(client.search_tracks("mood", limit=5)) == 5
    assert sleeps == [3.0]
    assert len(spotify_on.calls("GET", "/v1/search")) == 2


def test_the_process_s_client_waits_out_a_429_with_time_sleep(spotify_on, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    spotify_on.fail("/v1/search", status=429, times=1, retry_after="1")
    assert len(spotify_client().search_tracks("mood", limit=5)) == 5
    assert waits == [1.0]


def test_429_retries_are_bounded_and_end_in_rate_limited(spotify_on, settings):
    settings.SPOTIFY_RETRIES = 2
    spotify_on.fail("/v1/search", status=429, retry_after="1")
    client, sleeps = client_with_recorded_sleeps()
    with pytest.raises(SpotifyRateLimited) as caught:
        client.search_tracks("mood", limit=5)
    assert sleeps == [1.0, 1.0]
    assert isinstance(caught.value, SpotifyUnavailable)
    assert isinstance(caught.value.__cause__, SpotifyException)


def test_a_retry_after_longer_than_allowed_is_not_waited_for(spotify_on, settings):
    settings.SPOTIFY_RETRY_AFTER_MAX_SECONDS = 5
    spotify_on.fail("/v1/search", status=429, retry_after="3600")
    client, sleeps = client_with_recorded_sleeps()
    with pytest.raises(SpotifyRateLimited):
        client.search_tracks("mood", limit=5)
    assert sleeps == []


def test_a_server_error_raises_unavailable_chained_to_spotipys_error(spotify_on):
    spotify_on.fail("/v1/search", status=500)
    with pytest.raises(SpotifyUnavailable) as caught:
        spotify_client().search_tracks("mood", limit=5)
    assert isinstance(caught.value.__cause__, SpotifyException)
    assert len(spotify_on.calls("GET", "/v1/search")) == 1


def test_an_answer_slower_than_the_timeout_raises_unavailable(spotify_on, settings):
    settings.SPOTIFY_TIMEOUT_SECONDS = 0.2
    answer = threading.Event()
    spotify_on.fail("/v1/search", status=200, hold=answer)
    try:
        with pytest.raises(SpotifyUnavailable, match=r"within 0\.2 s") as caught:
            spotify_client().search_tracks("mood", limit=5)
    finally:
        answer.set()  # the server answers now, to a client that gave up
    assert isinstance(caught.value.__cause__, requests.Timeout)


def test_an_unreachable_server_raises_unavailable(spotify_on):
    spotify_on.stop()
    with pytest.raises(SpotifyUnavailable):
        spotify_client().search_tracks("mood", limit=5)


def test_a_missing_playlist_raises_not_found(spotify_on):
    with pytest.raises(SpotifyNotFound):
        spotify_client().playlist_tracks("fakemissing00000000000", limit=5)


def test_a_bad_request_raises_bad_request(spotify_on, settings):
    with pytest.raises(SpotifyBadRequest):
        spotify_client().search_tracks("", limit=5)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "state"),
    [(403, "forbidden"), (404, "not_found"), (500, "unreachable"), (200, "ok")],
)
def test_the_oembed_health_check_maps_answers_to_states(oembed_only, status, state):
    oembed_only.state.playlists[PLAYLIST_ID] = [1]
    if status != 200:
        oembed_only.fail("/oembed", status=status)
    mapping = MoodMapping.objects.create(
        mood="happy", links=f"spotify:playlist:{PLAYLIST_ID}", kind="playlist"
    )
    mapping_check_health(mapping=mapping)
    mapping.refresh_from_db()
    assert mapping.health == state
    assert mapping.health_checked_at is not None


@pytest.mark.django_db
def test_the_health_check_of_an_unknown_item_says_not_found(oembed_only):
    mapping = MoodMapping.objects.create(
        mood="happy", links="spotify:album:fakemissing00000000000", kind="album"
    )
    assert mapping_check_health(mapping=mapping).health == "not_found"


def test_no_cache_file_is_written_for_the_token(spotify_on, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spotify_client().search_tracks("mood", limit=5)
    assert len(spotify_on.calls("POST", "/api/token")) == 1
    assert list(tmp_path.iterdir()) == []
    assert not (Path(__file__).resolve().parents[2] / ".cache").exists()


def test_only_the_spotify_module_imports_spotipy():
    root = Path(spotify.__file__).resolve().parent
    importers = [
        p.name
        for p in root.rglob("*.py")
        if "import spotipy" in p.read_text() or "from spotipy" in p.read_text()
    ]
    assert importers == ["spotify.py"]


def test_track_parsing_skips_episodes_and_local_files():
    assert spotify.track_from_api({**fake_track(1), "type": "episode"}) is None
    assert spotify.track_from_api({**fake_track(1), "is_local": True}) is None
    assert spotify.track_from_api(None) is None
