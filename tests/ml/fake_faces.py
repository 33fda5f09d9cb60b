"""Small FER2013 and UTKFace look-alikes written to a folder, for dataset and training tests."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ml.datasets.faceset import FaceSet
from ml.labels import FER_CLASSES


def face_like(seed: int, size: int, *, color: bool = False) -> np.ndarray:
    """A synthetic uint8 face-ish picture (never blank): (size, size) gray or (size, size, 3)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(40, 90, (size, size), dtype=np.uint8)
    centre = (size // 2, size // 2)
    cv2.ellipse(
        image, centre, (size // 3, size * 2 // 5), 0, 0, 360, int(rng.integers(150, 220)), -1
    )
    eye = max(1, size // 16)
    for x in (size * 3 // 8, size * 5 // 8):
        cv2.circle(image, (x, size * 2 // 5), eye, 20, -1)
    cv2.ellipse(image, (size // 2, size * 2 // 3), (size // 6, size // 14), 0, 0, 180, 30, 2)
    if color:
        return cv2.merge([image, (image * 0.8).astype(np.uint8), (image * 0.6).astype(np.uint8)])
    return image


def write_jpeg(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path


def make_fer_folder(
    root: Path, per_class: int = 2, *, classes: Sequence[str] = FER_CLASSES, size: int = 48
) -> Path:
    """Kaggle layout: train/<class>/Training_*.jpg and test/<class>/{PublicTest,PrivateTest}_*."""
    seed = 0
    for fer_class in classes:
        for _i in range(per_class):
            seed += 1
            write_jpeg(root / "train" / fer_class / f"Training_{seed}.jpg", face_like(seed, size))
            seed += 1
            write_jpeg(root / "test" / fer_class / f"PublicTest_{seed}.jpg", face_like(seed, size))
            seed += 1
            write_jpeg(root / "test" / fer_class / f"PrivateTest_{seed}.jpg", face_like(seed, size))
    return root


def fer_csv_text(rows: Sequence[tuple[int, np.ndarray, str]]) -> str:
    """fer2013.csv text from (emotion index, gray (48, 48) image, Usage) rows."""
    lines = ["emotion,pixels,Usage"]
    lines += [f"{e},{' '.join(str(int(v)) for v in img.reshape(-1))},{u}" for e, img, u in rows]
    return "\n".join(lines) + "\n"


def write_fer_csv(path: Path, rows: Sequence[tuple[int, np.ndarray, str]]) -> Path:
    """Write fer2013.csv, gzip-compressed when ``path`` ends in .gz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = fer_csv_text(rows)
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", newline="") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def make_utkface_folder(root: Path, names: Sequence[str], *, size: int = 200) -> Path:
    """UTKFace chips with the given file names."""
    for seed, name in enumerate(names):
        write_jpeg(root / name, face_like(1000 + seed, size, color=True))
    return root


def utkface_names(count: int) -> list[str]:
    """``count`` well-formed UTKFace file names with varied ages, genders and races."""
    return [
        f"{5 + 7 * i % 80}_{i % 2}_{i % 5}_2017011{i % 10}1{i:08d}.jpg.chip.jpg"
        for i in range(count)
    ]


def labelled_faces(emotion, age, gender) -> FaceSet:
    """A held-out ``FaceSet`` of blank 8x8 images with these labels (-1: none), named
    face0.jpg, face1.jpg, ...: for metrics that read labels and model outputs alone."""
    n = len(emotion)
    return FaceSet(
        images=np.zeros((n, 8, 8, 1), np.uint8),
        emotion=np.asarray(emotion, np.int32),
        age=np.asarray(age, np.float32),
        gender=np.asarray(gender, np.float32),
        race=np.full(n, -1, np.int8),
        split=np.array(["heldout"] * n),
        names=[f"face{i}.jpg" for i in range(n)],
    )
