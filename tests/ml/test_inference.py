"""Analyzer: frame bytes in, one result per face, all faces through the network at once."""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from ml.analysis import FrameAnalysis
from ml.detection import OpenCVDetector
from ml.errors import InvalidImage, ModelNotFound
from ml.inference import Analyzer
from ml.labels import AGE_BAND_NAMES, MOODS
from tests.probe import python_probe


class CountingRunner:
    """Wraps a runner and records the batch size of every call."""

    def __init__(self, runner):
        self.runner = runner
        self.input_shape = runner.input_shape
        self.batch_sizes: list[int] = []

    def predict(self, batch):
        self.batch_sizes.append(len(batch))
        return self.runner.predict(batch)


@pytest.fixture(scope="module")
def analyzer(tiny_model_dir) -> Analyzer:
    return Analyzer.load(tiny_model_dir, detector="opencv", runtime="int8", threads=1)


def png_header(width: int, height: int) -> bytes:
    """The first bytes of a PNG claiming the given size (no pixel data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def test_astronaut_jpeg_gives_one_face_with_probabilities_summing_to_one(analyzer, astronaut_jpeg):
    result = analyzer.analyze(astronaut_jpeg)
    assert isinstance(result, FrameAnalysis)
    assert (result.width, result.height) == (512, 512)
    assert len(result.faces) == 1
    face = result.faces[0]
    assert list(face.emotion) == list(MOODS)
    assert sum(face.emotion.values()) == pytest.approx(1.0, abs=1e-6)
    assert 0.0 <= face.age <= 100.0
    assert face.age_band in AGE_BAND_NAMES
    assert 0.0 <= face.female <= 1.0
    assert 0.0 <= face.score <= 1.0
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 220  # the astronaut's face
    assert json.loads(json.dumps(result.to_dict()))["faces"][0]["emotion"].keys() == set(MOODS)


def test_two_faces_side_by_side_give_two_results_from_one_network_call(analyzer, astronaut_bgr):
    counting = CountingRunner(analyzer.runner)
    # 1024x512 frame: detect at full size so each face stays ~100 px, as in a webcam frame.
    two_faces = Analyzer(counting, OpenCVDetector(max_side=1024), analyzer.preprocessing)
    result = two_faces.analyze_image(np.hstack([astronaut_bgr, astronaut_bgr]))
    assert len(result.faces) == 2
    assert counting.batch_sizes == [2]
    centres = sorted(face.box[0] + face.box[2] / 2 for face in result.faces)
    assert centres[0] < 512 < centres[1]


def test_frame_without_faces_gives_no_results_and_no_network_call(analyzer):
    counting = CountingRunner(analyzer.runner)
    empty = Analyzer(counting, OpenCVDetector(), analyzer.preprocessing)
    result = empty.analyze_image(np.full((240, 320, 3), 128, np.uint8))
    assert result.faces == ()
    assert counting.batch_sizes == []


def test_garbage_bytes_raise_invalid_image(analyzer):
    with pytest.raises(InvalidImage):
        analyzer.analyze(b"this is not an image at all")


def test_oversized_png_header_is_refused_before_decoding(analyzer):
    with pytest.raises(InvalidImage, match="at most"):
        analyzer.analyze(png_header(20000, 20000))


def test_missing_model_folder_raises_model_not_found_saying_what_was_expected(tmp_path):
    with pytest.raises(ModelNotFound, match=r"metadata\.json"):
        Analyzer.load(tmp_path / "no-model-here", detector="opencv")


def test_export_without_any_model_file_raises_model_not_found(tiny_model_dir, tmp_path):
    (tmp_path / "metadata.json").write_bytes((tiny_model_dir / "metadata.json").read_bytes())
    with pytest.raises(ModelNotFound, match=r"model_int8\.tflite"):
        Analyzer.load(tmp_path, detector="opencv")


def test_tflite_inference_does_not_import_tensorflow_or_keras(
    tiny_model_dir, astronaut_jpeg, tmp_path
):
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(astronaut_jpeg)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ml.inference import Analyzer\n"
        f"analyzer = Analyzer.load({str(tiny_model_dir)!r}, detector='auto', runtime='auto')\n"
        f"result = analyzer.analyze(Path({str(frame)!r}).read_bytes())\n"
        "assert len(result.faces) == 1, result\n"
        "print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules))\n"
    )
    assert python_probe(code).strip().splitlines()[-1] == "[]"
