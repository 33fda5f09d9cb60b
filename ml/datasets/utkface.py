"""UTKFace loader: aligned, cropped 200x200 chips named ``age_gender_race_date.jpg.chip.jpg``."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.datasets import common
from ml.datasets.faceset import NO_LABEL, FaceSet
from ml.datasets.fer import spread
from ml.errors import DatasetError, InvalidImage
from ml.framing import framer_for
from ml.image import read_image_file
from ml.preprocessing import Box, Preprocessing

logger = logging.getLogger(__name__)

#: Nominal face box inside a UTKFace chip as fractions (x, y, w, h) of its width and height.
#: Chips are aligned faces with a little context; grown by the default margin (0.1 a side) this
#: box covers about the whole chip (slightly past the bottom edge, filled by replication), which
#: matches FER2013's framing of forehead-to-chin with some hair (checked side by side by eye).
UTKFACE_FACE_BOX: tuple[float, float, float, float] = (0.07, 0.09, 0.86, 0.86)
#: Fraction of UTKFace held back for validation by default (see ``utkface_slice``).
DEFAULT_VAL_FRACTION = 0.1
#: Oldest age accepted from a file name; larger values are treated as unparseable.
MAX_AGE = 120

# age _ gender _ [race _] rest. The race field is optional (3 files lack it); the rest (date and
# suffix) only has to start with 8 digits, so a missing dot or a stray space does not matter.
_NAME = re.compile(r"^\s*(?P<age>\d{1,3})_(?P<gender>[01])_(?:(?P<race>[0-4])_)?\d{8}")


@dataclass(frozen=True)
class UTKFaceLabels:
    """Labels parsed from one UTKFace file name; race is -1 when the name has none."""

    age: int
    gender: int  # 0 male, 1 female
    race: int


def parse_utkface_name(name: str) -> UTKFaceLabels | None:
    """Labels from a UTKFace file name, or None when the name does not follow the pattern."""
    match = _NAME.match(name)
    if match is None:
        return None
    age = int(match["age"])
    if age > MAX_AGE:
        return None
    race = int(match["race"]) if match["race"] is not None else NO_LABEL
    return UTKFaceLabels(age=age, gender=int(match["gender"]), race=race)


def utkface_box(height: int, width: int) -> Box:
    """``UTKFACE_FACE_BOX`` in pixels of a chip of the given size."""
    fx, fy, fw, fh = UTKFACE_FACE_BOX
    return (fx * width, fy * height, fw * width, fh * height)


def utkface_slice(
    name: str,
    data: bytes,
    *,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    heldout_fraction: float = common.DEFAULT_HELDOUT_FRACTION,
) -> str:
    """ "val", "heldout" or "train": the slice of the file ``name`` whose bytes are ``data``.

    Validation (selected on) is the ``val_fraction`` of files whose base name hashes lowest
    (``common.hash_fraction`` of the UTF-8 name), as it has been since the first shipped
    model. Of the rest, the ``heldout_fraction`` whose *bytes* hash lowest are held out (never
    trained or selected on): byte-identical copies under other names (UTKFace has about 375
    groups) are held out together, so no held-out face is trained on under another name.
    """
    if common.hash_fraction(Path(name).name.strip().encode("utf-8")) < val_fraction:
        return "val"
    return common.HELDOUT if common.hash_fraction(data) < heldout_fraction else "train"


def list_utkface(folder: Path) -> list[Path]:
    """UTKFace image files in ``folder`` (or one level below), sorted by name."""
    if not folder.is_dir():
        raise DatasetError(f"Expected a UTKFace folder of *.jpg chips, got {folder}.")
    # `*.jpg`, not `*.jpg.chip.jpg`: a few names lack the dot before `jpg.chip.jpg`.
    files = sorted(p for p in folder.glob("*.jpg") if p.is_file())
    if not files:
        files = sorted(p for p in folder.glob("*/*.jpg") if p.is_file())
    if not files:
        raise DatasetError(f"Expected UTKFace *.jpg chips in {folder}, found none.")
    return files


def load_utkface(
    path: str | Path,
    params: Preprocessing,
    *,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    heldout_fraction: float = common.DEFAULT_HELDOUT_FRACTION,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = True,
) -> FaceSet:
    """Load UTKFace as face crops with age, gender and race labels.

    Args:
        path: folder of ``*.jpg`` chips (or a folder holding one such folder).
        params: preprocessing; each chip is cropped at ``UTKFACE_FACE_BOX`` by ``face_crop``.
        val_fraction: size of the validation slice ("val" in ``split``), see ``utkface_slice``.
        heldout_fraction: share of the other images held out ("heldout"), never trained or
            selected on.
        limit: load at most this many images, evenly spread over the sorted file list.
        cache_dir: folder for the decoded-crop cache, or None for no cache.
        show_progress: show a tqdm bar on stderr while decoding.

    Returns:
        A ``FaceSet`` (emotion -1). Unparseable names, unreadable and blank images are skipped
        and counted in ``skipped``.
    """
    common.check_fractions(val_fraction=val_fraction, heldout_fraction=heldout_fraction)
    files = list_utkface(Path(path))
    files = [files[i] for i in spread(len(files), limit)]
    key = common.cache_key("utkface", files, params, [val_fraction, heldout_fraction])
    cached = common.cache_path(Path(cache_dir), "utkface", key) if cache_dir else None
    faces = common.read_cache(cached) if cached else None
    if faces is not None:
        return faces

    framer = framer_for(params, fixed_box=utkface_box, cache_dir=cache_dir, what="UTKFace images")
    labels: list[UTKFaceLabels] = []
    names: list[str] = []
    slices: list[str] = []
    skipped: dict[str, int] = {}
    for file in common.progress(files, total=len(files), desc="UTKFace", enabled=show_progress):
        parsed = parse_utkface_name(file.name)
        if parsed is None:
            logger.warning("Skipping UTKFace file with an unparseable name: %s", file.name)
            common.count(skipped, "unparseable name")
            continue
        try:
            data, image = read_image_file(file)
        except InvalidImage as err:
            logger.warning("Skipping unreadable UTKFace image %s: %s", file, err)
            common.count(skipped, "unreadable image")
            continue
        if common.is_blank(image):
            common.count(skipped, "blank image")
            continue
        framer.add(image, data)
        labels.append(parsed)
        names.append(file.name)
        slices.append(
            utkface_slice(
                file.name, data, val_fraction=val_fraction, heldout_fraction=heldout_fraction
            )
        )

    images, inside = framer.finish()
    if images:
        faces = FaceSet(
            images=np.stack(images),
            emotion=np.full(len(names), NO_LABEL),
            age=np.asarray([label.age for label in labels]),
            gender=np.asarray([label.gender for label in labels]),
            race=np.asarray([label.race for label in labels]),
            split=np.asarray(slices),
            names=names,
            skipped=skipped,
            inside=np.stack(inside),
        )
    else:
        faces = FaceSet.empty(params.input_shape)
        faces.skipped = skipped
    logger.info("Loaded %d UTKFace faces from %s; skipped %s", len(faces), path, faces.skipped)
    if cached:
        common.write_cache(cached, faces)
    return faces
