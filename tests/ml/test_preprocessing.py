"""Face preprocessing: one conversion per frame, each face shrunk in its own region."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

import ml.preprocessing
from ml.preprocessing import (
    Preprocessing,
    eye_angle,
    face_crop,
    prepare_faces,
    to_model_colour,
    to_model_input,
)

GRAY = Preprocessing(input_size=48, color="gray", margin=0.1)
RGB = Preprocessing(input_size=64, color="rgb", margin=0.25)


@pytest.fixture(scope="module")
def frame(astronaut_bgr) -> np.ndarray:
    """A 1280x720 BGR frame with texture everywhere, so that any misplaced pixel shows."""
    noise = np.random.default_rng(4).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    frame = cv2.GaussianBlur(noise, (3, 3), 0)
    frame[100:612, 300:812] = astronaut_bgr
    return frame


def whole_frame_crop(image, box, params, landmarks=None) -> np.ndarray:
    """The crop as it was defined before faces were shrunk in their own region: the whole
    image resized by INTER_AREA for each face, then the same affine warp."""
    source = to_model_colour(image, params)
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * params.margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    size = params.input_size
    if side / size > 2.0:
        factor = side / size / 2.0
        height, width = source.shape[:2]
        source = cv2.resize(
            source,
            (max(1, round(width / factor)), max(1, round(height / factor))),
            interpolation=cv2.INTER_AREA,
        )
        sx, sy = source.shape[1] / width, source.shape[0] / height
        cx, cy, side = cx * sx, cy * sy, side * (sx + sy) / 2.0
    angle = eye_angle(landmarks) if params.align else 0.0
    rotation = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    rotation[0, 2] += size / 2.0 - cx
    rotation[1, 2] += size / 2.0 - cy
    crop = cv2.warpAffine(
        source, rotation, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return crop.reshape(params.input_shape)


def eyes(box, degrees: float) -> dict[str, tuple[float, float]]:
    x, y, w, h = box
    left = (x + 0.3 * w, y + 0.4 * h)
    turn = math.radians(degrees)
    return {
        "left_eye": left,
        "right_eye": (left[0] + 0.4 * w * math.cos(turn), left[1] + 0.4 * w * math.sin(turn)),
    }


BOXES = [
    ((500, 180, 120, 150), 0.0),  # shrunk 3.75x
    ((40, 30, 60, 70), 10.0),  # small: not shrunk
    ((1000, 400, 333, 390), -25.0),  # large, turned, past the frame's right and bottom edges
    ((-50, -40, 200, 230), 5.0),  # past the top-left corner
    ((700, 300, 97, 101), 0.0),  # a shrink factor whose grid meets pixel edges only at the ends
]


@pytest.mark.parametrize("params", [GRAY, RGB], ids=["gray48", "rgb64"])
def test_each_face_is_cut_as_the_whole_frame_resized_would_cut_it(frame, params):
    for box, degrees in BOXES:
        landmarks = eyes(box, degrees)
        expected = whole_frame_crop(frame, box, params, landmarks).astype(int)
        got = face_crop(frame, box, params, landmarks).astype(int)
        difference = np.abs(got - expected)
        assert difference.max() <= 2 and difference.mean() < 0.01, (box, difference.max())


@pytest.mark.parametrize("params", [GRAY, RGB], ids=["gray48", "rgb64"])
def test_a_frame_s_faces_are_cut_exactly_as_each_would_be_alone(frame, params):
    boxes = [box for box, _ in BOXES]
    marks = [eyes(box, degrees) for box, degrees in BOXES]
    batch = prepare_faces(frame, boxes, params, marks)
    assert batch.shape == (len(boxes), *params.input_shape) and batch.dtype == np.float32
    for row, box, landmarks in zip(batch, boxes, marks, strict=True):
        np.testing.assert_array_equal(
            row, to_model_input(face_crop(frame, box, params, landmarks), params)
        )


@pytest.mark.parametrize("params", [GRAY, RGB], ids=["gray48", "rgb64"])
def test_a_frame_is_converted_once_however_many_faces_it_has(frame, params, monkeypatch):
    conversions = []
    convert = ml.preprocessing.cv2.cvtColor

    def counted(image, code):
        conversions.append(image.shape)
        return convert(image, code)

    monkeypatch.setattr(ml.preprocessing.cv2, "cvtColor", counted)
    prepare_faces(frame, [box for box, _ in BOXES], params)
    assert conversions == [frame.shape]


def test_a_face_is_shrunk_in_its_own_region_not_with_the_whole_frame(frame, monkeypatch):
    resized = []
    resize = ml.preprocessing.cv2.resize

    def recorded(image, size, **kwargs):
        resized.append(image.shape[:2])
        return resize(image, size, **kwargs)

    monkeypatch.setattr(ml.preprocessing.cv2, "resize", recorded)
    # Side 120 with the margin: shrunk 2.5x, by 1.25 before the warp; 1280 / 1.25 = 1024 cells
    # of 1.25 pixels, whose edges meet pixel edges every 4 cells.
    prepare_faces(frame, [(200, 200, 100, 100), (900, 300, 100, 100)], GRAY)
    assert len(resized) == 2
    for height, width in resized:
        assert height * width < 0.05 * frame.shape[0] * frame.shape[1]
