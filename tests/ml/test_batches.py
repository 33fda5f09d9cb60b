"""Training batches: reproducible order, labels kept with their faces, and the faces' inside
masks reaching the augmentation."""

from __future__ import annotations

import numpy as np

from ml.augment import Augmentation
from ml.batches import FaceBatches
from ml.datasets import FaceSet
from ml.preprocessing import Preprocessing, to_model_input
from tests.ml.fake_faces import face_like

PARAMS = Preprocessing(input_size=48)
STILL = {"flip": 0.0, "shift": 0.0, "rotation": 0.0, "scale": 0.0, "brightness": 0.0}


def faces(n: int = 10) -> FaceSet:
    inside = np.full((n, 48, 48, 1), 255, np.uint8)
    inside[: n // 2, :, :12] = 0  # the first half lay past their image's left edge
    return FaceSet(
        images=np.stack([face_like(i, 48)[:, :, None] for i in range(n)]),
        emotion=np.arange(n) % 4,
        age=np.arange(n, dtype=np.float32) + 20,
        gender=np.arange(n) % 2,
        race=np.full(n, -1),
        split=np.full(n, "Training"),
        names=[f"face-{i}" for i in range(n)],
        inside=inside,
    )


def test_an_epoch_s_batches_are_the_same_whenever_they_are_fetched():
    first = FaceBatches(faces(), PARAMS, batch_size=4, seed=3, augmentation=Augmentation())
    later = FaceBatches(faces(), PARAMS, batch_size=4, seed=3, augmentation=Augmentation())
    later.set_epoch(1)
    later.set_epoch(0)

    for index in reversed(range(len(first))):
        x_first, y_first = first[index]
        x_later, y_later = later[index]
        np.testing.assert_array_equal(x_first, x_later)
        np.testing.assert_array_equal(y_first["age"], y_later["age"])


def test_new_backgrounds_go_only_where_a_face_lay_past_its_image():
    face_set = faces()
    augmentation = Augmentation(**STILL, contrast=0.0, background=1.0)
    batches = FaceBatches(face_set, PARAMS, batch_size=10, seed=0, augmentation=augmentation)

    x, y = batches[0]
    original = to_model_input(face_set.images, PARAMS)
    rows = (y["age"][:, 0] - 20).astype(int)  # the faces in the batch's order

    np.testing.assert_array_equal(x[:, :, 12:], original[rows][:, :, 12:])
    moved = np.abs(x[:, :, :12] - original[rows][:, :, :12]).max(axis=(1, 2, 3))
    assert (moved[rows < 5] > 0.05).all() and (moved[rows >= 5] == 0).all()
