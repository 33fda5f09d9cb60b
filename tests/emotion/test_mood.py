"""Mood smoothing: replayed frames with chosen timestamps, no clock, no Django."""

from __future__ import annotations

import pytest

from emotion.mood import NO_ONE, MoodConfig, MoodState, fuse_faces, mood_step
from ml.analysis import FaceAnalysis
from ml.labels import MOODS

CONFIG = MoodConfig(
    window_seconds=3.0,
    min_dwell_seconds=2.0,
    switch_margin=0.15,
    min_confidence=0.4,
    absence_seconds=3.0,
)
FPS = 10


def face(
    mood: str = "happy", p: float = 0.8, *, box=(0, 0, 100, 100), score=0.9, age=30.0, female=0.8
) -> FaceAnalysis:
    rest = (1.0 - p) / (len(MOODS) - 1)
    emotion = {m: (p if m == mood else rest) for m in MOODS}
    return FaceAnalysis(box=box, score=score, emotion=emotion, age=age, age_band="", female=female)


def replay(state: MoodState, frames, *, start: float = 0.0):
    """Feed frames at FPS from ``start``; returns [(time, Mood)] for every announcement."""
    changes = []
    for i, faces in enumerate(frames):
        now = start + i / FPS
        change = mood_step(state, faces, now=now)
        if change is not None:
            changes.append((now, change))
    return changes


def seconds(n: float, faces) -> list:
    return [faces] * int(n * FPS)


def test_a_steady_mood_is_announced_once_after_the_dwell_time():
    state = MoodState(config=CONFIG)
    changes = [(t, m) for t, m in replay(state, seconds(5, [face("happy")])) if m.mood]
    assert len(changes) == 1
    announced_at, mood = changes[0]
    assert mood.mood == "happy"
    assert announced_at == pytest.approx(CONFIG.min_dwell_seconds)
    assert mood.confidence == pytest.approx(0.8)
    assert mood.faces == 1


def test_frames_alternating_between_two_moods_never_make_the_mood_flicker():
    state = MoodState(config=CONFIG)
    replay(state, seconds(4, [face("happy", 0.9)]))
    assert state.announced.mood == "happy"
    alternating = [[face("sad", 0.9)] if i % 2 else [face("happy", 0.9)] for i in range(100)]
    changes = replay(state, alternating, start=4.0)
    assert changes == []
    assert state.announced.mood == "happy"


def test_a_new_mood_must_hold_for_the_dwell_time_before_it_is_announced():
    state = MoodState(config=CONFIG)
    replay(state, seconds(4, [face("happy", 0.9)]))
    # Sad for 2 s: the window mean turns sad after ~1.5 s, the dwell is not over yet.
    changes = replay(state, seconds(2.5, [face("sad", 0.9)]), start=4.0)
    assert changes == []
    changes = replay(state, seconds(3, [face("sad", 0.9)]), start=6.5)
    assert [m.mood for _, m in changes] == ["sad"]
    switched_at = changes[0][0]
    assert switched_at >= 4.0 + CONFIG.min_dwell_seconds


def test_a_challenger_within_the_switch_margin_does_not_replace_the_mood():
    state = MoodState(config=CONFIG)
    replay(state, seconds(4, [face("happy", 0.9)]))
    near_tie = {"angry": 0.02, "happy": 0.44, "neutral": 0.03, "sad": 0.51}
    close = FaceAnalysis(
        box=(0, 0, 100, 100), score=0.9, emotion=near_tie, age=30, age_band="", female=0.8
    )
    changes = replay(state, seconds(10, [close]), start=4.0)
    assert changes == []
    assert state.announced.mood == "happy"


def test_an_unsure_mood_below_min_confidence_is_not_announced():
    state = MoodState(config=CONFIG)
    flat = face("neutral", 0.3)
    changes = replay(state, seconds(6, [flat]))
    assert all(m.mood is None for _, m in changes)


