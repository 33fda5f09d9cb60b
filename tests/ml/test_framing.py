"""One framing, camera to training: training faces are cut from the serving detector's boxes."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest

from ml.detection import RetinaFaceMobileNetDetector
from ml.detection.base import DetectedFace
from ml.export import METADATA_FILE
from ml.framing import FRAMING_VERSION, DetectorFramer, FaceFrame, detect_training_face
from ml.inference import Analyzer
from ml.preprocessing import Preprocessing, face_crop, inside_source, to_model_input
from ml.runtime import ModelRunner

PARAMS = Preprocessing(input_size=48, color="gray", margin=0.0, framing="retinaface-mobilenet")


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
    assert (tmp_path / f"detections-retinaface-mobilenet-v{FRAMING_VERSION}.json").is_file()
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
