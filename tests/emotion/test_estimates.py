"""``parse_estimates``: an on-device page's estimates, checked strictly (pure, no socket)."""

from __future__ import annotations

import json

import pytest

from emotion.estimates import ESTIMATES_MAX_FACES, InvalidEstimates, parse_estimates
from ml.analysis import FrameAnalysis

FACE = {
    "box": [10, 20, 100, 120],
    "score": 0.9,
    "emotion": {"angry": 0.1, "happy": 0.6, "neutral": 0.2, "sad": 0.1},
    "age": 8.0,
    "female": 0.3,
}


def message(faces=(FACE,), **top) -> str:
    return json.dumps(
        {"type": "estimates", "width": 320, "height": 240, "faces": list(faces), **top}
    )


def test_valid_estimates_become_a_frame_analysis_with_age_band_and_gender():
    analysis = parse_estimates(message(), demographics=True)

    frame = FrameAnalysis.from_dict(analysis)  # the form a frame analyzed here has
    (face,) = frame.faces
    assert (frame.width, frame.height, face.box) == (320, 240, (10, 20, 100, 120))
    assert (face.age, face.age_band, face.female) == (8.0, "child", 0.3)
    assert parse_estimates(message(faces=[]), demographics=True)["faces"] == []


def test_with_demographics_off_no_age_or_gender_may_be_sent():
    bare = {k: v for k, v in FACE.items() if k not in ("age", "female")}
    assert len(parse_estimates(message(faces=[bare]), demographics=False)["faces"]) == 1
    with pytest.raises(InvalidEstimates, match="demographics are off"):
        parse_estimates(message(), demographics=False)
    with pytest.raises(InvalidEstimates, match="exactly the keys"):
        parse_estimates(message(faces=[bare]), demographics=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (message(faces=[FACE] * (ESTIMATES_MAX_FACES + 1)), "at most 20"),
        (
            '{"type": "estimates", "type": "estimates", "width": 1, "height": 1, "faces": []}',
            "each key once",
        ),
        (message(faces=[{**FACE, "score": True}]), "to be a number"),
        (message(faces=[{**FACE, "age": 1e400}]), "finite numbers|in \\[0, 120\\]"),
        (message().replace('"age": 8.0', '"age": Infinity'), "finite numbers"),
        (message(faces=[{**FACE, "age": 500}]), "in \\[0, 120\\]"),
        (message(faces=[{**FACE, "box": [10, 20, 0, 120]}]), "box"),
        (message(faces=[{**FACE, "box": [10, 20, 100]}]), r"\[x, y, w, h\]"),
        (message(width=1.5), "whole number"),
        (message(width=0), "width in"),
        ("[" * 5000 + "]" * 5000, "JSON object"),
        ('"estimates"', "JSON object"),
    ],
)
def test_each_broken_rule_is_named(text, expected):
    with pytest.raises(InvalidEstimates, match=expected) as raised:
        parse_estimates(text, demographics=True)
    assert raised.value.code == "invalid_estimates"


def test_a_message_past_the_size_limit_is_refused_before_parsing():
    with pytest.raises(InvalidEstimates) as raised:
        parse_estimates(" " * 20_000 + message(), demographics=True)
    assert raised.value.code == "estimates_too_large"
