"""Decoding image bytes, defined once: the site, training and evaluation all read images here.

Every image is decoded to 3-channel BGR uint8 (OpenCV's order), whatever its file's colour
type, so a gray FER2013 JPEG read for training and the same JPEG sent by a browser give the
same pixels.

Bytes are checked before they reach the decoder: a PNG must give its size in IHDR, and a JPEG
must be well formed from SOI to EOI (segments chained, a size in SOF before the first scan, the
scans followed through to the next marker). What fails the check is refused without decoding,
so a JPEG that hides its size cannot be decoded to a huge image, and libjpeg gets no chance to
write its "Corrupt JPEG data" warnings to the process's stderr. Damage inside the compressed
data itself (a bad Huffman code) only shows when decoding: libjpeg then writes one such line.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import cv2
import numpy as np

from ml import DEFAULT_MAX_PIXELS
from ml.errors import InvalidImage

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Signature (8), IHDR length (4), b"IHDR" (4), then width and height (4 each).
_PNG_SIZE_END = 24
_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = 0xD9
_JPEG_SOS = 0xDA
_JPEG_DRI = 0xDD
_JPEG_RST0 = 0xD0
#: Restart markers inside a scan go RST0, RST1, ... RST7, then RST0 again.
_JPEG_RST_COUNT = 8
#: Start-of-frame markers (baseline, progressive, lossless, hierarchical, arithmetic).
_JPEG_SOF = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
#: Markers followed by a length that may come between SOI and EOI: SOFn, DHT, DAC, SOS, DQT,
#: DRI, APP0-15 and COM. Anything else there (DNL, JPGn, RSTn, reserved codes) is refused.
_JPEG_SEGMENTS = _JPEG_SOF | {0xC4, 0xCC, _JPEG_SOS, 0xDB, _JPEG_DRI, 0xFE} | set(range(0xE0, 0xF0))
#: Far more segments than any encoder writes (a progressive JPEG has some 30); the cap keeps a
#: hostile frame of tiny segments from costing more to walk than to decode.
_JPEG_MAX_SEGMENTS = 1000
#: SOF: length (2), precision (1), height (2), width (2), component count (1).
_JPEG_SOF_MIN_LENGTH = 8
#: A marker: one 0xFF, optional 0xFF fill bytes, then the marker code.
_JPEG_MARKER_PREFIX = re.compile(rb"\xff+")
#: What ends a scan: a 0xFF followed by neither 0x00 (a stuffed 0xFF data byte) nor another
#: 0xFF (a fill byte before the marker); with a restart interval, nor RST0-7 either.
_JPEG_SCAN_END = re.compile(rb"\xff(?=[^\x00\xff])")
_JPEG_RESTART_SCAN_END = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a well-formed JPEG's SOF, without decoding.

    None when the bytes are neither, or a JPEG whose structure ``checked_image_size`` refuses
    (its header size cannot be trusted then).
    """
    try:
        return checked_image_size(data)
    except InvalidImage:
        return None


def checked_image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of PNG or JPEG bytes, read from the header and checked, without decoding.

    Raises:
        InvalidImage: not a PNG with an IHDR nor a JPEG that is well formed from SOI to EOI
            (bytes after EOI are allowed); the message says what was found where.
    """
    if data[:8] == _PNG_SIGNATURE and len(data) >= _PNG_SIZE_END and data[12:16] == b"IHDR":
        width, height = struct.unpack_from(">II", data, 16)
        return width, height
    if data[:2] == _JPEG_SOI:
        return _jpeg_size(data)
    raise InvalidImage(
        f"Expected JPEG or PNG image bytes, got {len(data)} bytes starting {data[:8].hex()}."
    )


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk a JPEG's segments and scans from SOI to EOI; (width, height) from its SOF."""
    size = None
    scanned = restarts = False
    pos = len(_JPEG_SOI)
    for _ in range(_JPEG_MAX_SEGMENTS):
        marker, at, pos = _jpeg_marker(data, pos)
        if marker == _JPEG_EOI:
            break
        if marker not in _JPEG_SEGMENTS:
            raise InvalidImage(
                f"Expected a JPEG segment marker, found marker 0x{marker:02x} at offset {at}."
            )
        length = int.from_bytes(data[pos : pos + 2], "big")
        end = pos + length
        if length < 2 or end > len(data):
            raise InvalidImage(
                f"Expected a JPEG segment that fits in the data, found marker 0x{marker:02x} "
                f"at offset {at} with length {length} in {len(data)} bytes (truncated?)."
            )
        if marker in _JPEG_SOF:
            if size is not None:
                raise InvalidImage(f"Expected one SOF in a JPEG, found a second at offset {at}.")
            size = _jpeg_sof_size(data, at, pos, length)
        elif marker == _JPEG_DRI:
            restarts = int.from_bytes(data[pos + 2 : end], "big") > 0  # 0 turns restarts off
        elif marker == _JPEG_SOS:
            if size is None:
                raise InvalidImage(
                    f"Expected a JPEG whose SOF gives its size before the first scan, "
                    f"found SOS at offset {at} without one."
                )
            end = _jpeg_scan_end(data, end, restarts=restarts)
            scanned = True
        pos = end
    else:
        raise InvalidImage(
            f"Expected a JPEG of at most {_JPEG_MAX_SEGMENTS} segments, found more "
            f"before offset {pos}."
        )
    if size is None or not scanned:
        raise InvalidImage(f"Expected a JPEG with an SOF and a scan, found EOI at offset {at}.")
    return size


