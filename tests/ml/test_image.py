"""Decoding frame bytes: what decodes, and what is refused before it reaches the decoder."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml import DEFAULT_MAX_PIXELS
from ml import image as ml_image
from ml.errors import InvalidImage
from ml.image import decode_image, image_size
from tests.probe import python_probe

#: Junk that libjpeg skips with "Corrupt JPEG data: 2 extraneous bytes before marker ...".
JUNK = b"\x12\x34"
#: Side of the decompression bomb: 11000x11000 BGR is 363 MB once decoded.
BOMB_SIDE = 11000
#: Side of a JPEG over DEFAULT_MAX_PIXELS but well under OpenCV's own default cap (2**30).
OVER_CAP_SIDE = 5000


def encode(image: np.ndarray, ext: str = ".jpg", *params: int) -> bytes:
    """``image`` encoded by OpenCV, as a browser or a dataset would hold it."""
    ok, encoded = cv2.imencode(ext, image, list(params))
    assert ok
    return encoded.tobytes()


def first_segment_end(jpeg: bytes) -> int:
    """Offset just after the JPEG's first segment (OpenCV writes JFIF APP0 first)."""
    return 4 + int.from_bytes(jpeg[4:6], "big")


def scan_start(jpeg: bytes) -> int:
    """Offset of the first entropy-coded byte, just after the first SOS segment."""
    sos = jpeg.index(b"\xff\xda")
    return sos + 2 + int.from_bytes(jpeg[sos + 2 : sos + 4], "big")


def insert(data: bytes, offset: int, extra: bytes) -> bytes:
    return data[:offset] + extra + data[offset:]


def forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any call of cv2.imdecode from ml.image fail the test."""

    def imdecode(*args, **kwargs):
        pytest.fail("cv2.imdecode was called on bytes that should be refused before decoding")

    monkeypatch.setattr(ml_image.cv2, "imdecode", imdecode)


@pytest.fixture(scope="module")
def bomb_jpeg() -> bytes:
    """A real 11000x11000 gray JPEG: a flat image, so about 1.4 MB of bytes."""
    return encode(
        np.full((BOMB_SIDE, BOMB_SIDE), 128, np.uint8), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 50
    )


@pytest.fixture(scope="module")
def hidden_bomb_jpeg(bomb_jpeg: bytes) -> bytes:
    """The bomb with junk after its first segment, which hid its size from the old header check."""
    return insert(bomb_jpeg, first_segment_end(bomb_jpeg), JUNK)


def test_jpeg_and_png_frames_decode_to_bgr_of_their_size(astronaut_bgr, astronaut_jpeg):
    png = encode(astronaut_bgr, ".png")

    assert decode_image(astronaut_jpeg).shape == (512, 512, 3)
    assert np.array_equal(decode_image(png), astronaut_bgr)
    assert image_size(astronaut_jpeg) == image_size(png) == (512, 512)


def test_jpeg_hiding_its_11000_pixel_size_is_refused_without_decoding(
    hidden_bomb_jpeg, monkeypatch
):
    forbid_decoding(monkeypatch)

    with pytest.raises(InvalidImage, match="2 extraneous bytes before marker 0xdb at offset 20"):
        decode_image(hidden_bomb_jpeg)
    assert image_size(hidden_bomb_jpeg) is None


def test_jpeg_whose_header_gives_a_size_over_the_limit_is_refused_without_decoding(
    bomb_jpeg, monkeypatch
):
    forbid_decoding(monkeypatch)

    assert image_size(bomb_jpeg) == (BOMB_SIDE, BOMB_SIDE)
    with pytest.raises(InvalidImage, match=f"at most {DEFAULT_MAX_PIXELS} pixels, got 11000x11000"):
        decode_image(bomb_jpeg)


@pytest.mark.parametrize("cut", [2, 1, 100, 1000], ids=["eoi", "half-eoi", "scan", "more"])
def test_truncated_jpeg_is_refused_without_decoding(astronaut_jpeg, monkeypatch, cut):
    forbid_decoding(monkeypatch)

    with pytest.raises(InvalidImage, match="truncated"):
        decode_image(astronaut_jpeg[:-cut])


def test_jpeg_cut_before_its_first_scan_is_refused_without_decoding(astronaut_jpeg, monkeypatch):
    forbid_decoding(monkeypatch)

    with pytest.raises(InvalidImage, match="truncated"):
        decode_image(astronaut_jpeg[: scan_start(astronaut_jpeg) - 10])


def test_junk_after_a_segment_is_refused_without_decoding(astronaut_jpeg, monkeypatch):
    forbid_decoding(monkeypatch)
    sos = astronaut_jpeg.index(b"\xff\xda")

    with pytest.raises(InvalidImage, match="3 extraneous bytes before marker 0xda"):
        decode_image(insert(astronaut_jpeg, sos, b"abc"))


@pytest.mark.parametrize("code", [0x99, 0xD0], ids=["reserved", "rst-without-restart-interval"])
def test_stray_marker_inside_the_scan_is_refused_without_decoding(
    astronaut_jpeg, monkeypatch, code
):
    forbid_decoding(monkeypatch)
    junk = insert(astronaut_jpeg, scan_start(astronaut_jpeg) + 100, bytes([0xFF, code]))

    with pytest.raises(InvalidImage, match=f"found marker 0x{code:02x}"):
        decode_image(junk)


def test_restart_markers_out_of_order_are_refused_without_decoding(astronaut_bgr, monkeypatch):
    jpeg = encode(astronaut_bgr, ".jpg", cv2.IMWRITE_JPEG_RST_INTERVAL, 4)
    rst1 = jpeg.index(b"\xff\xd1")
    forbid_decoding(monkeypatch)

    with pytest.raises(InvalidImage, match=r"Expected restart marker RST1 .* found RST5"):
        decode_image(jpeg[:rst1] + b"\xff\xd5" + jpeg[rst1 + 2 :])


def test_jpeg_without_a_frame_header_before_its_scan_is_refused(astronaut_jpeg, monkeypatch):
    sof = astronaut_jpeg.index(b"\xff\xc0")
    without_sof = astronaut_jpeg[:sof] + b"\xff\xfe" + astronaut_jpeg[sof + 2 :]  # SOF -> COM
    forbid_decoding(monkeypatch)

    with pytest.raises(InvalidImage, match="SOF gives its size before the first scan"):
        decode_image(without_sof)


def test_jpeg_of_thousands_of_tiny_segments_is_refused_without_decoding(
    astronaut_jpeg, monkeypatch
):
    comments = b"\xff\xfe\x00\x02" * 100_000  # 400 KB of empty COM segments
    forbid_decoding(monkeypatch)

    with pytest.raises(InvalidImage, match="at most 1000 segments"):
        decode_image(astronaut_jpeg[:2] + comments + astronaut_jpeg[2:])


def test_formats_other_than_jpeg_and_png_are_refused_without_decoding(astronaut_bgr, monkeypatch):
    bmp = encode(astronaut_bgr, ".bmp")
    forbid_decoding(monkeypatch)

    with pytest.raises(
        InvalidImage, match=r"Expected JPEG or PNG image bytes, got .* starting 424d"
    ):
        decode_image(bmp)


def test_bytes_after_eoi_are_accepted_and_ignored(astronaut_jpeg):
    padded = astronaut_jpeg + b"\x00" * 64 + b"trailing encoder data"

    assert np.array_equal(decode_image(padded), decode_image(astronaut_jpeg))


def test_fill_bytes_before_a_marker_are_accepted(astronaut_jpeg):
    sos = astronaut_jpeg.index(b"\xff\xda")
    filled = insert(astronaut_jpeg, sos, b"\xff\xff\xff")

    assert np.array_equal(decode_image(filled), decode_image(astronaut_jpeg))


@pytest.mark.parametrize(
    "params",
    [
        (cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        (cv2.IMWRITE_JPEG_RST_INTERVAL, 1),
        (cv2.IMWRITE_JPEG_OPTIMIZE, 1),
        (cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 3),
        (cv2.IMWRITE_JPEG_QUALITY, 100, cv2.IMWRITE_JPEG_SAMPLING_FACTOR, 0x111111),
    ],
    ids=["progressive", "restart-every-mcu", "optimized", "progressive-restarts", "q100-444"],
)
def test_jpeg_encoding_variants_are_accepted_and_decode_without_warnings(
    astronaut_bgr, capfd, params
):
    jpeg = encode(astronaut_bgr, ".jpg", *params)
    expected = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert capfd.readouterr().err == ""

    assert np.array_equal(decode_image(jpeg), expected)


def test_restart_markers_cycling_through_all_eight_are_accepted(astronaut_bgr):
    jpeg = encode(astronaut_bgr, ".jpg", cv2.IMWRITE_JPEG_RST_INTERVAL, 1)

    assert jpeg.count(b"\xff\xd7") > 1  # RST7 wrapped back to RST0 at least once
    assert decode_image(jpeg).shape == (512, 512, 3)


def test_grayscale_jpeg_is_accepted_and_decoded_to_three_channels(astronaut_bgr):
    gray = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)

    image = decode_image(encode(gray, ".jpg"))

    assert image.shape == (512, 512, 3)
    assert np.array_equal(image[..., 0], image[..., 2])


def test_refusing_a_corrupt_jpeg_writes_nothing_to_stderr(astronaut_jpeg, capfd):
    junk = insert(astronaut_jpeg, first_segment_end(astronaut_jpeg), JUNK)
    cv2.imdecode(np.frombuffer(junk, np.uint8), cv2.IMREAD_COLOR)
    assert "Corrupt JPEG data" in capfd.readouterr().err  # what libjpeg itself would write

    with pytest.raises(InvalidImage):
        decode_image(junk)
    with pytest.raises(InvalidImage):
        decode_image(astronaut_jpeg[:-100])

    assert capfd.readouterr() == ("", "")


@pytest.fixture(scope="module")
def over_cap_jpeg(tmp_path_factory) -> Path:
    """A real 5000x5000 JPEG file: over DEFAULT_MAX_PIXELS, under OpenCV's default cap."""
    path = tmp_path_factory.mktemp("over-cap") / "flat.jpg"
    path.write_bytes(encode(np.full((OVER_CAP_SIDE, OVER_CAP_SIDE), 128, np.uint8)))
    return path


