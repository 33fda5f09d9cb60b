"""Camera-sized frames with a face image pasted into them, as a webcam would show the face.

``ml.live`` composes evaluation faces into such frames and sends them through the live path;
``ml.framing`` composes training images into them to find each face's box as serving finds it.
Both place, fill and encode the frame with the functions here, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import cv2
import numpy as np

#: Size (width, height) of the composed camera frames.
LIVE_FRAME = (640, 480)
#: Side in pixels of the pasted face image, by distance from the camera.
LIVE_SIZES: dict[str, int] = {"near": 260, "middle": 160, "far": 100}
#: JPEG quality of the composed frames: what the page sends.
LIVE_JPEG_QUALITY = 70
#: Width of the soft edge blending the pasted face into the frame, as a fraction of its side.
LIVE_FEATHER = 0.03
#: What the frame shows around the pasted image: a synthetic room ("room", the default) or
#: the image's own edge pixels replicated out to the frame's borders ("edge").
LIVE_BACKGROUNDS: tuple[str, ...] = ("room", "edge")

Placed = tuple[int, int, int, int]  # x, y, w, h of the pasted image in the frame


class _Boxed(Protocol):
    @property
    def box(self) -> Sequence[float]: ...


F = TypeVar("F", bound=_Boxed)


def background(seed: int, size: tuple[int, int] = LIVE_FRAME) -> np.ndarray:
    """A smooth, room-like BGR uint8 background: a colour gradient with blurred noise."""
    width, height = size
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(60, 180, 3).astype(np.float32)
    tilt = rng.uniform(-50, 50, (2, 3)).astype(np.float32)
    image = base + xs[..., None] / width * tilt[0] + ys[..., None] / height * tilt[1]
    noise = rng.normal(0, 25, (height // 16 + 1, width // 16 + 1, 3)).astype(np.float32)
    image += cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(image, 0, 255).astype(np.uint8)


def compose_frame(
    face: np.ndarray,
    side: int,
    seed: int,
    size: tuple[int, int] = LIVE_FRAME,
    *,
    fill: str = "room",
) -> tuple[np.ndarray, Placed]:
    """``face`` (a BGR face image) scaled to ``side`` and pasted into a frame at a place drawn
    from ``seed``, around it a room or its own replicated edge (``fill``, one of
    ``LIVE_BACKGROUNDS``); returns (BGR frame, (x, y, side, side) where the face image went)."""
    if fill not in LIVE_BACKGROUNDS:
        raise ValueError(f"fill must be one of {LIVE_BACKGROUNDS}, got {fill!r}.")
    width, height = size
    rng = np.random.default_rng(seed)
    scaled = cv2.resize(
        face,
        (side, side),
        interpolation=cv2.INTER_CUBIC if side > face.shape[0] else cv2.INTER_AREA,
    )
    if scaled.ndim == 2:
        scaled = cv2.cvtColor(scaled, cv2.COLOR_GRAY2BGR)
    x = int(rng.integers(0, width - side + 1))
    y = int(rng.integers(0, height - side + 1))
    if fill == "edge":
        right, bottom = width - side - x, height - side - y
        frame = cv2.copyMakeBorder(scaled, y, bottom, x, right, cv2.BORDER_REPLICATE)
        return frame, (x, y, side, side)
    frame = background(seed, size)
    feather = max(1, round(LIVE_FEATHER * side))
    mask = np.zeros((side, side), np.float32)
    mask[feather:-feather, feather:-feather] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), feather / 2.0)[..., None]
    region = frame[y : y + side, x : x + side].astype(np.float32)
    frame[y : y + side, x : x + side] = (mask * scaled + (1 - mask) * region).astype(np.uint8)
    return frame, (x, y, side, side)


def face_at(faces: Sequence[F], placed: Placed) -> F | None:
    """The largest of ``faces`` (anything with a ``box`` (x, y, w, h)) whose centre lies inside
    the pasted image at ``placed``, or None."""
    x, y, w, h = placed
    inside = [
        face
        for face in faces
        if x <= face.box[0] + face.box[2] / 2 <= x + w
        and y <= face.box[1] + face.box[3] / 2 <= y + h
    ]
    return max(inside, key=lambda face: face.box[2] * face.box[3], default=None)


def encode_jpeg(frame: np.ndarray, quality: int = LIVE_JPEG_QUALITY) -> bytes:
    """JPEG bytes of a BGR frame, by default at the quality the page sends."""
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"Could not encode a {frame.shape} frame as JPEG.")
    return jpeg.tobytes()
