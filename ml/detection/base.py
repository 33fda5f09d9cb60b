"""The face detector interface and its result type, shared by every backend."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace

import cv2
import numpy as np

Point = tuple[float, float]

#: Default longest side, in pixels, of the copy that detection runs on.
DEFAULT_MAX_SIDE = 320


@dataclass(frozen=True)
class DetectedFace:
    """One face found in an image.

    ``box`` is (x, y, w, h) in integer pixels of the image given to ``detect``; ``score`` is a
    confidence in [0, 1]; ``landmarks`` maps names (at least "left_eye" and "right_eye" when
    the backend finds them) to (x, y) pixels of that image, or is None.
    """

    box: tuple[int, int, int, int]
    score: float
    landmarks: dict[str, Point] | None = None


class FaceDetector(ABC):
    """Finds faces in a BGR image."""

    #: Short backend name for logs and benchmarks.
    name: str = "detector"

    @abstractmethod
    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        """Faces in a uint8 BGR (H, W, 3) or gray (H, W) image, best score first."""


def downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Shrink ``image`` so its longest side is at most ``max_side``; returns (copy, factor).

    ``factor`` (<= 1) maps full-resolution pixels to the copy's: ``small = full * factor``.
    """
    height, width = image.shape[:2]
    longest = max(height, width)
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    factor = max_side / longest
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor


def resize_to(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """``image`` resized so its longest side is ``side``, up or down; returns (copy, factor)."""
    height, width = image.shape[:2]
    longest = max(height, width)
    if side <= 0 or longest == side:
        return image, 1.0
    if longest > side:
        return downscale(image, side)
    factor = side / longest
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), factor


def box_to_full(
    box: tuple[float, float, float, float], factor: float, shape: tuple[int, ...]
) -> tuple[int, int, int, int]:
    """Map an (x, y, w, h) box from a copy scaled by ``factor`` back to full-image pixels.

    The result is clipped to the image (``shape`` = (H, W, ...)) and at least 1 pixel wide.
    """
    height, width = shape[:2]
    x0, y0 = box[0] / factor, box[1] / factor
    x1, y1 = (box[0] + box[2]) / factor, (box[1] + box[3]) / factor
    x0, y0 = max(0, math.floor(x0)), max(0, math.floor(y0))
    x1, y1 = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    return (int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0)))


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x, y, w, h) boxes (0 when either is empty)."""
    width = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    overlap = width * height
    union = a[2] * a[3] + b[2] * b[3] - overlap
    return float(overlap / union) if union > 0 else 0.0


#: Landmarks that trade names when an image is mirrored left to right.
MIRRORED_LANDMARKS = {
    "left_eye": "right_eye",
    "right_eye": "left_eye",
    "mouth_left": "mouth_right",
    "mouth_right": "mouth_left",
}


def mirror_face(face: DetectedFace, width: int) -> DetectedFace:
    """``face`` as found in an image ``width`` pixels wide mirrored left to right, mapped back
    into the image itself (its box and landmarks, whose left and right trade names)."""
    x, y, w, h = face.box
    landmarks = None
    if face.landmarks is not None:
        landmarks = {
            MIRRORED_LANDMARKS.get(name, name): (width - px, py)
            for name, (px, py) in face.landmarks.items()
        }
    return replace(face, box=(width - x - w, y, w, h), landmarks=landmarks)
