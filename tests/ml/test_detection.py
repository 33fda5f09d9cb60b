"""Face detectors: OpenCV finds the astronaut, RetinaFace refuses to run without weights."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.detection import OpenCVDetector, RetinaFaceDetector, create_detector
from ml.detection.base import box_to_full, downscale
from ml.errors import DetectorWeightsMissing
from tests.probe import python_probe


@pytest.fixture
def no_deepface_weights(tmp_path, monkeypatch) -> Path:
    """Point DEEPFACE_HOME at an empty folder so no real weights are found."""
    monkeypatch.setenv("DEEPFACE_HOME", str(tmp_path))
    return tmp_path / ".deepface" / "weights" / "retinaface.onnx"


def test_opencv_detector_finds_exactly_one_face_in_the_astronaut(astronaut_bgr):
    faces = OpenCVDetector().detect(astronaut_bgr)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 220
    assert 60 < w < 160  # full-resolution pixels, not the 320-pixel copy's
    assert 0.5 < faces[0].score <= 1.0


def test_opencv_detector_finds_no_face_in_a_blank_frame():
    assert OpenCVDetector().detect(np.zeros((480, 640, 3), np.uint8)) == []


def test_opencv_boxes_map_back_to_full_resolution_whatever_the_detection_size(astronaut_bgr):
    large = cv2.resize(astronaut_bgr, (1024, 1024))
    small_box = OpenCVDetector(max_side=320).detect(astronaut_bgr)[0].box
    large_box = OpenCVDetector(max_side=320).detect(large)[0].box
    np.testing.assert_allclose(np.array(large_box) / 2, small_box, atol=6)


def test_downscaled_box_maps_back_within_the_image():
    image = np.zeros((480, 640, 3), np.uint8)
    small, factor = downscale(image, 320)
    assert small.shape[:2] == (240, 320) and factor == 0.5
    assert box_to_full((10, 20, 30, 40), factor, image.shape) == (20, 40, 60, 80)
    assert box_to_full((300, 200, 100, 100), factor, image.shape) == (600, 400, 40, 80)


def test_retinaface_without_weights_raises_naming_the_missing_file(
    astronaut_bgr, no_deepface_weights
):
    with pytest.raises(DetectorWeightsMissing) as caught:
        RetinaFaceDetector().detect(astronaut_bgr)
    assert str(no_deepface_weights) in str(caught.value)


def test_retinaface_with_a_missing_explicit_weights_path_names_that_path(tmp_path):
    path = tmp_path / "elsewhere" / "retinaface.onnx"
    with pytest.raises(DetectorWeightsMissing, match="elsewhere"):
        RetinaFaceDetector(weights_path=path, download=True).load()


def test_auto_detector_falls_back_to_opencv_without_any_retinaface_weights(
    no_deepface_weights, tmp_path
):
    detector = create_detector("auto", mobilenet_weights=tmp_path / "missing.onnx")
    assert isinstance(detector, OpenCVDetector)


def test_auto_detector_picks_resnet50_when_only_its_weights_file_exists(
    no_deepface_weights, tmp_path
):
    no_deepface_weights.parent.mkdir(parents=True)
    no_deepface_weights.write_bytes(b"placeholder")  # only its presence is checked here
    detector = create_detector("auto", mobilenet_weights=tmp_path / "missing.onnx")
    assert isinstance(detector, RetinaFaceDetector)


def test_unknown_detector_name_is_refused():
    with pytest.raises(ValueError, match="opencv"):
        create_detector("mtcnn")


def test_retinaface_package_is_imported_on_onnx_without_tensorflow():
    code = (
        "import os, sys\n"
        "os.environ.pop('DEEPFACE_BACKEND_ENGINE', None)\n"
        "from ml.detection.retinaface import _import_retinaface\n"
        "_import_retinaface()\n"
        "from retinaface.commons import backend_utils\n"
        "print(backend_utils.get_backend_engine(), 'tensorflow' in sys.modules)\n"
    )
    assert python_probe(code).split() == ["onnx", "False"]
