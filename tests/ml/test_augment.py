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


#: The crops saw their source image in a centred square, and lay past its edge elsewhere.
INSIDE = np.zeros((6, 48, 48, 1), np.uint8)
INSIDE[:, 8:40, 8:40] = 255


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


def test_the_webcam_and_erasing_options_leave_the_other_changes_as_they_were():
    rng_seed = 7
    plain = Augmentation()(IMAGES, np.random.default_rng(rng_seed))
    # With both off, nothing extra is drawn: the default recipe's batches are unchanged.
    again = Augmentation(camera=0.0, erasing=0.0, background=0.0)(
        IMAGES, np.random.default_rng(rng_seed), INSIDE
    )
    np.testing.assert_array_equal(plain, again)


def test_a_webcam_round_trip_blurs_and_compresses_but_keeps_the_face():
    out = Augmentation(**{**NOTHING, "camera": 1.0})(IMAGES, np.random.default_rng(3))

    assert out.shape == IMAGES.shape and out.dtype == np.uint8
    difference = np.abs(out.astype(int) - IMAGES.astype(int))
    assert difference.mean() > 0.5  # something was lost ...
    for before, after in zip(IMAGES, out, strict=True):  # ... but the face is still the face
        assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.9
    sharpness = [np.abs(np.diff(x.astype(int), axis=1)).mean() for x in (IMAGES, out)]
    assert sharpness[1] < sharpness[0]


def test_random_erasing_fills_one_rectangle_of_the_stated_size_per_image():
    from ml.augment import ERASING_AREA

    out = Augmentation(**{**NOTHING, "erasing": 1.0})(IMAGES, np.random.default_rng(4))

    for before, after in zip(IMAGES, out, strict=True):
        changed = np.argwhere(before[:, :, 0] != after[:, :, 0])
        (y0, x0), (y1, x1) = changed.min(axis=0), changed.max(axis=0)
        box = (y1 - y0 + 1) * (x1 - x0 + 1)
        assert len(changed) > 0.9 * box  # one solid rectangle, not scattered pixels
        assert 0.5 * ERASING_AREA[0] * 48 * 48 <= box <= 1.5 * ERASING_AREA[1] * 48 * 48


def test_a_new_background_replaces_only_the_pixels_past_the_source_image():
    out = Augmentation(**{**NOTHING, "background": 1.0})(IMAGES, np.random.default_rng(4), INSIDE)

    inside, outside = INSIDE[..., 0] == 255, INSIDE[..., 0] == 0
    np.testing.assert_array_equal(out[inside[..., None]], IMAGES[inside[..., None]])
    changed = (out != IMAGES)[..., 0]
    assert changed[outside].mean() > 0.5
    assert all(changed[i][outside[i]].any() for i in range(len(IMAGES)))


def test_crops_that_saw_only_their_image_keep_it_and_all_kinds_of_background_are_drawn():
    whole = np.full_like(INSIDE, 255)
    out = Augmentation(**{**NOTHING, "background": 1.0})(IMAGES, np.random.default_rng(4), whole)
    np.testing.assert_array_equal(out, IMAGES)

    rng = np.random.default_rng(9)
    many = np.concatenate([IMAGES] * 10)
    inside = np.concatenate([INSIDE] * 10)
    fills = Augmentation(**{**NOTHING, "background": 1.0})(many, rng, inside)[:, 0, :, 0]
    flat = np.ptp(fills, axis=1) == 0
    # Flat fills, and textured ones (gradients, other crops); none is left as it was.
    assert 5 <= flat.sum() <= 40
    assert not (fills == many[:, 0, :, 0]).all(axis=1).any()
