import pytest

from playlists.models import MoodMapping
from playlists.services import mapping_feedback, playlist_for_mood
from tests.playlists.fake_spotify import track_id

pytestmark = pytest.mark.django_db

PLAYLIST_ID = "fakeplaylist0000000001"


def playlist_mapping(mood="happy", **fields) -> MoodMapping:
    return MoodMapping.objects.create(
        mood=mood, links=f"spotify:playlist:{PLAYLIST_ID}", kind="playlist", **fields
    )


def test_without_credentials_a_playlist_plays_as_its_embed(settings):
    settings.SPOTIFY_ENABLED = False
    mapping = playlist_mapping()
    message = playlist_for_mood(mood="happy", session_key="s1").to_message()
    assert message == {
        "type": "playlist",
        "mood": "happy",
        "mapping": mapping.pk,
        "reason": "happy",
        "embed_url": f"https://open.spotify.com/embed/playlist/{PLAYLIST_ID}",
        "tracks": [],
        "degraded": False,
    }


def test_the_reason_names_the_level_that_matched(settings):
    settings.SPOTIFY_ENABLED = False
    MoodMapping.objects.create(
        mood="happy",
        age_band="young_adult",
        links=f"spotify:playlist:{PLAYLIST_ID}",
        kind="playlist",
    )
    choice = playlist_for_mood(
        mood="happy", age_band="young_adult", gender="female", session_key="s"
    )
    assert choice.reason == "happy · young adult"
    assert (
        playlist_for_mood(mood="sad", session_key="s").reason == "no music is curated for sad yet"
    )


def test_the_reason_says_when_the_default_mood_stands_in(settings):
    settings.SPOTIFY_ENABLED = False
    playlist_mapping(mood="neutral")
    choice = playlist_for_mood(mood="angry", session_key="s")
    assert choice.reason == "neutral (default: nothing curated for angry)"


def test_a_manual_choice_says_the_listener_chose_it(settings):
    settings.SPOTIFY_ENABLED = False
    playlist_mapping(mood="sad")
    assert playlist_for_mood(mood="sad", session_key="s", manual=True).reason == "you chose sad"


def test_the_api_resolves_tracks_and_the_embed_starts_at_the_first(spotify_on):
    spotify_on.state.playlists[PLAYLIST_ID] = [1, 2, 3]
    playlist_mapping()
    choice = playlist_for_mood(mood="happy", session_key="s")
    assert [t["title"] for t in choice.tracks] == ["Song 1", "Song 2", "Song 3"]
    assert choice.embed_url == f"https://open.spotify.com/embed/track/{track_id(1)}"
    assert choice.degraded == ""
    # The player plays a clicked track from the embed URL the message gives it.
    assert [t["embed_url"] for t in choice.to_message()["tracks"]] == [
        f"https://open.spotify.com/embed/track/{track_id(n)}" for n in (1, 2, 3)
    ]


def test_a_track_is_not_repeated_within_a_listening_session(spotify_on):
    spotify_on.state.search_results = 4
    MoodMapping.objects.create(mood="happy", search_query="happy songs", kind="search")
    MoodMapping.objects.create(mood="sad", search_query="sad songs", kind="search")
    first = playlist_for_mood(mood="happy", session_key="listener-a")
    playlist_for_mood(mood="sad", session_key="listener-a")
    again = playlist_for_mood(mood="happy", session_key="listener-a")
    other = playlist_for_mood(mood="happy", session_key="listener-b")
    assert len(first.tracks) == 4
    assert again.tracks == first.tracks  # all four heard already: it starts over
    assert other.tracks == first.tracks


def test_only_unheard_tracks_are_served_until_all_were_heard(settings, spotify_on):
    settings.PLAYLIST_MAX_TRACKS = 3
    spotify_on.state.playlists[PLAYLIST_ID] = [1, 2, 3, 4, 5]
    mapping = playlist_mapping()
    first = playlist_for_mood(mood="happy", session_key="k")
    MoodMapping.objects.filter(pk=mapping.pk).update(tracks_cached_at=None)
    spotify_on.state.playlists[PLAYLIST_ID] = [3, 4, 5, 1]
    second = playlist_for_mood(mood="happy", session_key="k")
    titles = lambda choice: [t["title"] for t in choice.tracks]  # noqa: E731
    assert titles(first) == ["Song 1", "Song 2", "Song 3"]
    assert titles(second) == ["Song 4", "Song 5"]  # 3 was heard


