"""Training-time augmentation of uint8 face crops, in numpy/OpenCV (no deep-learning backend)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class Augmentation:
    """Random flip, shift, rotation, scale, brightness and contrast for face crops.

    Shifts are fractions of the crop side, rotations in degrees, scale and contrast factors
    around 1, brightness in uint8 levels. Geometric changes are one affine warp per image with
    replicated borders (as ``face_crop`` pads), so faces never get black corners.
    """

    flip: float = 0.5  # probability of a horizontal flip
    shift: float = 0.08
    rotation: float = 10.0
    scale: float = 0.08
    brightness: float = 25.0
    contrast: float = 0.25

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Augmented copy of uint8 images (N, S, S, C); draws from ``rng`` only."""
        if images.ndim != 4:
            raise ValueError(f"Expected uint8 images of shape (N, S, S, C), got {images.shape}.")
        n, height, width, channels = images.shape
        out = np.empty_like(images)
        flips = rng.random(n) < self.flip
        angles = rng.uniform(-self.rotation, self.rotation, n)
        scales = 1.0 + rng.uniform(-self.scale, self.scale, n)
        shifts = rng.uniform(-self.shift, self.shift, (n, 2)) * (width, height)
        gains = 1.0 + rng.uniform(-self.contrast, self.contrast, n)
        offsets = rng.uniform(-self.brightness, self.brightness, n)
        centre = ((width - 1) / 2.0, (height - 1) / 2.0)
        for i in range(n):
            image = images[i]
            if flips[i]:
                image = image[:, ::-1]
            matrix = cv2.getRotationMatrix2D(centre, float(angles[i]), float(scales[i]))
            matrix[:, 2] += shifts[i]
            warped = cv2.warpAffine(
                np.ascontiguousarray(image),
                matrix,
                (width, height),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
            warped = warped.reshape(height, width, channels).astype(np.float32)
            # Contrast around the image's own mean, so it does not also shift brightness.
            mean = warped.mean()
            adjusted = (warped - mean) * gains[i] + mean + offsets[i]
            out[i] = np.clip(adjusted + 0.5, 0, 255).astype(np.uint8)
        return out
