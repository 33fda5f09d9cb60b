import itertools

import pytest

from ml.labels import AGE_BAND_NAMES, GENDERS, MOODS
from playlists.models import MoodMapping
from playlists.selectors import mapping_candidates

pytestmark = pytest.mark.django_db

DEFAULT_MOOD = "neutral"
PLAYLIST = "spotify:playlist:37i9dQZF1DX3rxVfibe1L0"


def mapping(mood, age_band="", gender="", **fields) -> MoodMapping:
    fields.setdefault("links", PLAYLIST)
    fields.setdefault("kind", "playlist")
    return MoodMapping(mood=mood, age_band=age_band, gender=gender, **fields)


def every_level_for_every_listener() -> None:
    """One mapping for each (mood, age band or any, gender or any)."""
    MoodMapping.objects.bulk_create(
        mapping(m, a, g)
        for m, a, g in itertools.product(MOODS, ("", *AGE_BAND_NAMES), ("", *GENDERS))
    )


def best(**listener):
    """The mapping that plays for a listener: the first candidate, or None."""
    candidates = mapping_candidates(**listener)
    return candidates[0].mapping if candidates else None


def expected_chain(mood, age_band, gender) -> list[tuple[str, str, str]]:
    chain = []
    if age_band and gender:
        chain.append((mood, age_band, gender))
    if age_band:
        chain.append((mood, age_band, ""))
    if gender:
        chain.append((mood, "", gender))
    chain.append((mood, "", ""))
    if mood != DEFAULT_MOOD:
        chain.append((DEFAULT_MOOD, "", ""))
    return chain


@pytest.mark.parametrize(
    ("mood", "age_band", "gender"),
    list(itertools.product(MOODS, (None, *AGE_BAND_NAMES), (None, *GENDERS))),
)
def test_fallback_goes_exact_then_age_band_then_gender_then_mood_then_default(
    settings, mood, age_band, gender
):
    settings.PLAYLIST_DEFAULT_MOOD = DEFAULT_MOOD
    every_level_for_every_listener()
    seen = []
    while (found := best(mood=mood, age_band=age_band, gender=gender)) is not None:
        seen.append((found.mood, found.age_band, found.gender))
        found.delete()  # remove this level; the next call must fall back one step
    assert seen == expected_chain(mood, age_band or "", gender or "")


def test_candidates_list_every_level_in_order_with_reasons(settings):
    settings.PLAYLIST_DEFAULT_MOOD = DEFAULT_MOOD
    every_level_for_every_listener()
    reasons = [
        c.reason for c in mapping_candidates(mood="happy", age_band="young_adult", gender="female")
    ]
    assert reasons == [
        "happy · young adult · female",
        "happy · young adult",
        "happy · female",
        "happy",
        "neutral (default: nothing curated for happy)",
    ]


def test_disabled_mappings_are_skipped():
    MoodMapping.objects.bulk_create(
        [mapping("sad", "teen", "male", enabled=False, note="off"), mapping("sad", note="on")]
    )
    assert best(mood="sad", age_band="teen", gender="male").note == "on"


def test_higher_priority_wins_within_a_level_and_ties_go_to_the_older_mapping():
    MoodMapping.objects.bulk_create(
        [
            mapping("angry", note="old low", priority=1),
            mapping("angry", note="old high", priority=5),
            mapping("angry", note="new high", priority=5),
        ]
    )
    notes = [c.mapping.note for c in mapping_candidates(mood="angry")]
    assert notes == ["old high", "new high", "old low"]


def test_priority_never_lifts_a_mapping_above_a_more_specific_level():
    MoodMapping.objects.bulk_create(
        [mapping("happy", note="general", priority=100), mapping("happy", "senior", note="senior")]
    )
    assert best(mood="happy", age_band="senior").note == "senior"


def test_mappings_for_other_listeners_never_match():
    MoodMapping.objects.bulk_create(
        [mapping("happy", "child", "female", note="child female"), mapping("happy", "", "male")]
    )
    assert best(mood="happy", age_band="adult", gender="female") is None


def test_nothing_curated_anywhere_gives_none():
    assert best(mood="happy") is None
