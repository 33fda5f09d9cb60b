"""FER2013 loader: the Kaggle folder layout and the original ``fer2013.csv`` (plain or .gz)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import logging
from collections.abc import Collection, Iterator, Sequence
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from ml.datasets import common
from ml.datasets.faceset import NO_LABEL, FaceSet
from ml.errors import DatasetError, InvalidImage
from ml.framing import DetectorFramer, FixedFramer, framer_for
from ml.image import read_image_file
from ml.labels import FER_CLASSES, FER_TO_MOOD, mood_index
from ml.preprocessing import Preprocessing, full_image_box

logger = logging.getLogger(__name__)

PARTS: tuple[str, ...] = ("train", "test")
#: Original FER2013 splits, as named by the csv's ``Usage`` column and Kaggle file name prefixes.
FER_SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
#: Which part (Kaggle folder) each original split belongs to.
SPLIT_PART: dict[str, str] = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}
CSV_NAMES: tuple[str, ...] = ("fer2013.csv", "fer2013.csv.gz")
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")
#: By default only the classes that map to a mood are loaded.
MOOD_CLASSES: tuple[str, ...] = tuple(name for name in FER_CLASSES if name in FER_TO_MOOD)
#: FER2013 images that are no photograph of a human face (the "image deleted" placeholder,
#: text, symbols, drawings), reviewed by eye: one line each, the SHA-256 of the file's bytes
#: in the Kaggle folder layout, its path there and what it shows. Byte-identical copies share
#: the hash and are skipped with it.
NOT_FACES_FILE = Path(__file__).with_name("fer2013_not_faces.tsv")


def load_fer(
    path: str | Path,
    params: Preprocessing,
    *,
    part: str = "train",
    classes: Sequence[str] = MOOD_CLASSES,
    heldout_fraction: float = common.DEFAULT_HELDOUT_FRACTION,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
    not_faces: Collection[str] | None = None,
) -> FaceSet:
    """Load one part of FER2013 as face crops.

    Args:
        path: the Kaggle folder (with ``train/`` and ``test/``), a ``fer2013.csv(.gz)`` file, or
            a folder holding one.
        params: preprocessing; every image goes through ``face_crop`` with the box that makes
            the whole (already cropped) image the margin-grown crop.
        part: "train" (split Training) or "test" (PublicTest and PrivateTest).
        classes: FER2013 class names to load; those without a mood get emotion -1.
        heldout_fraction: the Training images whose bytes hash below this fraction
            (``common.hash_fraction``) get split "heldout": never trained or selected on.
        limit: load at most this many images, evenly spread over the sorted list.
        cache_dir: folder for the decoded-crop cache, or None for no cache.
        show_progress: show a tqdm bar on stderr while decoding.
        not_faces: SHA-256 hex digests of image files to skip as no face; None: the reviewed
            list ``NOT_FACES_FILE`` (Kaggle folder layout only: a csv row has no file bytes).

    Returns:
        A ``FaceSet`` with emotion labels (mood, and ``expression``: the FER2013 class; age,
        gender, race are -1) and ``split`` set to the
        original split name, or "heldout". Unreadable and blank images, and listed ones that show
        no face, are skipped and counted.
    """
    common.check_fractions(heldout_fraction=heldout_fraction)
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}.")
    wanted = tuple(name.strip().lower() for name in classes)
    unknown = sorted(set(wanted) - set(FER_CLASSES))
    if unknown:
        raise ValueError(f"Expected FER2013 class names from {FER_CLASSES}, got {unknown}.")
    source = Path(path)
    csv_file = find_csv(source)
    if csv_file is not None:
        return _load_csv(
            csv_file, params, part, wanted, heldout_fraction, limit, cache_dir, show_progress
        )
    if (source / part).is_dir():
        return _load_folder(
            source / part,
            params,
            part,
            wanted,
            heldout_fraction,
            limit,
            cache_dir,
            show_progress,
            read_not_faces() if not_faces is None else frozenset(not_faces),
        )
    raise DatasetError(
        f"Expected a FER2013 folder with {part}/<class>/*.jpg or a fer2013.csv(.gz), got {source}."
    )


@cache
def read_not_faces(path: Path = NOT_FACES_FILE) -> frozenset[str]:
    """The SHA-256 digests listed in a not-faces file (``NOT_FACES_FILE``'s format).

    Raises:
        DatasetError: a line whose first field is not a SHA-256 hex digest.
    """
    digests = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        digest = line.split("\t", 1)[0].strip().lower()
        if len(digest) != 64 or set(digest) - set("0123456789abcdef"):
            raise DatasetError(f"Expected a SHA-256 hex digest first on line {number} of {path}.")
        digests.add(digest)
    return frozenset(digests)


def find_csv(source: Path) -> Path | None:
    """``source`` itself when it is a csv file, else a fer2013.csv(.gz) inside it, else None."""
    if source.is_file() and source.name.lower().endswith((".csv", ".csv.gz")):
        return source
    if source.is_dir():
        for name in CSV_NAMES:
            if (source / name).is_file():
                return source / name
    if not source.exists():
        raise DatasetError(
            f"Expected a FER2013 folder or csv file, got {source}: it does not exist."
        )
    return None


def fer_framer(
    params: Preprocessing, cache_dir: str | Path | None, what: str
) -> FixedFramer | DetectorFramer:
    """The framer of FER2013 images: the detector's, or (fixed) the whole image."""
    return framer_for(
        params,
        fixed_box=lambda height, width: full_image_box(height, width, params),
        cache_dir=cache_dir,
        what=what,
    )


def spread(count: int, limit: int | None) -> np.ndarray:
    """Indices of at most ``limit`` of ``count`` items, evenly spread, in order."""
    if limit is None or limit >= count:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, max(limit, 0)).round().astype(np.int64))


