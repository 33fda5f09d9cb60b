"""Decoding image bytes, defined once: the site, training and evaluation all read images here.

Every image is decoded to 3-channel BGR uint8 (OpenCV's order), whatever its file's colour
type, so a gray FER2013 JPEG read for training and the same JPEG sent by a browser give the
same pixels.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from ml.errors import InvalidImage

#: Refuse images larger than this many pixels before decoding them (decompression bombs).
DEFAULT_MAX_PIXELS = 4096 * 4096
_JPEG_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) read from a JPEG or PNG header without decoding, or None if unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF_MARKERS and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode JPEG or PNG bytes into a BGR uint8 array of shape (H, W, 3).

    Raises:
        InvalidImage: the bytes are empty, not a decodable image, or larger than
            ``max_pixels`` (checked from the header before decoding where possible).
    """
    if not data:
        raise InvalidImage("Expected JPEG or PNG image bytes, got an empty message.")
    size = image_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise InvalidImage(
            f"Expected an image of at most {max_pixels} pixels, got {size[0]}x{size[1]}."
        )
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InvalidImage(
            f"Expected JPEG or PNG image bytes, got {len(data)} bytes that do not decode "
            f"(starting {data[:8].hex()})."
        )
    if image.shape[0] * image.shape[1] > max_pixels:
        raise InvalidImage(
            f"Expected an image of at most {max_pixels} pixels, "
            f"got {image.shape[1]}x{image.shape[0]}."
        )
    return image


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file the way ``decode_image`` decodes bytes: BGR uint8 (H, W, 3)."""
    return read_image_file(path, max_pixels=max_pixels)[1]


def read_image_file(
    path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[bytes, np.ndarray]:
    """(the file's bytes, its image as ``read_image`` gives it); raises ``InvalidImage``."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InvalidImage(f"Could not read image file {path}: {err.strerror}.") from err
    return data, decode_image(data, max_pixels=max_pixels)
