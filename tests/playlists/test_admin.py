import json

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.urls import reverse

from ml.labels import MOODS
from playlists.models import MoodMapping
from tests.playlists.fake_spotify import track_id

pytestmark = pytest.mark.django_db

PLAYLIST_ID = "fakeplaylist0000000001"
CHANGELIST = reverse("admin:playlists_moodmapping_changelist")
ADD = reverse("admin:playlists_moodmapping_add")


@pytest.fixture
def staff(client):
    user = User.objects.create_user("curator", password="not-used", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="playlists"))
    client.force_login(user)
    return client


def form(**fields):
    data = {
        "mood": "happy",
        "age_band": "",
        "gender": "",
        "links": "",
        "search_query": "",
        "priority": "0",
        "enabled": "on",
        "note": "",
    }
    return {**data, **fields}


def test_a_curator_creates_a_mapping_from_a_shared_link_and_it_is_saved_as_a_uri(staff):
    link = f"https://open.spotify.com/intl-fr/playlist/{PLAYLIST_ID}?si=abc"
    response = staff.post(ADD, form(links=link, age_band="teen", note="test"))
    assert response.status_code == 302, response.content.decode()[:2000]
    mapping = MoodMapping.objects.get()
    assert (mapping.links, mapping.kind, mapping.age_band) == (
        f"spotify:playlist:{PLAYLIST_ID}",
        "playlist",
        "teen",
    )


def test_an_invalid_link_is_rejected_with_its_message(staff):
    response = staff.post(ADD, form(links="https://open.spotify.com/artist/0OdUWJ0sBjDrqHygGUXeCF"))
    assert response.status_code == 200
    assert (
        "is a Spotify artist link; expected a playlist, album or track link."
        in response.content.decode()
    )
    assert not MoodMapping.objects.exists()


def test_links_and_a_query_together_are_rejected(staff):
    response = staff.post(ADD, form(links=f"spotify:track:{track_id(1)}", search_query="calm"))
    assert "not both" in response.content.decode()


def test_the_changelist_explains_the_fallback_order_filters_and_counts(staff):
    MoodMapping.objects.create(
        mood="sad",
        links=f"spotify:playlist:{PLAYLIST_ID}",
        kind="playlist",
        skip_count=7,
        not_my_mood_count=3,
        note="rainy",
    )
    page = staff.get(CHANGELIST, {"mood__exact": "sad", "q": "rainy"}).content.decode()
    assert "rainy" in page and ">7 / 0 / 3<" in page
    change = staff.get(
        reverse("admin:playlists_moodmapping_change", args=[MoodMapping.objects.get().pk])
    )
    assert "(1) M + A + G, (2) M + A with any gender" in change.content.decode()


def test_the_preview_shows_the_embed_without_credentials(staff, settings):
    settings.SPOTIFY_ENABLED = False
    mapping = MoodMapping.objects.create(
        mood="happy", links=f"spotify:playlist:{PLAYLIST_ID}", kind="playlist"
    )
    page = staff.get(
        reverse("admin:playlists_moodmapping_change", args=[mapping.pk])
    ).content.decode()
    assert f'src="https://open.spotify.com/embed/playlist/{PLAYLIST_ID}"' in page


def test_the_preview_lists_the_tracks_with_credentials(staff, spotify_on):
    spotify_on.state.playlists[PLAYLIST_ID] = [4, 5]
    mapping = MoodMapping.objects.create(
        mood="happy", links=f"spotify:playlist:{PLAYLIST_ID}", kind="playlist"
    )
    page = staff.get(
        reverse("admin:playlists_moodmapping_change", args=[mapping.pk])
    ).content.decode()
    assert "Song 4 — Artist 4" in page and "Song 5 — Artist 5" in page
    assert f"/embed/playlist/{PLAYLIST_ID}" in page


def test_the_check_now_action_stores_each_mappings_health(staff, oembed_only):
    oembed_only.state.playlists[PLAYLIST_ID] = [1]
    good = MoodMapping.objects.create(
        mood="happy", links=f"spotify:playlist:{PLAYLIST_ID}", kind="playlist"
    )
    gone = MoodMapping.objects.create(
        mood="sad", links="spotify:playlist:fakemissing00000000000", kind="playlist"
    )
    response = staff.post(
        CHANGELIST, {"action": "check_health", "_selected_action": [good.pk, gone.pk]}, follow=True
    )
    good.refresh_from_db()
    gone.refresh_from_db()
    assert (good.health, gone.health) == ("ok", "not_found")
    assert "Checked 2 mappings: 1 not found, 1 ok." in response.content.decode()
    assert "● not found" in response.content.decode()


def test_export_then_import_round_trips_the_mappings(staff):
    MoodMapping.objects.create(
        mood="happy",
        gender="female",
        links=f"spotify:track:{track_id(1)}\nspotify:track:{track_id(2)}",
        kind="tracks",
        priority=3,
        note="two songs",
    )
    MoodMapping.objects.create(mood="sad", search_query="rainy day", kind="search", enabled=False)
    response = staff.post(
        CHANGELIST,
        {
            "action": "export_json",
            "_selected_action": list(MoodMapping.objects.values_list("pk", flat=True)),
        },
    )
    assert response["Content-Type"] == "application/json"
    document = json.loads(response.content)
    assert document["mappings"][0]["links"] == [
        f"spotify:track:{track_id(1)}",
        f"spotify:track:{track_id(2)}",
    ]
    MoodMapping.objects.all().delete()
    page = staff.post(
        reverse("admin:playlists_moodmapping_import"),
        {"text": response.content.decode()},
        follow=True,
    )
    assert "2 created, 0 updated" in page.content.decode()
    restored = {
        (m.mood, m.gender, m.kind, m.priority, m.enabled, m.note) for m in MoodMapping.objects.all()
    }
    assert restored == {
        ("happy", "female", "tracks", 3, True, "two songs"),
        ("sad", "", "search", 0, False, ""),
    }


def test_an_import_with_a_bad_link_changes_nothing_and_says_which_entry(staff):
    document = {
        "version": 1,
        "mappings": [
            {"mood": "happy", "links": [f"spotify:playlist:{PLAYLIST_ID}"]},
            {"mood": "sad", "links": ["https://example.com/x"]},
        ],
    }
    page = staff.post(reverse("admin:playlists_moodmapping_import"), {"text": json.dumps(document)})
    assert "mappings[1]: links:" in page.content.decode()
    assert not MoodMapping.objects.exists()


def test_the_commands_export_and_import_json(tmp_path):
    MoodMapping.objects.create(
        mood="angry", links=f"spotify:album:{PLAYLIST_ID}", kind="album", note="loud"
    )
    path = tmp_path / "mappings.json"
    call_command("export_mappings", str(path))
    call_command("import_mappings", str(path))  # identical mapping: updated, not duplicated
    MoodMapping.objects.all().delete()
    call_command("import_mappings", str(path))
    assert list(MoodMapping.objects.values_list("mood", "kind", "note")) == [
        ("angry", "album", "loud")
    ]


def test_default_mappings_load_once_and_cover_every_mood():
    call_command("load_defaults")
    count = MoodMapping.objects.count()
    call_command("load_defaults")
    assert MoodMapping.objects.count() == count
    assert set(MoodMapping.objects.values_list("mood", flat=True)) == set(MOODS)
    assert all(m.note and m.uris for m in MoodMapping.objects.all())
