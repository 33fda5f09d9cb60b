"""One framing, camera to training: training faces are cut from the serving detector's boxes."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from ml.detection import RetinaFaceMobileNetDetector
from ml.detection.base import DEFAULT_MAX_SIDE, DetectedFace, box_iou
from ml.export import METADATA_FILE
from ml.frames import LIVE_FRAME
from ml.framing import (
    FRAMING_CAMERA_SIDES,
    FRAMING_VERSIONS,
    DetectorFramer,
    FaceFrame,
    detect_in_camera_frame,
    detect_training_face,
)
from ml.inference import Analyzer
from ml.preprocessing import Preprocessing, face_crop, inside_source, to_model_input
from ml.runtime import ModelRunner

PARAMS = Preprocessing(input_size=48, color="gray", margin=0.0, framing="retinaface-mobilenet")
CAMERA = Preprocessing(
    input_size=48,
    color="gray",
    margin=0.0,
    framing="retinaface-mobilenet",
    framing_context="camera",
)


@pytest.fixture(scope="module")
def detector() -> RetinaFaceMobileNetDetector:
    return RetinaFaceMobileNetDetector()


@pytest.fixture(scope="module")
def fer_like(astronaut_bgr) -> np.ndarray:
    """The astronaut's face as FER2013 images are: a tight 48x48 gray crop, decoded to BGR."""
    gray = cv2.cvtColor(cv2.resize(astronaut_bgr[50:190, 155:295], (48, 48)), cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


class RecordingRunner(ModelRunner):
    """Keeps the batches serving would give the network; answers zeros."""

    name = "recording"

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def predict(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.batches.append(batch.copy())
        return {
            "emotion": np.full((len(batch), 4), 0.25, np.float32),
            "age": np.full((len(batch), 1), 30.0, np.float32),
            "gender": np.full((len(batch), 1), 0.5, np.float32),
        }


class NoDetector:
    """A detector that must not be asked: the detections come from the cache."""

    name = "retinaface-mobilenet"

    def detect(self, image):
        raise AssertionError("the cached detection should have been used")


def test_the_main_face_of_a_tight_training_crop_is_found_in_its_own_pixels(detector, fer_like):
    frame = detect_training_face(fer_like, detector)
    assert frame is not None
    x, y, w, h = frame.box
    assert -12 < x < 24 and -16 < y < 24 and 28 < w < 64 and 28 < h < 64  # about the image
    (lx, ly), (rx, ry) = frame.landmarks["left_eye"], frame.landmarks["right_eye"]
    assert 0 < lx < rx < 48 and 0 < ly < 30 and 0 < ry < 30


def test_training_and_serving_crops_of_the_same_image_and_box_are_identical(
    detector, astronaut_bgr
):
    face = detector.detect(astronaut_bgr)[0]
    training = face_crop(astronaut_bgr, face.box, PARAMS, face.landmarks)
    runner = RecordingRunner()
    Analyzer(runner, detector, PARAMS).analyze_faces(astronaut_bgr, [face])
    np.testing.assert_array_equal(runner.batches[0][0], to_model_input(training, PARAMS))


def test_detections_are_cached_by_image_bytes_and_reused(detector, fer_like, tmp_path):
    key = cv2.imencode(".jpg", fer_like)[1].tobytes()
    first = DetectorFramer(PARAMS, cache_dir=tmp_path, detector=detector)
    first.add(fer_like, key)
    crops, inside = first.finish()
    assert (
        tmp_path / f"detections-retinaface-mobilenet-v{FRAMING_VERSIONS['padded']}.json"
    ).is_file()
    again = DetectorFramer(PARAMS, cache_dir=tmp_path, detector=NoDetector())
    again.add(fer_like, key)
    crops_again, inside_again = again.finish()
    np.testing.assert_array_equal(crops_again[0], crops[0])
    np.testing.assert_array_equal(inside_again[0], inside[0])


def test_an_image_without_a_found_face_gets_the_box_calibrated_on_the_others(detector, fer_like):
    framer = DetectorFramer(PARAMS, detector=detector)
    shifted = np.roll(fer_like, 2, axis=1)
    framer.add(fer_like, b"one")
    framer.add(shifted, b"two")
    blank = np.full((48, 48, 3), 90, np.uint8)
    framer.add(blank, b"no face here")
    crops, inside = framer.finish()
    assert len(crops) == len(inside) == 3
    default = FaceFrame.from_relative(
        framer.default_relative(), framer.landmark_names, *blank.shape[:2]
    )
    np.testing.assert_array_equal(
        crops[2], face_crop(blank, default.box, PARAMS, default.landmarks)
    )
    np.testing.assert_array_equal(
        inside[2], inside_source(blank.shape, default.box, PARAMS, default.landmarks)
    )
    boxes = [detect_training_face(image, detector).box for image in (fer_like, shifted)]
    np.testing.assert_allclose(default.box, np.median(boxes, axis=0), atol=1e-6)


def test_a_framer_finding_no_face_at_all_says_so():
    class Blind:
        name = "retinaface-mobilenet"

        def detect(self, image):
            return []

    framer = DetectorFramer(PARAMS, detector=Blind(), what="test images")
    framer.add(np.zeros((48, 48, 3), np.uint8), b"x")
    with pytest.raises(ValueError, match="found no face in any of the 1 test images"):
        framer.finish()


def test_serving_with_another_detector_than_training_framed_with_logs_a_warning(
    tiny_model_dir, tmp_path, caplog
):
    from ml.detection import OpenCVDetector

    framed = shutil.copytree(tiny_model_dir, tmp_path / "framed")
    metadata = json.loads((framed / METADATA_FILE).read_text())
    metadata["preprocessing"]["framing"] = "retinaface-mobilenet"
    (framed / METADATA_FILE).write_text(json.dumps(metadata))

    Analyzer.load(framed, detector=OpenCVDetector())
    assert "framed by the retinaface-mobilenet detector but is served with opencv" in caplog.text


def test_detected_faces_keep_their_score_and_landmarks_through_the_frame(detector, astronaut_bgr):
    face: DetectedFace = detector.detect(astronaut_bgr)[0]
    frame = FaceFrame(face.box, face.landmarks)
    back = FaceFrame.from_relative(frame.relative(512, 512), tuple(face.landmarks), 512, 512)
    np.testing.assert_allclose(back.box, face.box, atol=1e-6)
    for name, point in face.landmarks.items():
        np.testing.assert_allclose(back.landmarks[name], point, atol=1e-6)


@pytest.fixture(scope="module")
def serving_detector() -> RetinaFaceMobileNetDetector:
    return RetinaFaceMobileNetDetector(max_side=DEFAULT_MAX_SIDE)


@pytest.fixture(scope="module")
def utkface_like(astronaut_bgr) -> np.ndarray:
    """The astronaut's head as UTKFace chips are: 200x200 colour, the face filling the middle."""
    return np.ascontiguousarray(astronaut_bgr[20:220, 125:325])


@pytest.mark.parametrize("image_name", ["fer_like", "utkface_like"])
def test_in_a_camera_frame_the_face_is_found_where_the_padded_image_shows_it(
    request, image_name, detector, serving_detector
):
    image = request.getfixturevalue(image_name)
    padded = detect_training_face(image, detector)
    side = image.shape[0]
    for seed in range(3):  # three sizes and places in the frame
        camera = detect_in_camera_frame(image, serving_detector, seed)
        assert camera is not None
        assert box_iou(camera.box, padded.box) > 0.7, (seed, camera.box, padded.box)
        for name in ("left_eye", "right_eye", "nose"):
            distance = np.hypot(*np.subtract(camera.landmarks[name], padded.landmarks[name]))
            assert distance < 0.06 * side, (seed, name, distance)


def test_a_camera_frame_is_what_serving_sees_and_repeats_for_the_same_seed(serving_detector):
    seen = []

    class Recording:
        name = "retinaface-mobilenet"

        def detect(self, image):
            seen.append(image)
            return serving_detector.detect(image)

    chip = np.full((48, 48, 3), 90, np.uint8)  # no face: the frame is still composed and sent
    assert detect_in_camera_frame(chip, Recording(), seed=11) is None
    assert detect_in_camera_frame(chip, Recording(), seed=11) is None
    assert len(seen) == 2 and seen[0].shape == (LIVE_FRAME[1], LIVE_FRAME[0], 3)
    np.testing.assert_array_equal(seen[0], seen[1])
    assert FRAMING_CAMERA_SIDES == (100, 260)


def test_a_camera_framer_detects_at_serving_resolution_and_caches_apart(
    fer_like, utkface_like, tmp_path
):
    from ml.detection.mobilenet import CONFIRM_THRESHOLD

    framer = DetectorFramer(CAMERA, cache_dir=tmp_path)
    assert framer.detector.max_side == DEFAULT_MAX_SIDE
    assert framer.detector.confirm_threshold == CONFIRM_THRESHOLD  # serving's detector whole
    padded = DetectorFramer(PARAMS).detector
    assert padded.max_side == 0 and padded.confirm_threshold == 0  # as the shipped model's
    framer.add(fer_like, b"fer")
    framer.add(utkface_like, b"utk")
    crops, _ = framer.finish()
    assert len(crops) == 2 and not framer.missed
    assert (
        tmp_path / f"detections-retinaface-mobilenet-camera-v{FRAMING_VERSIONS['camera']}.json"
    ).is_file()
    assert not (
        tmp_path / f"detections-retinaface-mobilenet-v{FRAMING_VERSIONS['padded']}.json"
    ).exists()


def test_a_framing_context_must_be_padded_or_camera():
    with pytest.raises(ValueError, match="framing_context must be 'padded' or 'camera'"):
        Preprocessing(framing="retinaface-mobilenet", framing_context="sky")