def split_of(file_name: str, part: str) -> str:
    """Original split from a Kaggle file name's prefix (``PublicTest_123.jpg``), else ``part``."""
    prefix = file_name.split("_", 1)[0]
    return prefix if prefix in FER_SPLITS else part


def hold_out(split: str, data: bytes, heldout_fraction: float) -> str:
    """ "heldout" for a training image whose bytes hash below ``heldout_fraction``, else ``split``.

    Only training images are held out (the test part is validation or test already); a
    byte-identical copy of a held-out image is held out too, so none of them is trained on.
    ``data`` is the file's bytes in the folder layout and the pixel values in the csv, so the
    two layouts hold out different (equally sized) slices.
    """
    if split in ("Training", "train") and common.hash_fraction(data) < heldout_fraction:
        return common.HELDOUT
    return split


class _Collector:
    """Accumulates crops (through ``framer``) and labels while a loader walks its source."""

    def __init__(
        self, framer: FixedFramer | DetectorFramer, not_faces: Collection[str] = frozenset()
    ) -> None:
        self.framer = framer
        self.not_faces = not_faces
        self.emotion: list[int] = []
        self.expression: list[int] = []
        self.split: list[str] = []
        self.names: list[str] = []
        self.skipped: dict[str, int] = {}

    def add(self, image: np.ndarray, key: bytes, fer_class: str, split: str, name: str) -> None:
        if common.is_blank(image):
            common.count(self.skipped, "blank image")
            return
        if self.not_faces and hashlib.sha256(key).hexdigest() in self.not_faces:
            common.count(self.skipped, "not a face")
            return
        index = mood_index(fer_class)
        self.framer.add(image, key)
        self.emotion.append(NO_LABEL if index is None else index)
        self.expression.append(FER_CLASSES.index(fer_class))
        self.split.append(split)
        self.names.append(name)

    def faces(self, params: Preprocessing) -> FaceSet:
        images, inside = self.framer.finish()
        if not images:
            faces = FaceSet.empty(params.input_shape)
            faces.skipped = dict(self.skipped)
            return faces
        missing = np.full(len(images), NO_LABEL)
        return FaceSet(
            images=np.stack(images),
            emotion=np.asarray(self.emotion),
            age=missing,
            gender=missing,
            race=missing,
            split=np.asarray(self.split),
            names=self.names,
            skipped=dict(self.skipped),
            expression=np.asarray(self.expression),
            inside=np.stack(inside),
        )


