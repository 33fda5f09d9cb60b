"""``FaceBatches``: shuffled, augmented training batches from a ``FaceSet`` for ``model.fit``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from ml.augment import Augmentation
from ml.datasets import FaceSet
from ml.labels import HEADS
from ml.preprocessing import Preprocessing, to_model_input
from ml.soft_targets import Teacher, blend_targets


def targets(
    faces: FaceSet, index: np.ndarray | slice = slice(None), *, expression: bool = False
) -> dict[str, np.ndarray]:
    """Model targets by output name: emotion int32 (B,), age and gender float32 (B, 1).

    With ``expression``, the emotion target is ``expression`` int32 (B,) instead: the FER2013
    class, for a model whose seven-class output is trained (its ``emotion`` is read out).
    """
    emotion = {"expression": faces.expression} if expression else {"emotion": faces.emotion}
    return {
        **{name: labels[index].astype(np.int32) for name, labels in emotion.items()},
        "age": faces.age[index].astype(np.float32).reshape(-1, 1),
        "gender": faces.gender[index].astype(np.float32).reshape(-1, 1),
    }


class FaceBatches(keras.utils.PyDataset):
    """Batches (x float32 (B, S, S, C), targets dict) over a shuffled ``FaceSet``.

    ``expression`` gives seven-class emotion targets (see ``targets``); ``teacher`` (soft
    targets, one row per face) blends an ensemble's estimates into the targets with
    ``teacher_weight`` for the heads in ``teacher_heads``, and with ``teacher_fills`` stands in
    for the labels a face lacks (``ml.soft_targets.blend_targets``).

    The order of epoch ``e`` is a permutation drawn from ``(seed, e)`` and the augmentation of
    batch ``i`` from ``(seed, e, i)``, so a run is reproducible, batches may be fetched in any
    order, and a resumed run at epoch ``e`` sees what an uninterrupted run would have seen.
    """

    def __init__(
        self,
        faces: FaceSet,
        params: Preprocessing,
        *,
        batch_size: int,
        seed: int,
        augmentation: Augmentation | None = None,
        epoch: int = 0,
        expression: bool = False,
        teacher: Teacher | None = None,
        teacher_weight: float = 0.5,
        teacher_fills: bool = False,
        teacher_heads: Sequence[str] = HEADS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if len(faces) == 0:
            raise ValueError("Expected at least one training face, got an empty FaceSet.")
        self.faces = faces
        self.preprocessing = params
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.augmentation = augmentation
        self.expression = expression
        if teacher is not None and len(teacher) != len(faces):
            raise ValueError(f"Expected soft targets for {len(faces)} faces, got {len(teacher)}.")
        self.teacher = teacher
        self.teacher_weight = float(teacher_weight)
        self.teacher_fills = bool(teacher_fills)
        self.teacher_heads = tuple(teacher_heads)
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Use the order (and augmentation) of ``epoch`` (0-based)."""
        self.epoch = int(epoch)
        rng = np.random.default_rng([self.seed, self.epoch])
        self.order = rng.permutation(len(self.faces))

    def __len__(self) -> int:
        return math.ceil(len(self.faces) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        rows = np.sort(self.order[index * self.batch_size : (index + 1) * self.batch_size])
        images = self.faces.images[rows]
        if self.augmentation is not None:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            images = self.augmentation(images, rng, self.faces.inside[rows])
        labels = targets(self.faces, rows, expression=self.expression)
        if self.teacher is not None:
            labels = blend_targets(
                labels,
                self.teacher,
                rows,
                self.teacher_weight,
                fill=self.teacher_fills,
                heads=self.teacher_heads,
            )
        return to_model_input(images, self.preprocessing), labels

    def on_epoch_end(self) -> None:
        self.set_epoch(self.epoch + 1)