def _jpeg_sof_size(data: bytes, at: int, pos: int, length: int) -> tuple[int, int]:
    """(width, height) from the SOF marker at ``at`` whose length field is at ``pos``."""
    if length < _JPEG_SOF_MIN_LENGTH:
        raise InvalidImage(
            f"Expected a JPEG SOF of at least {_JPEG_SOF_MIN_LENGTH} bytes, "
            f"found {length} at offset {at}."
        )
    height, width = struct.unpack_from(">HH", data, pos + 3)
    if not (width and height):
        raise InvalidImage(
            f"Expected a JPEG SOF giving its size, found {width}x{height} at offset {at}."
        )
    return width, height


def _jpeg_marker(data: bytes, pos: int) -> tuple[int, int, int]:
    """(marker code, offset of its 0xFF, offset after it) for the marker that must be at ``pos``.

    Fill bytes (extra 0xFF) before a marker are legal; any other byte there is not.
    """
    prefix = _JPEG_MARKER_PREFIX.match(data, pos)
    if prefix is None:
        found = data.find(b"\xff", pos)
        if found < 0:
            raise InvalidImage(
                f"Expected a JPEG marker at offset {pos}, found {len(data) - pos} bytes "
                f"and no marker up to the end (truncated, no EOI)."
            )
        marker = _jpeg_marker(data, found)[0]
        raise InvalidImage(
            f"Expected a JPEG whose segments follow each other, found {found - pos} "
            f"extraneous bytes before marker 0x{marker:02x} at offset {pos}."
        )
    code = prefix.end()
    if code >= len(data):
        raise InvalidImage(
            f"Expected a JPEG that ends with an EOI marker, found the data ends at offset "
            f"{len(data)} (truncated)."
        )
    return data[code], code - 1, code + 1


def _jpeg_scan_end(data: bytes, pos: int, *, restarts: bool) -> int:
    """Offset of the marker that ends the entropy-coded data starting at ``pos``.

    Inside the data a 0xFF is followed by 0x00 (stuffing) or, when a DRI set a restart
    interval, by the next restart marker, RST0-7 in turn; any other marker ends the scan. The
    search stays in the regular expression engine, so a hostile frame of nothing but markers
    costs milliseconds, not a Python loop per byte.
    """
    marker = (_JPEG_RESTART_SCAN_END if restarts else _JPEG_SCAN_END).search(data, pos)
    if marker is None:
        raise InvalidImage(
            f"Expected a JPEG scan that ends with a marker, found the data ends at offset "
            f"{len(data)} (truncated, no EOI)."
        )
    if restarts:
        scan = np.frombuffer(data, np.uint8, count=marker.start() - pos, offset=pos)
        codes = scan[1:][scan[:-1] == 0xFF]
        found = codes[(codes >= _JPEG_RST0) & (codes < _JPEG_RST0 + _JPEG_RST_COUNT)] - _JPEG_RST0
        wrong = np.flatnonzero(found != np.arange(found.size) % _JPEG_RST_COUNT)
        if wrong.size:
            index = int(wrong[0])
            raise InvalidImage(
                f"Expected restart marker RST{index % _JPEG_RST_COUNT} in the JPEG scan at "
                f"offset {pos}, found RST{found[index]} as restart {index + 1}."
            )
    return marker.start()


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode JPEG or PNG bytes into a BGR uint8 array of shape (H, W, 3).

    Raises:
        InvalidImage: the bytes are empty, not a PNG or a well-formed JPEG whose size the
            header gives (see ``checked_image_size``; refused before decoding), larger than
            ``max_pixels`` (refused before decoding), or do not decode.
    """
    if not data:
        raise InvalidImage("Expected JPEG or PNG image bytes, got an empty message.")
    width, height = checked_image_size(data)
    if width * height > max_pixels:
        raise InvalidImage(
            f"Expected an image of at most {max_pixels} pixels, got {width}x{height}."
        )
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as err:  # e.g. over OPENCV_IO_MAX_IMAGE_PIXELS, set in ml/__init__.py
        raise InvalidImage(
            f"Expected an image OpenCV decodes within its own limits "
            f"(OPENCV_IO_MAX_IMAGE_PIXELS), got {width}x{height}, which it refused."
        ) from err
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


def read_image_file(
    path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[bytes, np.ndarray]:
    """(the file's bytes, its image as ``decode_image`` decodes them); raises ``InvalidImage``."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise InvalidImage(f"Could not read image file {path}: {err.strerror}.") from err
    return data, decode_image(data, max_pixels=max_pixels)
