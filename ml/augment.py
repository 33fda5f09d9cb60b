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
#: The backgrounds a crop's pixels past its source image's edge are filled with, drawn
#: equally often: one flat level, a smooth gradient with blurred noise (a wall, a room), and
#: the pixels of another crop of the batch (hair, skin and clutter at a face's scale).
BACKGROUND_KINDS = ("flat", "gradient", "other crop")
#: Blurred noise of the gradient background has this standard deviation, in uint8 levels ...
BACKGROUND_NOISE = 30.0
#: ... on a grid of this many cells per side, drawn per crop.
BACKGROUND_NOISE_CELLS = (2, 12)


@dataclass(frozen=True)
class Augmentation:
    """Random flip, shift, rotation, scale, brightness and contrast for face crops, and, when
    asked for, new backgrounds past the image's edge, a webcam round trip and random erasing.

    Shifts are fractions of the crop side, rotations in degrees, scale and contrast factors
    around 1, brightness in uint8 levels. Geometric changes are one affine warp per image with
    replicated borders (as ``face_crop`` pads), so faces never get black corners.

    ``camera`` is the probability that a crop goes through what a face in a camera frame goes
    through: shrunk by up to ``CAMERA_MAX_SHRINK``, JPEG-encoded at a quality in
    ``CAMERA_JPEG_QUALITY`` and scaled back. ``erasing`` is the probability that one rectangle
    of ``ERASING_AREA`` of the crop, of aspect ratio in ``ERASING_ASPECT``, is filled with
    noise (random erasing, Zhong et al., AAAI 2020). ``background`` is the probability that the
    pixels of a crop that lay past its source image's edge (``FaceSet.inside``; ``face_crop``
    replicates the edge there) are replaced, before the other changes, by one of
    ``BACKGROUND_KINDS``: a tight face chip cut at a detector's box reaches past its edges,
    where a camera frame shows the room behind the face. The three are off by default; their
    draws come after the others, so switching them on changes nothing else.
    """

    flip: float = 0.5  # probability of a horizontal flip
    shift: float = 0.08
    rotation: float = 10.0
    scale: float = 0.08
    brightness: float = 25.0
    contrast: float = 0.25
    camera: float = 0.0  # probability of a webcam round trip
    erasing: float = 0.0  # probability of erasing one rectangle
    background: float = 0.0  # probability of a new background past the image's edge

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __call__(
        self,
        images: np.ndarray,
        rng: np.random.Generator,
        inside: np.ndarray | None = None,
    ) -> np.ndarray:
        """Augmented copy of uint8 images (N, S, S, C); draws from ``rng`` only.

        ``inside`` (uint8 (N, S, S, 1), ``FaceSet.inside``) says where each image saw its
        source; without it no background is replaced.
        """
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
        backgrounds = np.zeros(n, bool)
        if self.background and inside is not None:
            backgrounds = (rng.random(n) < self.background) & (inside.min(axis=(1, 2, 3)) < 255)
        centre = ((width - 1) / 2.0, (height - 1) / 2.0)
        for i in range(n):
            image = images[i]
            if backgrounds[i]:
                image = new_background(images, i, inside[i], rng)
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


def new_background(
    images: np.ndarray, index: int, inside: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``images[index]`` (of uint8 (N, S, S, C)) with the pixels past its source image's edge
    (``inside`` (S, S, 1), 255 inside) replaced by one of ``BACKGROUND_KINDS``."""
    image = images[index]
    height, width, channels = image.shape
    kind = BACKGROUND_KINDS[int(rng.integers(len(BACKGROUND_KINDS)))]
    if kind == "flat":
        fill = np.full(image.shape, rng.uniform(0, 255), dtype=np.float32)
    elif kind == "gradient":
        cells = int(rng.integers(BACKGROUND_NOISE_CELLS[0], BACKGROUND_NOISE_CELLS[1] + 1))
        noise = rng.normal(0.0, BACKGROUND_NOISE, (cells, cells, channels)).astype(np.float32)
        noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
        xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[np.newaxis, :]
        ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, np.newaxis]
        tilt = rng.uniform(-80.0, 80.0, 2)
        fill = rng.uniform(30.0, 225.0) + tilt[0] * xs + tilt[1] * ys
        fill = fill[..., None] + noise.reshape(height, width, channels)
    else:
        other = images[(index + int(rng.integers(1, max(2, len(images))))) % len(images)]
        fill = other[:, ::-1] if rng.random() < 0.5 else other
        fill = fill.astype(np.float32)
    alpha = inside.astype(np.float32) / 255.0
    mixed = alpha * image.astype(np.float32) + (1.0 - alpha) * fill
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
