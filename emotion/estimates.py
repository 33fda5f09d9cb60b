"""On-device estimates: what a page that analyzes its own frames sends instead of a frame.

In on-device mode the page runs the detector and the network itself and sends, per frame, one
JSON text message (README.md, "The websocket protocol")::

    {"type": "estimates", "width": 640, "height": 480,
     "faces": [{"box": [x, y, w, h], "score": 0.98,
                "emotion": {"angry": 0.1, "happy": 0.7, "neutral": 0.15, "sad": 0.05},
                "age": 31.5, "female": 0.2}]}

``parse_estimates`` checks it strictly and returns it in ``FrameAnalysis.to_dict()`` form, so
the consumer feeds it to the same smoothing and playlist code as a frame analyzed here. Without
the demographics switch, ``age`` and ``female`` must be left out. Pure: no I/O, no settings.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ml.labels import MOODS, age_band

#: Longest estimates message accepted, in UTF-8 bytes (a frame of ``ESTIMATES_MAX_FACES``
#: faces takes about 3 KB).
ESTIMATES_MAX_BYTES = 16 * 1024
#: Most faces one message may report.
ESTIMATES_MAX_FACES = 20
#: Largest frame side, in pixels, a message may report.
ESTIMATES_MAX_SIDE = 8192
#: A face's mood probabilities must sum to 1 within this.
PROBABILITY_SUM_TOLERANCE = 1e-3
#: How far, in pixels, a box may reach past the frame's edge (detectors round outwards).
BOX_SLACK = 2.0
#: Oldest age accepted, in years.
MAX_AGE = 120.0

FACE_KEYS = frozenset({"box", "score", "emotion"})
DEMOGRAPHIC_KEYS = frozenset({"age", "female"})


class InvalidEstimates(ValueError):
    """An estimates message that breaks the protocol; ``code`` is its error code."""

    def __init__(self, message: str, code: str = "invalid_estimates") -> None:
        super().__init__(message)
        self.code = code


def _no_constants(name: str) -> float:
    raise InvalidEstimates(f"Expected finite numbers, got {name}.")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise InvalidEstimates("Expected each key once in every object.")
    return dict(pairs)


def _number(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEstimates(f"Expected {what} to be a number, got {type(value).__name__}.")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidEstimates(f"Expected {what} in [{low:g}, {high:g}], got {value!r}.")
    return number


def _face(data: Any, index: int, width: int, height: int, demographics: bool) -> dict[str, Any]:
    where = f"faces[{index}]"
    if not isinstance(data, dict):
        raise InvalidEstimates(f"Expected {where} to be an object.")
    expected = FACE_KEYS | DEMOGRAPHIC_KEYS if demographics else FACE_KEYS
    if set(data) != expected:
        hint = "" if demographics else " (demographics are off: send no age or female)"
        raise InvalidEstimates(
            f"Expected {where} to have exactly the keys {sorted(expected)}, "
            f"got {sorted(map(str, data))}{hint}."
        )
    box = data["box"]
    if not isinstance(box, list) or len(box) != 4:
        raise InvalidEstimates(f"Expected {where}.box to be [x, y, w, h].")
    x, y = (_number(v, f"{where}.box", -BOX_SLACK, ESTIMATES_MAX_SIDE) for v in box[:2])
    w, h = (_number(v, f"{where}.box", 1.0, ESTIMATES_MAX_SIDE) for v in box[2:])
    if x + w > width + BOX_SLACK or y + h > height + BOX_SLACK:
        raise InvalidEstimates(f"Expected {where}.box inside the {width}x{height} frame.")
    emotion = data["emotion"]
    if not isinstance(emotion, dict) or set(emotion) != set(MOODS):
        raise InvalidEstimates(f"Expected {where}.emotion to have exactly the moods {list(MOODS)}.")
    probabilities = {m: _number(emotion[m], f"{where}.emotion.{m}", 0.0, 1.0) for m in MOODS}
    total = sum(probabilities.values())
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        raise InvalidEstimates(f"Expected {where}.emotion to sum to 1, got {total:.4f}.")
    face = {
        "box": [round(x), round(y), round(w), round(h)],
        "score": _number(data["score"], f"{where}.score", 0.0, 1.0),
        "emotion": probabilities,
    }
    if demographics:
        age = _number(data["age"], f"{where}.age", 0.0, MAX_AGE)
        female = _number(data["female"], f"{where}.female", 0.0, 1.0)
        face.update(age=age, age_band=age_band(age), gender={"female": female})
    else:  # never sent on; smoothing ignores demographics when the switch is off
        face.update(age=0.0, age_band=age_band(0.0), gender={"female": 0.5})
    return face


def parse_estimates(text: str, *, demographics: bool) -> dict[str, Any]:
    """The ``FrameAnalysis.to_dict()`` form of an estimates message ``text``.

    Raises:
        InvalidEstimates: with code ``estimates_too_large`` past ``ESTIMATES_MAX_BYTES``,
            else ``invalid_estimates``, saying what was expected.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > ESTIMATES_MAX_BYTES:
        raise InvalidEstimates(
            f"Expected an estimates message of at most {ESTIMATES_MAX_BYTES} bytes, "
            f"got {size} bytes.",
            code="estimates_too_large",
        )
    try:
        data = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except InvalidEstimates:
        raise
    except (ValueError, RecursionError) as err:
        raise InvalidEstimates(f"Expected a JSON object: {err}.") from None
    if not isinstance(data, dict) or data.get("type") != "estimates":
        raise InvalidEstimates('Expected a JSON object with "type": "estimates".')
    if set(data) != {"type", "width", "height", "faces"}:
        raise InvalidEstimates(
            'Expected exactly the keys "type", "width", "height" and "faces", '
            f"got {sorted(map(str, data))}."
        )
    width, height = (data[key] for key in ("width", "height"))
    for key, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidEstimates(f"Expected {key} to be a whole number of pixels.")
        if not 1 <= value <= ESTIMATES_MAX_SIDE:
            raise InvalidEstimates(f"Expected {key} in [1, {ESTIMATES_MAX_SIDE}], got {value}.")
    faces = data["faces"]
    if not isinstance(faces, list) or len(faces) > ESTIMATES_MAX_FACES:
        raise InvalidEstimates(f"Expected faces to be a list of at most {ESTIMATES_MAX_FACES}.")
    return {
        "width": width,
        "height": height,
        "faces": [
            _face(face, index, width, height, demographics) for index, face in enumerate(faces)
        ],
    }