def _load_folder(
    folder: Path,
    params: Preprocessing,
    part: str,
    classes: tuple[str, ...],
    heldout_fraction: float,
    limit: int | None,
    cache_dir: str | Path | None,
    show_progress: bool,
    not_faces: frozenset[str],
) -> FaceSet:
    files: list[tuple[str, Path]] = []
    not_loaded = 0
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        fer_class = class_dir.name.strip().lower()
        images = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if fer_class in classes:
            files.extend((fer_class, p) for p in images)
        else:
            not_loaded += len(images)
    files = [files[i] for i in spread(len(files), limit)]
    if not files:
        raise DatasetError(
            f"Expected images of classes {classes} in {folder}/<class>/, found none."
        )

    extra = [part, classes, heldout_fraction, sorted(not_faces)]
    key = common.cache_key("fer-folder", [p for _, p in files], params, extra)
    cached = common.cache_path(Path(cache_dir), "fer", key) if cache_dir else None
    faces = common.read_cache(cached) if cached else None
    if faces is not None:
        return faces

    collector = _Collector(fer_framer(params, cache_dir, f"FER2013 {part} images"), not_faces)
    if not_loaded:
        collector.skipped["class not loaded"] = not_loaded
    desc = f"FER2013 {part}"
    for fer_class, file in common.progress(
        files, total=len(files), desc=desc, enabled=show_progress
    ):
        try:
            data, image = read_image_file(file)
        except InvalidImage as err:
            logger.warning("Skipping unreadable FER2013 image %s: %s", file, err)
            common.count(collector.skipped, "unreadable image")
            continue
        split = hold_out(split_of(file.name, part), data, heldout_fraction)
        collector.add(image, data, fer_class, split, file.name)
    faces = collector.faces(params)
    _log_loaded(faces, folder)
    if cached:
        common.write_cache(cached, faces)
    return faces


def _csv_rows(csv_file: Path) -> Iterator[dict[str, str]]:
    opener = gzip.open if csv_file.name.lower().endswith(".gz") else open
    with opener(csv_file, "rt", newline="") as handle:  # type: ignore[operator]
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or ())
        if not {"emotion", "pixels", "Usage"} <= fields:
            raise DatasetError(
                f"Expected fer2013.csv columns emotion,pixels,Usage in {csv_file}, "
                f"got {sorted(fields)}."
            )
        yield from reader


def _load_csv(
    csv_file: Path,
    params: Preprocessing,
    part: str,
    classes: tuple[str, ...],
    heldout_fraction: float,
    limit: int | None,
    cache_dir: str | Path | None,
    show_progress: bool,
) -> FaceSet:
    extra = [part, classes, heldout_fraction, limit]
    key = common.cache_key("fer-csv", [csv_file], params, extra)
    cached = common.cache_path(Path(cache_dir), "fer", key) if cache_dir else None
    faces = common.read_cache(cached) if cached else None
    if faces is not None:
        return faces

    # Rows of this part and these classes first (cheap), so `limit` spreads over them.
    rows: list[tuple[int, str, str, str]] = []
    skipped: dict[str, int] = {}
    for number, row in enumerate(_csv_rows(csv_file), start=1):
        usage = (row.get("Usage") or "").strip()
        if SPLIT_PART.get(usage) != part:
            continue
        try:
            fer_class = FER_CLASSES[int(row["emotion"])]
        except (ValueError, IndexError, TypeError):
            common.count(skipped, "bad label")
            continue
        if fer_class not in classes:
            common.count(skipped, "class not loaded")
            continue
        rows.append((number, fer_class, usage, row.get("pixels") or ""))
    rows = [rows[i] for i in spread(len(rows), limit)]

    collector = _Collector(fer_framer(params, cache_dir, f"FER2013 csv {part} images"))
    collector.skipped.update(skipped)
    desc = f"FER2013 csv {part}"
    for number, fer_class, usage, pixels in common.progress(
        rows, total=len(rows), desc=desc, enabled=show_progress
    ):
        gray = gray_from_pixels(pixels)
        if gray is None:
            common.count(collector.skipped, "unreadable image")
            continue
        # Gray -> BGR with three equal channels, as decode_image decodes a gray JPEG; BGR2GRAY of
        # equal channels gives the same values back, so csv and folder crops match exactly.
        image = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        split = hold_out(usage, gray.tobytes(), heldout_fraction)
        collector.add(image, gray.tobytes(), fer_class, split, f"{csv_file.name}:{number}")
    faces = collector.faces(params)
    _log_loaded(faces, csv_file)
    if cached:
        common.write_cache(cached, faces)
    return faces


def gray_from_pixels(pixels: str) -> np.ndarray | None:
    """A square uint8 (S, S) image from the csv's space-separated pixels, or None if malformed."""
    try:
        values = np.asarray(pixels.split(), dtype=np.int64)
    except ValueError:
        return None
    side = round(len(values) ** 0.5)
    if side < 1 or side * side != len(values) or values.min() < 0 or values.max() > 255:
        return None
    return values.astype(np.uint8).reshape(side, side)


def _log_loaded(faces: FaceSet, source: Path) -> None:
    logger.info("Loaded %d FER2013 faces from %s; skipped %s", len(faces), source, faces.skipped)