def test_the_mood_decays_to_no_one_here_when_faces_disappear():
    state = MoodState(config=CONFIG)
    replay(state, seconds(4, [face("happy")]))
    assert state.announced.mood == "happy"
    changes = replay(state, seconds(4, []), start=4.0)
    assert len(changes) == 1
    gone_at, mood = changes[0]
    assert mood == NO_ONE
    assert mood.mood is None and mood.faces == 0
    assert gone_at == pytest.approx(3.9 + CONFIG.absence_seconds, abs=0.11)


def test_a_face_missed_in_a_few_frames_does_not_end_the_mood():
    state = MoodState(config=CONFIG)
    replay(state, seconds(4, [face("happy")]))
    gappy = [[] if i % 3 == 0 else [face("happy")] for i in range(60)]
    assert replay(state, gappy, start=4.0) == []


def test_several_faces_are_fused_weighted_by_box_size_and_detector_score():
    big_sure_sad = face("sad", 0.9, box=(0, 0, 200, 200), score=0.99)
    small_happy = face("happy", 0.9, box=(0, 0, 40, 40), score=0.99)
    doubtful_happy = face("happy", 0.9, box=(0, 0, 200, 200), score=0.05)
    group = fuse_faces([big_sure_sad, small_happy, doubtful_happy])
    assert group.faces == 3
    assert max(group.emotion, key=group.emotion.get) == "sad"
    assert sum(group.emotion.values()) == pytest.approx(1.0)

    state = MoodState(config=CONFIG)
    changes = replay(state, seconds(4, [big_sure_sad, small_happy, doubtful_happy]))
    moods = [m for _, m in changes if m.mood]
    assert moods[-1].mood == "sad" and moods[-1].faces == 3


def test_demographics_are_smoothed_and_do_not_flicker_at_a_band_edge():
    state = MoodState(config=CONFIG)
    changes = replay(state, seconds(4, [face(age=33.0, female=0.8)]))
    assert changes[-1][1].age_band == "young_adult"
    assert changes[-1][1].gender == "female"
    # Estimates wobbling around the 35-year edge and around p(female) = 0.5.
    wobble = [
        [face(age=36.0 if i % 2 else 34.0, female=0.55 if i % 2 else 0.45)] for i in range(80)
    ]
    assert replay(state, wobble, start=4.0) == []
    assert state.announced.age_band == "young_adult"
    assert state.announced.gender == "female"
    # A clear change is taken up once the window has moved on.
    changes = replay(state, seconds(4, [face(age=50.0, female=0.1)]), start=12.0)
    assert changes[-1][1].age_band == "adult"
    assert changes[-1][1].gender == "male"


def test_a_single_odd_frame_does_not_change_the_demographics():
    state = MoodState(config=CONFIG)
    replay(state, seconds(4, [face(age=30.0, female=0.9)]))
    assert replay(state, [[face(age=70.0, female=0.0)]], start=4.0) == []


def test_with_demographics_off_only_a_new_mood_or_a_new_presence_is_announced():
    state = MoodState(config=MoodConfig(**{**CONFIG.__dict__, "demographics": False}))
    changes = replay(state, seconds(4, [face("happy", age=30.0, female=0.9)]))
    # Someone arrived ("reading your expression"), then their mood: nothing else.
    assert [(m.mood, m.faces) for _, m in changes] == [(None, 1), ("happy", 1)]
    assert all(m.age_band is None and m.gender is None for _, m in changes)
    # Their age band and gender change: nothing to announce, the mood message would repeat.
    assert replay(state, seconds(4, [face("happy", age=70.0, female=0.0)]), start=4.0) == []
    assert (state.announced.age_band, state.announced.gender) == (None, None)
    changes = replay(state, seconds(4, [face("sad", 0.9, age=70.0)]), start=8.0)
    assert [m.mood for _, m in changes] == ["sad"]


def test_with_demographics_on_the_same_faces_announce_the_new_age_band_and_gender():
    state = MoodState(config=CONFIG)
    replay(state, seconds(4, [face("happy", age=30.0, female=0.9)]))
    changes = replay(state, seconds(4, [face("happy", age=70.0, female=0.0)]), start=4.0)
    assert changes and all(m.mood == "happy" for _, m in changes)
    assert (changes[-1][1].age_band, changes[-1][1].gender) == ("senior", "male")
