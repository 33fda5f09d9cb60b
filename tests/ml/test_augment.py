"""Augmentation of uint8 face batches: seeded, shape-preserving, geometric and photometric."""

from __future__ import annotations

import numpy as np

from ml.augment import Augmentation
from tests.ml.fake_faces import face_like

IMAGES = np.stack([face_like(i, 48)[:, :, None] for i in range(6)])
NOTHING = {
    "flip": 0.0,
    "shift": 0.0,
    "rotation": 0.0,
    "scale": 0.0,
    "brightness": 0.0,
    "contrast": 0.0,
}


def test_the_same_seed_gives_the_same_augmented_batch():
    augment = Augmentation()

    first = augment(IMAGES, np.random.default_rng(5))
    again = augment(IMAGES, np.random.default_rng(5))
    other = augment(IMAGES, np.random.default_rng(6))

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert first.shape == IMAGES.shape and first.dtype == np.uint8


def test_with_every_change_switched_off_images_come_back_unchanged():
    out = Augmentation(**NOTHING)(IMAGES, np.random.default_rng(0))

    np.testing.assert_array_equal(out, IMAGES)


def test_a_certain_flip_mirrors_each_image_left_to_right():
    out = Augmentation(**{**NOTHING, "flip": 1.0})(IMAGES, np.random.default_rng(0))

    np.testing.assert_array_equal(out, IMAGES[:, :, ::-1])


def test_brightness_shifts_the_mean_by_at_most_its_range():
    out = Augmentation(**{**NOTHING, "brightness": 20.0})(IMAGES, np.random.default_rng(1))

    shift = out.reshape(6, -1).mean(axis=1) - IMAGES.reshape(6, -1).mean(axis=1)
    assert np.all(np.abs(shift) <= 20.5) and np.abs(shift).max() > 1.0


def test_augmentation_does_not_change_the_input_batch():
    before = IMAGES.copy()

    Augmentation()(IMAGES, np.random.default_rng(2))

    np.testing.assert_array_equal(IMAGES, before)