def test_resolved_tracks_are_cached_on_the_mapping_and_reused(spotify_on):
    spotify_on.state.playlists[PLAYLIST_ID] = [1, 2]
    mapping = playlist_mapping()
    playlist_for_mood(mood="happy", session_key="a")
    playlist_for_mood(mood="happy", session_key="b")
    mapping.refresh_from_db()
    assert [t["title"] for t in mapping.tracks_cache] == ["Song 1", "Song 2"]
    assert len(spotify_on.calls("GET", f"/v1/playlists/{PLAYLIST_ID}/items")) == 1


def test_when_spotify_is_down_the_cached_tracks_play_and_say_so(settings, spotify_on):
    spotify_on.state.playlists[PLAYLIST_ID] = [1, 2]
    mapping = playlist_mapping()
    playlist_for_mood(mood="happy", session_key="a")
    MoodMapping.objects.filter(pk=mapping.pk).update(tracks_cached_at="2000-01-01T00:00:00Z")
    spotify_on.fail("/v1/", status=503)
    choice = playlist_for_mood(mood="happy", session_key="b")
    assert [t["title"] for t in choice.tracks] == ["Song 1", "Song 2"]
    assert "Spotify failed (SpotifyUnavailable); playing tracks saved" in choice.degraded
    assert choice.to_message()["degraded"] == choice.degraded


def test_when_spotify_is_down_and_nothing_is_cached_the_plain_embed_plays(spotify_on):
    spotify_on.fail("/v1/", status=500)
    playlist_mapping()
    choice = playlist_for_mood(mood="happy", session_key="a")
    assert choice.embed_url == f"https://open.spotify.com/embed/playlist/{PLAYLIST_ID}"
    assert choice.tracks == []
    assert choice.degraded == "Spotify failed (SpotifyUnavailable); playing the plain embed"


def test_a_forbidden_playlist_is_marked_and_still_plays_as_embed(spotify_on):
    spotify_on.fail(f"/v1/playlists/{PLAYLIST_ID}/items", status=403)
    mapping = playlist_mapping()
    choice = playlist_for_mood(mood="happy", session_key="a")
    mapping.refresh_from_db()
    assert mapping.health == "forbidden"
    assert choice.embed_url.endswith(f"/playlist/{PLAYLIST_ID}")
    assert "SpotifyForbidden" in choice.degraded


def test_without_credentials_a_search_mapping_is_passed_over_for_the_next_level(settings):
    settings.SPOTIFY_ENABLED = False
    search = MoodMapping.objects.create(
        mood="happy", search_query="happy", kind="search", priority=9
    )
    fallback = playlist_mapping()
    choice = playlist_for_mood(mood="happy", session_key="a")
    assert choice.mapping_id == fallback.pk
    assert f"mapping {search.pk}: a search query needs Spotify credentials" in choice.degraded


def test_nothing_about_the_listener_is_written_to_the_database(settings):
    settings.SPOTIFY_ENABLED = False
    mapping = playlist_mapping()
    before = MoodMapping.objects.values().get(pk=mapping.pk)
    playlist_for_mood(mood="happy", age_band="teen", gender="female", session_key="private")
    assert MoodMapping.objects.values().get(pk=mapping.pk) == before


def test_an_unknown_mood_is_refused():
    with pytest.raises(ValueError, match="mood must be one of"):
        playlist_for_mood(mood="ecstatic", session_key="a")


def test_feedback_increments_the_mapping_counters():
    mapping = playlist_mapping()
    mapping_feedback(mapping_id=mapping.pk, action="skip")
    counts = mapping_feedback(mapping_id=mapping.pk, action="skip")
    mapping_feedback(mapping_id=mapping.pk, action="not_my_mood")
    assert counts["skip_count"] == 2
    mapping.refresh_from_db()
    assert (mapping.skip_count, mapping.not_my_mood_count, mapping.like_count) == (2, 1, 0)
