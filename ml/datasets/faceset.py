"""``FaceSet``: face crops and their (possibly missing) labels, held in memory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ml.labels import MOOD_EXPRESSIONS

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
        expression: int32 (N,) index into ``labels.FER_CLASSES`` (all seven FER2013 classes),
            or -1; None derives it from ``emotion`` (each mood is one FER2013 class).
        inside: uint8 (N, S, S, 1), where each crop saw its source image
            (``ml.preprocessing.inside_source``: 255 inside, 0 past its edge); None: inside
            everywhere.
    """

    images: np.ndarray
    emotion: np.ndarray
    age: np.ndarray
    gender: np.ndarray
    race: np.ndarray
    split: np.ndarray
    names: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    expression: np.ndarray | None = None
    inside: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images, dtype=np.uint8)
        if self.inside is None:
            self.inside = np.full((*self.images.shape[:3], 1), 255, dtype=np.uint8)
        self.inside = np.asarray(self.inside, dtype=np.uint8)
        self.emotion = np.asarray(self.emotion, dtype=np.int32).reshape(-1)
        if self.expression is None:
            self.expression = expressions_of_moods(self.emotion)
        self.expression = np.asarray(self.expression, dtype=np.int32).reshape(-1)
        self.age = np.asarray(self.age, dtype=np.float32).reshape(-1)
        self.gender = np.asarray(self.gender, dtype=np.float32).reshape(-1)
        self.race = np.asarray(self.race, dtype=np.int8).reshape(-1)
        self.split = np.asarray(self.split, dtype=str).reshape(-1)
        self.names = list(self.names)
        n = len(self.images)
        if self.images.ndim != 4:
            raise ValueError(f"Expected images of shape (N, S, S, C), got {self.images.shape}.")
        if self.inside.shape != (*self.images.shape[:3], 1):
            raise ValueError(
                f"Expected inside masks of shape {(*self.images.shape[:3], 1)}, "
                f"got {self.inside.shape}."
            )
        lengths = {
            "emotion": len(self.emotion),
            "expression": len(self.expression),
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
            expression=self.expression[index],
            inside=self.inside[index],
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
            expression=np.concatenate([s.expression for s in sets]),
            inside=np.concatenate([s.inside for s in sets]),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Every field as a numpy array (for ``np.savez``)."""
        return {
            "images": self.images,
            "emotion": self.emotion,
            "expression": self.expression,
            "inside": self.inside,
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
            expression=data.get("expression"),
            inside=data.get("inside"),
        )


def expressions_of_moods(emotion: np.ndarray) -> np.ndarray:
    """int32 (N,) FER2013 class index of each mood index in ``emotion`` (N,); -1 stays -1."""
    emotion = np.asarray(emotion, dtype=np.int64).reshape(-1)
    lookup = np.asarray(MOOD_EXPRESSIONS, dtype=np.int32)
    return np.where(emotion >= 0, lookup[np.clip(emotion, 0, len(lookup) - 1)], NO_LABEL).astype(
        np.int32
    )
