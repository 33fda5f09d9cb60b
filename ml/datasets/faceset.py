"""``FaceSet``: face crops and their (possibly missing) labels, held in memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

#: Label value meaning "this sample has no label for this head".
NO_LABEL = -1


@dataclass
class FaceSet:
    """Face crops with per-head labels; -1 marks a missing label.

    Attributes:
        images: uint8 (N, S, S, C) crops made by ``ml.preprocessing.face_crop``.
        emotion: int32 (N,) index into ``labels.MOODS``, or -1.
        age: float32 (N,) age in years, or -1.
        gender: float32 (N,) 1.0 female, 0.0 male, or -1.
        race: int8 (N,) UTKFace race 0..4, or -1.
        split: str (N,) the split each sample came from ("Training", "PublicTest", "train"...).
        names: file names (or ``fer2013.csv:<row>``), one per sample.
        skipped: reason -> number of source images left out while loading.
    """

    images: np.ndarray
    emotion: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    race: np.ndarray
    split: np.ndarray
    names: list[str]
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images, dtype=np.uint8)
        self.emotion = np.asarray(self.emotion, dtype=np.int32).reshape(-1)
        self.age = np.asarray(self.age, dtype=np.float32).reshape(-1)
        self.gender = np.asarray(self.gender, dtype=np.float32).reshape(-1)
        self.race = np.asarray(self.race, dtype=np.int8).reshape(-1)
        self.split = np.asarray(self.split, dtype=str).reshape(-1)
        self.names = list(self.names)
        n = len(self.images)
        if self.images.ndim != 4:
            raise ValueError(f"Expected images of shape (N, S, S, C), got {self.images.shape}.")
        lengths = {
            "emotion": len(self.emotion),
            "age": len(self.age),
            "gender": len(self.gender),
            "race": len(self.race),
            "split": len(self.split),
            "names": len(self.names),
        }
        wrong = {key: size for key, size in lengths.items() if size != n}
        if wrong:
            raise ValueError(f"Expected {n} labels per field like images, got {wrong}.")

    def __len__(self) -> int:
        return len(self.images)

    @classmethod
    def empty(cls, input_shape: tuple[int, int, int]) -> FaceSet:
        """A set with no samples whose images have shape (0, *input_shape)."""
        return cls(
            images=np.zeros((0, *input_shape), dtype=np.uint8),
            emotion=np.zeros(0),
            age=np.zeros(0),
            gender=np.zeros(0),
            race=np.zeros(0),
            split=np.zeros(0, dtype=str),
            names=[],
        )

    def subset(self, indices: Sequence[int] | np.ndarray) -> FaceSet:
        """The samples at ``indices`` (int array or boolean mask), in that order."""
        index = np.asarray(indices)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(np.int64)
        return FaceSet(
            images=self.images[index],
            emotion=self.emotion[index],
            age=self.age[index],
            gender=self.gender[index],
            race=self.race[index],
            split=self.split[index],
            names=[self.names[i] for i in index],
            skipped=dict(self.skipped),
        )

    @staticmethod
    def concat(sets: Sequence[FaceSet]) -> FaceSet:
        """All samples of ``sets`` one after the other; skip counts are added up."""
        if not sets:
            raise ValueError("Expected at least one FaceSet to concatenate, got none.")
        shapes = {s.images.shape[1:] for s in sets}
        if len(shapes) != 1:
            raise ValueError(f"Expected face sets with one image shape, got {sorted(shapes)}.")
        skipped: Counter[str] = Counter()
        for s in sets:
            skipped.update(s.skipped)
        return FaceSet(
            images=np.concatenate([s.images for s in sets]),
            emotion=np.concatenate([s.emotion for s in sets]),
            age=np.concatenate([s.age for s in sets]),
            gender=np.concatenate([s.gender for s in sets]),
            race=np.concatenate([s.race for s in sets]),
            split=np.concatenate([s.split for s in sets]),
            names=[name for s in sets for name in s.names],
            skipped=dict(skipped),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field as a numpy array (for ``np.savez``)."""
        return {
            "images": self.images,
            "emotion": self.emotion,
            "age": self.age,
            "gender": self.gender,
            "race": self.race,
            "split": self.split,
            "names": np.asarray(self.names, dtype=str),
            "skipped_reasons": np.asarray(list(self.skipped), dtype=str),
            "skipped_counts": np.asarray(list(self.skipped.values()), dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray]) -> FaceSet:
        """Inverse of ``arrays``."""
        reasons = [str(r) for r in data["skipped_reasons"]]
        counts = [int(c) for c in data["skipped_counts"]]
        return cls(
            images=data["images"],
            emotion=data["emotion"],
            age=data["age"],
            gender=data["gender"],
            race=data["race"],
            split=data["split"],
            names=[str(n) for n in data["names"]],
            skipped=dict(zip(reasons, counts, strict=True)),
        )
