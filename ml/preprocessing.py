"""Face preprocessing, defined once and used by training, evaluation and inference.

A face is cut from an image by its detector box: the box is squared around its centre, grown
by ``margin`` on each side, rotated upright when eye landmarks are known, resized to
``input_size`` and converted to the model's colour space. ``Preprocessing`` holds every
parameter and is saved in the exported model's ``metadata.json``, so serving reads back exactly
what training used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h in pixels
Landmarks = Mapping[str, Sequence[float]]  # e.g. {"left_eye": (x, y), "right_eye": (x, y)}


@dataclass(frozen=True)
class Preprocessing:
    """Parameters of face preprocessing; part of every exported model."""

    input_size: int = 48
    color: str = "gray"  # "gray" (1 channel) or "rgb" (3 channels)
    margin: float = 0.1  # fraction of the squared box's side added on each side
    align: bool = True  # rotate so the eyes are level when landmarks are given
    scale: float = 1.0 / 255.0  # model input = uint8 pixel * scale + offset
    offset: float = 0.0
    #: The detector whose boxes framed the training faces (``ml.framing``), so that serving
    #: frames faces the same way; None: fixed boxes per dataset, as before detector framing.
    framing: str | None = None

    def __post_init__(self) -> None:
        if self.input_size < 16:
            raise ValueError(f"input_size must be at least 16 pixels, got {self.input_size}.")
        if self.color not in ("gray", "rgb"):
            raise ValueError(f"color must be 'gray' or 'rgb', got {self.color!r}.")
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(f"margin must be between 0 and 1, got {self.margin}.")

    @property
    def channels(self) -> int:
        """Number of colour channels the model takes: 1 for gray, 3 for rgb."""
        return 1 if self.color == "gray" else 3

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one model input."""
        return (self.input_size, self.input_size, self.channels)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)


def full_image_box(height: int, width: int, params: Preprocessing) -> Box:
    """The face box whose margin-grown crop is exactly the whole (already cropped) image.

    Used for datasets whose images are already face crops (FER2013), so that they pass through
    ``face_crop`` like a detector box at inference and the margin means the same thing.
    """
    grow = 1.0 + 2.0 * params.margin
    w, h = width / grow, height / grow
    return ((width - w) / 2.0, (height - h) / 2.0, w, h)


def eye_angle(landmarks: Landmarks | None) -> float:
    """Angle in degrees that levels the eyes, or 0 when either eye is missing."""
    if not landmarks or "left_eye" not in landmarks or "right_eye" not in landmarks:
        return 0.0
    (lx, ly), (rx, ry) = landmarks["left_eye"][:2], landmarks["right_eye"][:2]
    # Image left/right: the eye with the smaller x is on the image's left.
    (ax, ay), (bx, by) = sorted([(float(lx), float(ly)), (float(rx), float(ry))])
    if bx - ax < 1e-6:
        return 0.0
    return math.degrees(math.atan2(by - ay, bx - ax))


def face_crop(
    image: np.ndarray,
    box: Box,
    params: Preprocessing,
    landmarks: Landmarks | None = None,
) -> np.ndarray:
    """Cut one face out of ``image`` as the model sees it, before normalisation.

    Args:
        image: uint8 array, (H, W) gray or (H, W, 3) BGR as OpenCV decodes it.
        box: (x, y, w, h) of the face in ``image`` pixels; may reach past the edges.
        params: preprocessing parameters.
        landmarks: optional eye positions in ``image`` pixels, used when ``params.align``.

    Returns:
        uint8 array of shape ``params.input_shape``; RGB channel order when colour.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if params.color == "gray":
        source = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    else:
        source = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB)

    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * params.margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    angle = eye_angle(landmarks) if params.align else 0.0
    size = params.input_size

    # One affine map from the (rotated) square around the face to the output square. Scaling
    # down by more than 2x first goes through INTER_AREA so small inputs are not aliased.
    shrink = side / size
    if shrink > 2.0:
        factor = shrink / 2.0
        source = cv2.resize(
            source,
            (max(1, round(source.shape[1] / factor)), max(1, round(source.shape[0] / factor))),
            interpolation=cv2.INTER_AREA,
        )
        sx, sy = source.shape[1] / image.shape[1], source.shape[0] / image.shape[0]
        cx, cy, side = cx * sx, cy * sy, side * (sx + sy) / 2.0

    rotation = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    rotation[0, 2] += size / 2.0 - cx
    rotation[1, 2] += size / 2.0 - cy
    crop = cv2.warpAffine(
        source,
        rotation,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if crop.ndim == 2:
        crop = crop[:, :, np.newaxis]
    return np.ascontiguousarray(crop, dtype=np.uint8)


def to_model_input(crops: np.ndarray, params: Preprocessing) -> np.ndarray:
    """Normalise uint8 crops (N, S, S, C) or (S, S, C) into float32 model input."""
    return crops.astype(np.float32) * np.float32(params.scale) + np.float32(params.offset)


def prepare_faces(
    image: np.ndarray,
    boxes: Sequence[Box],
    params: Preprocessing,
    landmarks: Sequence[Landmarks | None] | None = None,
) -> np.ndarray:
    """Crop and normalise every face of one image: float32 (N, S, S, C), one row per box."""
    marks = landmarks if landmarks is not None else [None] * len(boxes)
    crops = [face_crop(image, box, params, mark) for box, mark in zip(boxes, marks, strict=True)]
    if not crops:
        return np.zeros((0, *params.input_shape), dtype=np.float32)
    return to_model_input(np.stack(crops), params)
