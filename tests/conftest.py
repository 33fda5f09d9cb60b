"""Fixtures shared by the whole suite: a tiny real exported model and a real face photo."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis

from ml.labels import MOODS

#: Redis database the tests may flush; never the one a developer's site uses.
REDIS_URL_TEST = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")
#: The mood the tiny model always favours (see ``tiny_model_dir``).
TINY_MODEL_MOOD = "happy"


def build_tiny_model(out: Path) -> Path:
    """Export a real 1/16-width model to ``out`` whose emotion head favours TINY_MODEL_MOOD.

    The network is untrained, so left alone its emotion head would give near-uniform
    probabilities that never reach MOOD_MIN_CONFIDENCE, and no test could see a mood being
    announced. The emotion layer's kernel is shrunk and its bias set so that "happy" wins
    clearly (about 0.95) whatever the face: tests then check the path (frame -> analysis ->
    smoothed mood -> message), not the accuracy of a model nobody trained.
    """
    from ml.export import export_model
    from ml.model import build_model
    from ml.preprocessing import Preprocessing

    preprocessing = Preprocessing(input_size=48, color="gray")
    model = build_model(input_size=48, channels=1, width=0.0625, head_units=16)
    emotion = model.get_layer("emotion")
    kernel, bias = emotion.get_weights()
    bias = np.zeros_like(bias)
    bias[MOODS.index(TINY_MODEL_MOOD)] = 4.0
    emotion.set_weights([kernel * 0.01, bias])

    rng = np.random.default_rng(7)
    calibration = rng.random((16, *preprocessing.input_shape), dtype=np.float32)
    return export_model(
        model,
        out,
        preprocessing=preprocessing,
        calibration=calibration,
        training={"note": "untrained test model, emotion bias favours " + TINY_MODEL_MOOD},
        metrics={},
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export (Keras + TFLite fp32/int8 + metadata) of the tiny model; see above."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


def astronaut_image() -> np.ndarray:
    """scikit-image's astronaut photo (one clear frontal face), as BGR uint8 (512, 512, 3)."""
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """The astronaut photo as BGR uint8 (512, 512, 3), as OpenCV decodes it."""
    return astronaut_image()


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut_bgr: np.ndarray) -> bytes:
    """JPEG bytes of a photo with one real face, as a browser would send it."""
    ok, encoded = cv2.imencode(".jpg", astronaut_bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


@pytest.fixture
def clean_redis():
    """Redis db REDIS_URL_TEST, flushed before and after."""
    client = redis.Redis.from_url(REDIS_URL_TEST)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis does not answer at {REDIS_URL_TEST}; `make redis` starts one.")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
