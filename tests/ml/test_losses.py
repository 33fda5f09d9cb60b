"""Masked per-head losses: -1 labels are ignored and averages run over labelled samples."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ml.losses import (
    MaskedAgeLoss,
    MaskedBinaryCrossentropy,
    MaskedSparseCategoricalCrossentropy,
    balanced_class_weights,
)

PROBS = np.array(
    [[0.7, 0.1, 0.1, 0.1], [0.2, 0.5, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25], [0.1, 0.1, 0.1, 0.7]],
    dtype=np.float32,
)


def value(loss, y_true, y_pred) -> float:
    return float(keras.ops.convert_to_numpy(loss(np.asarray(y_true), np.asarray(y_pred))))


def test_a_batch_without_emotion_labels_gives_exactly_zero_emotion_loss():
    loss = MaskedSparseCategoricalCrossentropy(class_weights=[2.0, 1.0, 1.0, 1.0])

    assert value(loss, [-1, -1, -1, -1], PROBS) == 0.0


def test_emotion_loss_is_the_mean_cross_entropy_over_labelled_samples_only():
    labels = np.array([0, -1, 2, -1])

    masked = value(MaskedSparseCategoricalCrossentropy(), labels, PROBS)

    expected = -(np.log(0.7) + np.log(0.25)) / 2
    assert masked == pytest.approx(expected, rel=1e-5)


def test_emotion_loss_matches_keras_cross_entropy_when_every_sample_is_labelled():
    labels = np.array([0, 1, 2, 3])
    reference = keras.losses.SparseCategoricalCrossentropy()(labels, PROBS)

    masked = value(MaskedSparseCategoricalCrossentropy(), labels, PROBS)

    assert masked == pytest.approx(float(reference), rel=1e-5)


def test_predictions_of_unlabelled_samples_do_not_change_the_emotion_loss():
    labels = np.array([0, -1, 2, -1])
    other = PROBS.copy()
    other[[1, 3]] = [[0.97, 0.01, 0.01, 0.01], [0.01, 0.01, 0.01, 0.97]]

    loss = MaskedSparseCategoricalCrossentropy()

    assert value(loss, labels, other) == pytest.approx(value(loss, labels, PROBS), rel=1e-6)


def test_label_smoothing_matches_keras_categorical_cross_entropy_with_smoothed_targets():
    labels = np.array([0, 1, 2, 3])
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(4)[labels], PROBS)

    smoothed = value(MaskedSparseCategoricalCrossentropy(label_smoothing=0.1), labels, PROBS)

    assert smoothed == pytest.approx(float(reference), rel=1e-5)
    assert smoothed > value(MaskedSparseCategoricalCrossentropy(), labels, PROBS)
    with pytest.raises(ValueError, match="label_smoothing"):
        MaskedSparseCategoricalCrossentropy(label_smoothing=1.0)


def test_class_weights_scale_each_sample_by_its_true_class_weight():
    labels = np.array([0, 3, -1, -1])
    weighted = MaskedSparseCategoricalCrossentropy(class_weights=[3.0, 1.0, 1.0, 0.5])

    expected = -(3.0 * np.log(PROBS[0, 0]) + 0.5 * np.log(PROBS[1, 3])) / 2
    assert value(weighted, labels, PROBS) == pytest.approx(expected, rel=1e-5)


def test_age_mae_is_in_years_over_labelled_faces():
    loss = MaskedAgeLoss(kind="mae")

    got = value(loss, [[30.0], [-1.0], [50.0]], [[34.0], [90.0], [40.0]])

    assert got == pytest.approx((4 + 10) / 2)


def test_age_huber_is_quadratic_below_delta_and_linear_above():
    loss = MaskedAgeLoss(kind="huber", delta=5.0)

    small = value(loss, [[30.0]], [[32.0]])
    large = value(loss, [[30.0]], [[45.0]])

    assert small == pytest.approx(0.5 * 2**2 / 5)
    assert large == pytest.approx(15 - 2.5)


def test_a_batch_without_ages_or_genders_gives_zero_loss():
    assert value(MaskedAgeLoss(), [-1.0, -1.0], [[20.0], [70.0]]) == 0.0
    assert value(MaskedBinaryCrossentropy(), [[-1.0], [-1.0]], [[0.2], [0.9]]) == 0.0


def test_gender_loss_matches_keras_binary_cross_entropy_on_labelled_faces():
    labels = np.array([[1.0], [-1.0], [0.0]], dtype=np.float32)
    probs = np.array([[0.8], [0.01], [0.3]], dtype=np.float32)
    reference = keras.losses.BinaryCrossentropy()(labels[[0, 2]], probs[[0, 2]])

    assert value(MaskedBinaryCrossentropy(), labels, probs) == pytest.approx(
        float(reference), rel=1e-4
    )


def test_losses_survive_a_config_round_trip():
    loss = MaskedSparseCategoricalCrossentropy(class_weights=[1.5, 1.0, 1.0, 0.5])
    age = MaskedAgeLoss(kind="mae", delta=3.0)

    again = keras.losses.deserialize(keras.losses.serialize(loss))
    age_again = keras.losses.deserialize(keras.losses.serialize(age))

    assert again.class_weights == [1.5, 1.0, 1.0, 0.5]
    assert (age_again.kind, age_again.delta) == ("mae", 3.0)


def test_balanced_class_weights_favour_rare_moods_and_average_one_per_sample():
    labels = np.array([0] * 10 + [1] * 30 + [2] * 20 + [3] * 20 + [-1] * 50)

    weights = np.array(balanced_class_weights(labels, 4))

    assert weights.argmax() == 0 and weights.argmin() == 1
    labelled = labels[labels >= 0]
    assert weights[labelled].mean() == pytest.approx(1.0)