#: Imports ml (or not), then decodes the file in argv[1] with cv2.imdecode directly, bypassing
#: ml.image's header check, and prints what came back.
DECODE_DIRECTLY = """
import sys
if sys.argv[2] == "ml":
    import ml
import cv2, numpy as np
data = np.fromfile(sys.argv[1], np.uint8)
try:
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
except cv2.error:
    print("refused")
else:
    print("refused" if image is None else f"decoded {image.shape[1]}x{image.shape[0]}")
if sys.argv[2] == "ml":
    from ml.errors import InvalidImage
    from ml.image import decode_image
    try:
        decode_image(data.tobytes(), max_pixels=10**9)
    except InvalidImage:
        print("decode_image raised InvalidImage")
"""


@pytest.mark.parametrize(
    ("imports", "variable", "expected"),
    [
        ("ml", None, ["refused", "decode_image raised InvalidImage"]),
        ("cv2-only", None, ["decoded 5000x5000"]),
        ("ml", str(OVER_CAP_SIDE**2), ["decoded 5000x5000"]),
    ],
    ids=["ml-sets-the-cap", "cv2-alone-has-no-cap", "operator-override-wins"],
)
def test_importing_ml_first_caps_the_pixels_opencv_itself_decodes(
    over_cap_jpeg, imports, variable, expected
):
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_IO_MAX_IMAGE_PIXELS"}
    if variable is not None:
        env["OPENCV_IO_MAX_IMAGE_PIXELS"] = variable

    out = python_probe(DECODE_DIRECTLY, env=env, args=(str(over_cap_jpeg), imports))

    assert out.split("\n")[:-1] == expected
