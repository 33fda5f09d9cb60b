"""RetinaFace MobileNet-0.25, the default detector: real weights from the install step."""

from __future__ import annotations

import numpy as np
import pytest

from ml.detection import RetinaFaceMobileNetDetector, create_detector, mobilenet_weights_path
from ml.detection.priors import anchors, decode_boxes, non_maximum_suppression
from ml.errors import DetectorWeightsMissing
from musicmood import samples
from tests.probe import python_probe


@pytest.fixture(scope="module")
def mobilenet() -> RetinaFaceMobileNetDetector:
    if not mobilenet_weights_path().is_file():
        pytest.fail(
            f"No MobileNet weights at {mobilenet_weights_path()}: the install step "
            "(`make test`, or `python scripts/install_detector.py`) puts them there."
        )
    return RetinaFaceMobileNetDetector()


def test_it_finds_exactly_one_face_in_the_astronaut_with_five_landmarks_in_place(
    mobilenet, astronaut_bgr
):
    faces = mobilenet.detect(astronaut_bgr)
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    assert face.score > 0.9
    assert 60 < w < 160 and 80 < h < 180  # full-resolution pixels of the 512x512 photo
    marks = face.landmarks
    assert set(marks) == {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}
    for px, py in marks.values():
        assert x <= px <= x + w and y <= py <= y + h
    (lx, ly), (rx, ry) = marks["left_eye"], marks["right_eye"]
    assert lx < rx and abs(ly - ry) < 0.15 * w  # eyes side by side, image-left first
    nose_x, nose_y = marks["nose"]
    assert lx < nose_x < rx and nose_y > max(ly, ry)  # the nose below, between the eyes
    mouth_y = (marks["mouth_left"][1] + marks["mouth_right"][1]) / 2
    assert mouth_y > nose_y  # the mouth below the nose
    assert marks["mouth_left"][0] < marks["mouth_right"][0]


def test_it_finds_no_face_in_a_blank_frame_or_in_noise(mobilenet):
    assert mobilenet.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert mobilenet.detect(noise) == []


def test_boxes_map_back_to_full_resolution_whatever_the_frame_size(mobilenet, astronaut_bgr):
    import cv2

    large = cv2.resize(astronaut_bgr, (1024, 1024))
    small_box = np.array(mobilenet.detect(astronaut_bgr)[0].box)
    large_box = np.array(mobilenet.detect(large)[0].box)
    np.testing.assert_allclose(large_box / 2, small_box, atol=4)


def test_a_fresh_install_without_network_picks_it_under_auto():
    # A process whose sockets all fail: nothing may be fetched to choose or run the detector.
    code = (
        "import socket\n"
        "def no_network(*a, **k):\n"
        "    raise OSError('network disabled in this test')\n"
        "socket.socket.connect = no_network\n"
        "socket.create_connection = no_network\n"
        "from musicmood.samples import astronaut_image\n"
        "from ml.detection import create_detector\n"
        "detector = create_detector('auto')\n"
        "print(detector.name, len(detector.detect(astronaut_image())))\n"
    )
    assert python_probe(code).split() == ["retinaface-mobilenet", "1"]


def test_weights_that_are_not_the_pinned_file_are_refused_naming_the_install_command(tmp_path):
    wrong = tmp_path / "retinaface-mobilenet0.25.onnx"
    wrong.write_bytes(b"not the model")
    with pytest.raises(DetectorWeightsMissing, match=r"install_detector\.py"):
        RetinaFaceMobileNetDetector(weights_path=wrong).load()
    with pytest.raises(DetectorWeightsMissing, match="not found"):
        RetinaFaceMobileNetDetector(weights_path=tmp_path / "absent.onnx").load()


def test_anchors_follow_the_three_feature_maps_of_the_network():
    table = anchors(240, 320)
    # ceil(240/8)*ceil(320/8)*2 + ceil(240/16)*ceil(320/16)*2 + ceil(240/32)*ceil(320/32)*2
    assert table.shape == (30 * 40 * 2 + 15 * 20 * 2 + 8 * 10 * 2, 4)
    np.testing.assert_allclose(table[0], [4, 4, 16, 16])
    np.testing.assert_allclose(table[1], [4, 4, 32, 32])
    zero = decode_boxes(np.zeros((1, 4), np.float32), table[:1])
    np.testing.assert_allclose(zero[0], [-4, -4, 12, 12])  # an anchor's own box


