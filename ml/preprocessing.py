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

#: A shrunk face region reaches this many shrunk pixels past the face's rotated square: the
#: bilinear taps of the final warp, and one pixel of slack.
SHRINK_MARGIN_PIXELS = 2
#: A shrunk region ends at cells of the whole resize's grid whose edges lie on source pixel
#: edges, to within this many pixels (float rounding), so its INTER_AREA windows are the same.
GRID_TOLERANCE_PIXELS = 1e-6
#: Where the framing detector may look for a training face (``ml.framing``): in the image
#: padded with grey, or in a camera-sized frame, as served.
FRAMING_CONTEXTS = ("padded", "camera")


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
    #: Where that detector looked for each training face, one of ``FRAMING_CONTEXTS``.
    framing_context: str = "padded"

    def __post_init__(self) -> None:
        if self.input_size < 16:
            raise ValueError(f"input_size must be at least 16 pixels, got {self.input_size}.")
        if self.color not in ("gray", "rgb"):
            raise ValueError(f"color must be 'gray' or 'rgb', got {self.color!r}.")
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(f"margin must be between 0 and 1, got {self.margin}.")
        if self.framing_context not in FRAMING_CONTEXTS:
            names = " or ".join(repr(name) for name in FRAMING_CONTEXTS)
            raise ValueError(f"framing_context must be {names}, got {self.framing_context!r}.")

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


def to_model_colour(image: np.ndarray, params: Preprocessing) -> np.ndarray:
    """``image`` in the model's colour space, once for all the faces cut from it.

    Args:
        image: uint8 array, (H, W) or (H, W, 1) gray, or (H, W, 3) BGR as OpenCV decodes it.

    Returns:
        uint8 (H, W) gray or (H, W, 3) RGB, as ``params.color`` asks; ``image`` itself when it
        is already gray and gray is asked for.
    """
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if params.color == "gray":
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB)


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
    return _cut(to_model_colour(image, params), box, params, landmarks)


def inside_source(
    shape: tuple[int, ...],
    box: Box,
    params: Preprocessing,
    landmarks: Landmarks | None = None,
) -> np.ndarray:
    """Where ``face_crop`` of an image of ``shape`` saw the image itself: uint8 (S, S, 1).

    255 where the crop's pixel comes from inside the image, 0 where it lies past the image's
    edge (``face_crop`` replicates the edge there), and in between along the edge. A tight face
    chip cropped at a detector's box reaches past its edges; a camera frame has background
    there, so training fills those pixels with backgrounds (``ml.augment``).
    """
    full = np.full(shape[:2], 255, dtype=np.uint8)
    return _cut(full, box, params, landmarks, border=cv2.BORDER_CONSTANT)


