"""Helpers for the ml tests; the tiny model and its export are the suite's (tests/conftest.py)."""

from __future__ import annotations

import cv2
import numpy as np

#: Input side of the suite's tiny model (``musicmood.samples.tiny_model``).
TINY_INPUT_SIZE = 48


def synthetic_faces(count: int, size: int, seed: int = 0) -> np.ndarray:
    """Float32 (count, size, size, 1) images in [0, 1]: smooth blobs, like blurred faces."""
    rng = np.random.default_rng(seed)
    noise = rng.random((count, size // 4, size // 4)).astype(np.float32)
    images = np.stack([cv2.resize(n, (size, size), interpolation=cv2.INTER_CUBIC) for n in noise])
    return np.clip(images, 0.0, 1.0)[..., np.newaxis]
