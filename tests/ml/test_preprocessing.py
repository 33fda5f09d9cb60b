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
    inside_source,
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


@pytest.mark.parametrize(("box", "degrees"), BOXES)
def test_the_inside_mask_marks_where_the_crop_saw_the_frame(frame, box, degrees):
    marks = eyes(box, degrees)
    inside = inside_source(frame.shape, box, GRAY, marks)[..., 0]
    # Where each crop pixel's centre lands in the frame, by the crop's own geometry.
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * GRAY.margin)
    centre = (x + w / 2.0, y + h / 2.0)
    forward = cv2.getRotationMatrix2D(centre, eye_angle(marks), 48 / side)
    forward[:, 2] += 24 - np.asarray(centre)
    back = cv2.invertAffineTransform(forward)
    vs, us = np.mgrid[0:48, 0:48].astype(np.float64)
    sx = back[0, 0] * us + back[0, 1] * vs + back[0, 2]
    sy = back[1, 0] * us + back[1, 1] * vs + back[1, 2]
    height, width = frame.shape[:2]
    depth = np.minimum.reduce([sx + 0.5, width - 0.5 - sx, sy + 0.5, height - 0.5 - sy])
    slack = 2.0 * side / 48  # two crop pixels, in frame pixels: the bilinear and area taps

    assert inside.shape == (48, 48) and inside.dtype == np.uint8
    assert (inside[depth > slack] == 255).all()
    assert (inside[depth < -slack] == 0).all()
    assert (inside[depth < -slack].size > 0) == (x < 0 or y < 0 or x + w > width or y + h > height)


def test_a_tight_chip_cropped_at_a_larger_box_lies_past_its_edge_all_round():
    chip = np.full((48, 48), 120, np.uint8)
    inside = inside_source(chip.shape, (-6.0, -6.0, 60.0, 60.0), Preprocessing(margin=0.0))

    assert inside[24, 24, 0] == 255
    assert (inside[:2] == 0).all() and (inside[-2:] == 0).all()
    assert (inside[:, :2] == 0).all() and (inside[:, -2:] == 0).all()
    # 48 of the box's 60 pixels lie on the chip: 80 % of each side.
    assert abs((inside > 127).mean() - 0.8**2) < 0.03