def _cut(
    source: np.ndarray,
    box: Box,
    params: Preprocessing,
    landmarks: Landmarks | None,
    border: int = cv2.BORDER_REPLICATE,
) -> np.ndarray:
    """``face_crop`` of an image already in the model's colour space (``to_model_colour``);
    ``border`` is how pixels past its edges are filled (constant ones are 0)."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1.0 + 2.0 * params.margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    angle = eye_angle(landmarks) if params.align else 0.0
    size = params.input_size

    # One affine map from the (rotated) square around the face to the output square. Scaling
    # down by more than 2x first goes through INTER_AREA so small inputs are not aliased.
    shrink = side / size
    if shrink > 2.0:
        turn = math.radians(angle)
        reach = side / 2.0 * (abs(math.cos(turn)) + abs(math.sin(turn)))
        source, (cx, cy), scale = _shrunk_around(source, (cx, cy), reach, shrink / 2.0)
        side *= scale

    rotation = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    rotation[0, 2] += size / 2.0 - cx
    rotation[1, 2] += size / 2.0 - cy
    crop = cv2.warpAffine(
        source,
        rotation,
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=border,
        borderValue=0,
    )
    if crop.ndim == 2:
        crop = crop[:, :, np.newaxis]
    return np.ascontiguousarray(crop, dtype=np.uint8)


def _shrunk_around(
    source: np.ndarray, centre: tuple[float, float], reach: float, factor: float
) -> tuple[np.ndarray, tuple[float, float], float]:
    """The part of ``source`` within ``reach`` pixels of ``centre``, shrunk ``factor`` times.

    The pixels are those of the whole image resized with INTER_AREA to (W / factor, H / factor),
    to within rounding, but only the region around the face is resized: a face costs about its
    own size, not the frame's. The region's edges are moved out to where the
    whole resize's pixel grid meets a source pixel edge (``_grid_window``), so its averaging
    windows are the whole resize's.

    Returns:
        (the shrunk region, ``centre`` in its pixels, shrunk pixels per source pixel).
    """
    height, width = source.shape[:2]
    cols, rows = max(1, round(width / factor)), max(1, round(height / factor))
    step_x, step_y = width / cols, height / rows  # source pixels per shrunk pixel
    margin = reach + SHRINK_MARGIN_PIXELS * max(step_x, step_y)
    c0, c1, x0, x1 = _grid_window(centre[0] - margin, centre[0] + margin, step_x, cols)
    r0, r1, y0, y1 = _grid_window(centre[1] - margin, centre[1] + margin, step_y, rows)
    region = cv2.resize(source[y0:y1, x0:x1], (c1 - c0, r1 - r0), interpolation=cv2.INTER_AREA)
    scale_x, scale_y = cols / width, rows / height
    moved = (centre[0] * scale_x - c0, centre[1] * scale_y - r0)
    return region, moved, (scale_x + scale_y) / 2.0


def _grid_window(low: float, high: float, step: float, cells: int) -> tuple[int, int, int, int]:
    """Cells [c0, c1) of a grid of ``cells`` cells, each ``step`` source pixels wide, that cover
    [low, high), and the source pixels [p0, p1) they span.

    Each end moves out to the nearest cell edge within GRID_TOLERANCE_PIXELS of a source pixel
    edge; the grid's own ends always are one, so the window is at most the whole grid.
    """
    first = min(cells - 1, max(0, math.floor(low / step)))
    last = max(first + 1, min(cells, math.ceil(high / step)))
    c0 = _nearest_on_edge(np.arange(first, -1, -1), step)
    c1 = _nearest_on_edge(np.arange(last, cells + 1), step)
    return c0, c1, round(c0 * step), round(c1 * step)


def _nearest_on_edge(candidates: np.ndarray, step: float) -> int:
    """The first of ``candidates`` (cell edges, nearest first) on a source pixel edge."""
    at = candidates * step
    on_edge = np.abs(at - np.round(at)) <= GRID_TOLERANCE_PIXELS
    return int(candidates[np.argmax(on_edge)] if on_edge.any() else candidates[-1])


def to_model_input(crops: np.ndarray, params: Preprocessing) -> np.ndarray:
    """Normalise uint8 crops (N, S, S, C) or (S, S, C) into float32 model input."""
    return crops.astype(np.float32) * np.float32(params.scale) + np.float32(params.offset)


def prepare_faces(
    image: np.ndarray,
    boxes: Sequence[Box],
    params: Preprocessing,
    landmarks: Sequence[Landmarks | None] | None = None,
) -> np.ndarray:
    """Crop and normalise every face of one image: float32 (N, S, S, C), one row per box.

    Row i is ``to_model_input(face_crop(image, boxes[i], ...))``; the image is converted to the
    model's colour space once, however many faces it has.
    """
    source = to_model_colour(image, params)
    marks = landmarks if landmarks is not None else [None] * len(boxes)
    crops = [_cut(source, box, params, mark) for box, mark in zip(boxes, marks, strict=True)]
    if not crops:
        return np.zeros((0, *params.input_shape), dtype=np.float32)
    return to_model_input(np.stack(crops), params)
