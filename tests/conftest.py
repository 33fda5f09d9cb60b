"""Fixtures shared by the whole suite: a tiny real exported model and a real face photo."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis

from musicmood import samples

#: Redis database the tests may flush; never the one a developer's site uses.
REDIS_URL_TEST = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")


@pytest.fixture(scope="session")
def tiny_model():
    """The tiny Keras model of ``musicmood.samples.tiny_model``, built once per session."""
    return samples.tiny_model()


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export (Keras + TFLite fp32/int8 + metadata) of ``tiny_model``: the only export
    the suite makes; tests that need a variant copy it and edit its metadata."""
    return samples.export_tiny_model(tiny_model, tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """The astronaut photo as BGR uint8 (512, 512, 3), as OpenCV decodes it."""
    return samples.astronaut_image()


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