def test_non_maximum_suppression_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.8, 0.9, 0.7], np.float32)
    assert non_maximum_suppression(boxes, scores, 0.4).tolist() == [1, 2]
    assert non_maximum_suppression(boxes, scores, 0.95).tolist() == [1, 0, 2]


def test_unknown_detector_names_list_the_known_ones():
    with pytest.raises(ValueError, match="retinaface-mobilenet"):
        create_detector("mtcnn")


def test_a_far_face_missed_at_320_px_is_found_by_the_upscaled_retry(mobilenet, astronaut_bgr):
    import cv2

    from ml import live
    from ml.detection.mobilenet import RETRY_SIDE

    x, y, w, h = mobilenet.detect(astronaut_bgr)[0].box
    head = cv2.resize(astronaut_bgr[y - h // 4 : y + h, x - w // 8 : x + w + w // 8], (24, 24))
    frame, (px, py, side, _) = live.compose_frame(head, 48, seed=3)  # 48 px in a 640x480 frame
    passes = []
    detect_at = mobilenet._detect_at

    def spy(image, size, **kwargs):
        found = detect_at(image, size, **kwargs)
        passes.append((size, kwargs.get("upscale", False), len(found)))
        return found

    mobilenet._detect_at = spy
    try:
        faces = mobilenet.detect(frame)
    finally:
        del mobilenet._detect_at

    assert passes == [(320, False, 0), (RETRY_SIDE, True, 1)]
    (fx, fy, fw, fh) = faces[0].box  # in the frame's own pixels
    assert px <= fx + fw / 2 <= px + side and py <= fy + fh / 2 <= py + side
    assert 0.4 * side < fw <= side


@pytest.mark.parametrize("picture", ["text", "gravel", "moon"])
def test_the_second_look_keeps_no_texture_faces_too_big_or_too_small_for_it(mobilenet, picture):
    import cv2

    from ml import live

    frame = live.face_free_frames(samples=(picture,), views=1, rooms=0)["photos"][0]
    frame = cv2.imdecode(np.frombuffer(live.encode_jpeg(frame), np.uint8), cv2.IMREAD_COLOR)
    unfiltered = RetinaFaceMobileNetDetector(retry_face_sides=(0.0, 1.0))

    assert unfiltered.detect(frame), f"the upscaled copy of {picture} no longer shows a face"
    assert mobilenet.detect(frame) == []


def test_the_second_look_needs_a_size_window_inside_the_frame():
    for sides in ((0.4, 0.2), (-0.1, 0.5), (0.1, 1.5)):
        with pytest.raises(ValueError, match="retry_face_sides"):
            RetinaFaceMobileNetDetector(retry_face_sides=sides)


def test_a_full_size_pass_is_the_only_pass():
    full = RetinaFaceMobileNetDetector(max_side=0)
    passes = []
    detect_at = full._detect_at
    full._detect_at = lambda image, size, **kw: passes.append(size) or detect_at(image, size, **kw)

    assert full.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    assert passes == [0]  # training framing detects each image at its own size, once


def recording_passes(detector, frame):
    """``detector.detect(frame)`` and its network passes: (side, upscale, threshold, mirrored,
    faces found)."""
    passes = []
    detect_at = detector._detect_at

    def spy(image, size, **kwargs):
        found = detect_at(image, size, **kwargs)
        mirrored = image.shape == frame.shape and np.array_equal(image, frame[:, ::-1])
        passes.append((size, kwargs.get("upscale", False), kwargs.get("threshold"), mirrored,
                       len(found)))  # fmt: skip
        return found

    detector._detect_at = spy
    try:
        return detector.detect(frame), passes
    finally:
        del detector._detect_at


def test_a_faint_far_face_is_kept_when_the_mirrored_frame_shows_it_too(mobilenet):
    from ml.detection.mobilenet import CONFIRM_THRESHOLD, RETRY_SIDE, SCORE_THRESHOLD

    frame, (px, py, side, _) = samples.faint_far_face_frame()
    unconfirmed = RetinaFaceMobileNetDetector(confirm_threshold=0)
    assert unconfirmed.detect(frame) == []  # too weak for either look on its own

    faces, passes = recording_passes(mobilenet, frame)

    assert [p[:4] for p in passes] == [
        (320, False, CONFIRM_THRESHOLD, False),
        (RETRY_SIDE, True, CONFIRM_THRESHOLD, False),
        (RETRY_SIDE, True, CONFIRM_THRESHOLD, True),
    ]
    assert passes[1][4] >= 1 and passes[2][4] >= 1
    assert len(faces) == 1
    face = faces[0]
    fx, fy, fw, fh = face.box  # in the frame's own pixels, not the mirrored frame's
    assert px <= fx + fw / 2 <= px + side and py <= fy + fh / 2 <= py + side
    assert CONFIRM_THRESHOLD <= face.score < 1.0
    (lx, _), (rx, _) = face.landmarks["left_eye"], face.landmarks["right_eye"]
    assert fx <= lx < rx <= fx + fw  # the frame's own landmarks, image-left eye first
    assert SCORE_THRESHOLD > CONFIRM_THRESHOLD


def test_a_faint_near_face_is_kept_when_the_mirrored_frame_shows_it_at_the_first_look(mobilenet):
    from ml.detection.mobilenet import CONFIRM_THRESHOLD

    frame, (px, py, side, _) = samples.faint_near_face_frame()
    unconfirmed = RetinaFaceMobileNetDetector(confirm_threshold=0)
    assert unconfirmed.detect(frame) == []  # too weak at 320 px, and the second look misses it

    faces, passes = recording_passes(mobilenet, frame)

    # the first look's weak face, confirmed by the mirrored frame: no upscaled look is needed
    assert [p[:4] for p in passes] == [
        (320, False, CONFIRM_THRESHOLD, False),
        (320, False, CONFIRM_THRESHOLD, True),
    ]
    assert len(faces) == 1
    fx, fy, fw, fh = faces[0].box
    assert px <= fx + fw / 2 <= px + side and py <= fy + fh / 2 <= py + side
    assert CONFIRM_THRESHOLD <= faces[0].score < 1.0


def test_a_faint_face_the_mirrored_frame_does_not_show_is_dropped():
    detector = RetinaFaceMobileNetDetector()
    frame, _ = samples.faint_far_face_frame()
    assert len(detector.detect(frame)) == 1
    detect_at = detector._detect_at

    def blind_to_the_mirror(image, size, **kwargs):
        if image.shape == frame.shape and np.array_equal(image, frame[:, ::-1]):
            return []
        return detect_at(image, size, **kwargs)

    detector._detect_at = blind_to_the_mirror
    assert detector.detect(frame) == []


def test_a_frame_without_a_weak_face_costs_no_mirrored_look(mobilenet):
    from ml.detection.mobilenet import RETRY_SIDE

    faces, passes = recording_passes(mobilenet, np.full((480, 640, 3), 128, np.uint8))
    assert faces == []
    assert [p[:2] for p in passes] == [(320, False), (RETRY_SIDE, True)]


def test_a_face_found_in_the_mirrored_image_maps_back_with_its_sides_renamed():
    from ml.detection.base import DetectedFace, box_iou, mirror_face

    marks = {"left_eye": (30.0, 40.0), "right_eye": (50.0, 41.0), "nose": (40.0, 50.0),
             "mouth_left": (33.0, 60.0), "mouth_right": (47.0, 61.0)}  # fmt: skip
    face = DetectedFace(box=(20, 30, 40, 45), score=0.4, landmarks=marks)
    back = mirror_face(face, 100)
    assert back.box == (40, 30, 40, 45) and back.score == 0.4
    assert back.landmarks["left_eye"] == (50.0, 41.0)  # the right eye, seen from the mirror
    assert back.landmarks["right_eye"] == (70.0, 40.0) and back.landmarks["nose"] == (60.0, 50.0)
    assert back.landmarks["left_eye"][0] < back.landmarks["right_eye"][0]
    assert mirror_face(back, 100) == face
    assert box_iou(face.box, face.box) == 1.0 and box_iou(face.box, (200, 0, 5, 5)) == 0.0
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
