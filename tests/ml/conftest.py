"""Shared fixtures for ml tests: one tiny model, exported once per test session."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

TINY_INPUT_SIZE = 48
TINY_WIDTH = 0.0625


def synthetic_faces(count: int, size: int, seed: int = 0) -> np.ndarray:
    """Float32 (count, size, size, 1) images in [0, 1]: smooth blobs, like blurred faces."""
    rng = np.random.default_rng(seed)
    noise = rng.random((count, size // 4, size // 4)).astype(np.float32)
    images = np.stack([cv2.resize(n, (size, size), interpolation=cv2.INTER_CUBIC) for n in noise])
    return np.clip(images, 0.0, 1.0)[..., np.newaxis]


@pytest.fixture(scope="session")
def tiny_model():
    """An untrained three-head model at 48x48 gray, 1/16 of VGG16's width."""
    from ml.model import build_model

    return build_model(input_size=TINY_INPUT_SIZE, width=TINY_WIDTH)


@pytest.fixture(scope="session")
def tiny_export(tiny_model, tmp_path_factory) -> Path:
    """The tiny model exported (Keras, TFLite fp32 and int8, metadata) to a temp folder."""
    from ml.export import export_model
    from ml.preprocessing import Preprocessing

    out = tmp_path_factory.mktemp("tiny_export")
    return export_model(
        tiny_model,
        out,
        preprocessing=Preprocessing(input_size=TINY_INPUT_SIZE, color="gray"),
        calibration=synthetic_faces(64, TINY_INPUT_SIZE, seed=1),
        training={"note": "untrained test model"},
        metrics={},
    )
