"""Training and serving turn the same image and box into exactly the same model input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.datasets import load_fer
from ml.detection import DetectedFace, FaceDetector
from ml.inference import Analyzer
from ml.preprocessing import Preprocessing, full_image_box, to_model_input


class FixedBoxDetector(FaceDetector):
    """Reports one face at a fixed box, like a detector that found exactly that face."""

    def __init__(self, box):
        self.box = box

    def detect(self, image_bgr):
        return [DetectedFace(box=self.box, score=1.0)]


class CapturingRunner:
    """Records the batch it is given and answers with neutral outputs."""

    def __init__(self, params: Preprocessing):
        self.input_shape = params.input_shape
        self.batches: list[np.ndarray] = []

    def predict(self, batch):
        self.batches.append(batch.copy())
        n = len(batch)
        return {
            "emotion": np.full((n, 4), 0.25, np.float32),
            "age": np.full((n, 1), 30.0, np.float32),
            "gender": np.full((n, 1), 0.5, np.float32),
        }


@pytest.mark.parametrize(
    "params",
    [
        Preprocessing(input_size=48, color="gray"),
        Preprocessing(input_size=64, color="rgb", margin=0.25),
    ],
    ids=["gray48", "rgb64"],
)
def test_fer_loader_and_analyzer_give_identical_tensors_for_the_same_jpeg(params, tmp_path):
    rng = np.random.default_rng(3)
    face = cv2.GaussianBlur(rng.integers(0, 256, (48, 48), dtype=np.uint8), (5, 5), 0)
    ok, jpeg = cv2.imencode(".jpg", face)
    assert ok
    (tmp_path / "test" / "happy").mkdir(parents=True)
    (tmp_path / "test" / "happy" / "PublicTest_1.jpg").write_bytes(jpeg.tobytes())

    training = to_model_input(
        load_fer(tmp_path, params, part="test", show_progress=False).images, params
    )

    box = full_image_box(48, 48, params)
    assert all(float(v).is_integer() for v in box)  # so the detector's int box is the same box
    runner = CapturingRunner(params)
    analyzer = Analyzer(runner, FixedBoxDetector(tuple(int(v) for v in box)), params)
    result = analyzer.analyze(jpeg.tobytes())

    assert len(result.faces) == 1
    assert len(runner.batches) == 1
    assert training.dtype == runner.batches[0].dtype == np.float32
    assert training.shape == runner.batches[0].shape == (1, *params.input_shape)
    np.testing.assert_array_equal(runner.batches[0], training)
