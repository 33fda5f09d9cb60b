"""Shared pieces of the dataset loaders: blank-image check, hashed slices, progress bar and the
crop cache."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from tqdm import tqdm

from ml.datasets.faceset import FaceSet
from ml.preprocessing import Preprocessing

logger = logging.getLogger(__name__)

#: Images whose gray pixel standard deviation is below this are blank (all-black, flat grey).
MIN_PIXEL_STD = 2.0
#: Bumped whenever a loader changes what it produces, so stale caches are not reused
#: (3: FER2013 faces keep their seven-class ``expression`` label; 4: and where each crop saw
#: its image, ``FaceSet.inside``).
CACHE_VERSION = 4
#: Fraction of the training images held out by default: never trained on, never selected on.
DEFAULT_HELDOUT_FRACTION = 0.1
#: Split name of the held-out slice, in every dataset.
HELDOUT = "heldout"

T = TypeVar("T")


def is_blank(image: np.ndarray) -> bool:
    """True when a uint8 image (H, W) or (H, W, C) is (nearly) one flat colour."""
    return float(np.asarray(image, dtype=np.float32).std()) < MIN_PIXEL_STD


def hash_fraction(data: bytes) -> float:
    """Where ``data`` falls in [0, 1): the first 8 bytes of its SHA-256 over 2**64.

    Slices made from it depend on the image's bytes alone, not on its name, the file order, the
    seed or the machine, and byte-identical copies of an image always land in the same slice.
    """
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") / 2.0**64


def check_fractions(**fractions: float) -> None:
    """Raise ValueError unless each fraction is in [0, 1) and together they are below 1."""
    for name, value in fractions.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}.")
    if sum(fractions.values()) >= 1.0:
        raise ValueError(f"Expected fractions that leave images to train on, got {fractions}.")


def progress(items: Iterable[T], *, total: int, desc: str, enabled: bool) -> Iterator[T]:
    """Iterate ``items`` with a tqdm progress bar on stderr when ``enabled``."""
    yield from tqdm(items, total=total, desc=desc, unit="img", disable=not enabled, leave=False)


def cache_key(kind: str, files: Sequence[Path], params: Preprocessing, extra: Any = None) -> str:
    """Hash of (loader kind, file names, sizes, mtimes, preprocessing, extra options)."""
    digest = hashlib.sha256()
    header = {"kind": kind, "version": CACHE_VERSION, "params": params.to_dict(), "extra": extra}
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def cache_path(cache_dir: Path, kind: str, key: str) -> Path:
    """Where the crops for ``key`` are cached: ``cache_dir/<kind>-<key>.npz``."""
    return Path(cache_dir) / f"{kind}-{key}.npz"


def read_cache(path: Path) -> FaceSet | None:
    """The cached ``FaceSet`` at ``path``, or None when missing or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            faces = FaceSet.from_arrays({name: data[name] for name in data.files})
    except (OSError, ValueError, KeyError) as err:
        logger.warning("Ignoring unreadable dataset cache %s: %s", path, err)
        return None
    logger.info("Loaded %d cached face crops from %s", len(faces), path)
    return faces


def write_cache(path: Path, faces: FaceSet) -> None:
    """Save ``faces`` to ``path`` atomically (write a temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}.partial.npz")
    np.savez(partial, **faces.arrays())
    os.replace(partial, path)
    logger.info("Cached %d face crops in %s", len(faces), path)


def count(skipped: dict[str, int], reason: str) -> None:
    """Add one to ``skipped[reason]``."""
    skipped[reason] = skipped.get(reason, 0) + 1
