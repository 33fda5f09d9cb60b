"""Training-time augmentation of uint8 face crops, in numpy/OpenCV (no deep-learning backend)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

#: A webcam round trip shrinks a crop by a factor drawn from [1, this] ...
CAMERA_MAX_SHRINK = 2.5
#: ... and encodes it as JPEG at a quality drawn from this range (inclusive).
CAMERA_JPEG_QUALITY = (40, 90)
#: Random erasing covers this fraction of the crop ...
ERASING_AREA = (0.02, 0.2)
#: ... with a rectangle whose height / width ratio lies in this range.
ERASING_ASPECT = (0.3, 3.3)


@dataclass(frozen=True)
class Augmentation:
    """Random flip, shift, rotation, scale, brightness and contrast for face crops, and, when
    asked for, a webcam round trip and random erasing.

    Shifts are fractions of the crop side, rotations in degrees, scale and contrast factors
    around 1, brightness in uint8 levels. Geometric changes are one affine warp per image with
    replicated borders (as ``face_crop`` pads), so faces never get black corners.

    ``camera`` is the probability that a crop goes through what a face in a camera frame goes
    through: shrunk by up to ``CAMERA_MAX_SHRINK``, JPEG-encoded at a quality in
    ``CAMERA_JPEG_QUALITY`` and scaled back. ``erasing`` is the probability that one rectangle
    of ``ERASING_AREA`` of the crop, of aspect ratio in ``ERASING_ASPECT``, is filled with
    noise (random erasing, Zhong et al., AAAI 2020). Both are off by default; their draws come
    after the others, so switching them on changes nothing else.
    """

    flip: float = 0.5  # probability of a horizontal flip
    shift: float = 0.08
    rotation: float = 10.0
    scale: float = 0.08
    brightness: float = 25.0
    contrast: float = 0.25
    camera: float = 0.0  # probability of a webcam round trip
    erasing: float = 0.0  # probability of erasing one rectangle

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
        cameras = rng.random(n) < self.camera if self.camera else np.zeros(n, bool)
        erasings = rng.random(n) < self.erasing if self.erasing else np.zeros(n, bool)
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
            if cameras[i]:
                out[i] = camera_round_trip(out[i], rng)
            if erasings[i]:
                erase_rectangle(out[i], rng)
        return out


def camera_round_trip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (H, W, C) uint8 shrunk, JPEG-encoded and scaled back, as ``Augmentation``'s
    ``camera`` describes."""
    height, width, channels = image.shape
    shrink = rng.uniform(1.0, CAMERA_MAX_SHRINK)
    quality = int(rng.integers(CAMERA_JPEG_QUALITY[0], CAMERA_JPEG_QUALITY[1] + 1))
    size = (max(8, round(width / shrink)), max(8, round(height / shrink)))
    small = cv2.resize(np.ascontiguousarray(image), size, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("Could not JPEG-encode a crop for the camera augmentation.")
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    decoded = cv2.imdecode(jpeg, flag)
    return cv2.resize(decoded, (width, height), interpolation=cv2.INTER_LINEAR).reshape(
        height, width, channels
    )


def erase_rectangle(image: np.ndarray, rng: np.random.Generator) -> None:
    """Fill one random rectangle of ``image`` (H, W, C) uint8 with noise, in place."""
    height, width, channels = image.shape
    area = rng.uniform(*ERASING_AREA) * height * width
    aspect = float(np.exp(rng.uniform(np.log(ERASING_ASPECT[0]), np.log(ERASING_ASPECT[1]))))
    h = int(min(height, max(1, round(np.sqrt(area * aspect)))))
    w = int(min(width, max(1, round(np.sqrt(area / aspect)))))
    y = int(rng.integers(0, height - h + 1))
    x = int(rng.integers(0, width - w + 1))
    image[y : y + h, x : x + w] = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
