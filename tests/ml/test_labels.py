"""Label vocabularies: mood order, the FER2013 csv mapping and age bands."""

from __future__ import annotations

import pytest

from ml.labels import (
    AGE_BAND_NAMES,
    FER_CLASSES,
    MOOD_EXPRESSIONS,
    MOODS,
    age_band,
    expression_index,
    mood_index,
)


def test_mood_order_is_angry_happy_neutral_sad():
    assert MOODS == ("angry", "happy", "neutral", "sad")


def test_fer_csv_emotion_indices_follow_the_original_column_order():
    assert FER_CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.mark.parametrize(
    ("csv_index", "mood"),
    [(0, "angry"), (3, "happy"), (4, "sad"), (6, "neutral")],
)
def test_fer_classes_with_a_mood_map_to_that_moods_output_index(csv_index, mood):
    assert mood_index(FER_CLASSES[csv_index]) == MOODS.index(mood)


@pytest.mark.parametrize("fer_class", ["disgust", "fear", "surprise"])
def test_fer_classes_without_a_mood_are_left_out(fer_class):
    assert mood_index(fer_class) is None


def test_fer_class_names_are_matched_case_and_space_insensitively():
    assert mood_index(" Happy ") == MOODS.index("happy")


@pytest.mark.parametrize(
    ("years", "band"),
    [
        (-3, "child"),
        (0, "child"),
        (12.9, "child"),
        (13, "teen"),
        (19.99, "teen"),
        (20, "young_adult"),
        (34.9, "young_adult"),
        (35, "adult"),
        (59.9, "adult"),
        (60, "senior"),
        (116, "senior"),
    ],
)
def test_ages_fall_in_the_band_whose_first_year_they_reached(years, band):
    assert age_band(years) == band


def test_age_bands_are_listed_from_youngest_to_oldest():
    assert AGE_BAND_NAMES == ("child", "teen", "young_adult", "adult", "senior")


def test_each_mood_points_at_its_own_fer_class_among_the_seven_expressions():
    assert [FER_CLASSES[i] for i in MOOD_EXPRESSIONS] == list(MOODS)
    assert expression_index(" Disgust ") == 1 and expression_index("bored") is None
