"""Validation metrics: confusion, macro-F1, masked per-head metrics and the score."""

from __future__ import annotations

import numpy as np
import pytest

from ml.metrics import (
    by_decade,
    confusion_matrix,
    evaluate_predictions,
    gender_accuracy,
    gender_right,
    macro_f1,
    mae_by_decade,
    validation_score,
)


def one_hot(indices: list[int]) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[indices]


def test_confusion_rows_are_true_moods_and_columns_predictions():
    matrix = confusion_matrix(np.array([0, 0, 1, 3]), np.array([0, 1, 1, 2]), 4)

    assert matrix.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]]


def test_macro_f1_averages_the_f1_of_classes_that_occur():
    matrix = np.array([[2, 0], [1, 1]])

    # class 0: precision 2/3, recall 1 -> 0.8; class 1: precision 1, recall 1/2 -> 2/3
    assert macro_f1(matrix) == pytest.approx((0.8 + 2 / 3) / 2)


def test_samples_without_a_label_are_left_out_of_each_heads_metrics():
    metrics = evaluate_predictions(
        emotion_true=np.array([0, 1, -1, -1]),
        emotion_prob=one_hot([0, 2, 3, 3]),
        age_true=np.array([-1, -1, 30.0, 64.0]),
        age_pred=np.array([[99.0], [99.0], [34.0], [60.0]]),
        gender_true=np.array([-1, -1, 1.0, 0.0]),
        gender_prob=np.array([[0.0], [0.0], [0.9], [0.7]]),
    )

    assert metrics["mood_count"] == 2 and metrics["mood_accuracy"] == 0.5
    assert metrics["mood_recall"] == {"angry": 1.0, "happy": 0.0, "neutral": None, "sad": None}
    assert metrics["age_mae"] == pytest.approx(4.0)
    assert metrics["age_mae_by_decade"] == {
        "30-39": {"mae": 4.0, "count": 1},
        "60-69": {"mae": 4.0, "count": 1},
    }
    assert metrics["gender_accuracy"] == 0.5


def test_a_head_without_labels_has_no_metrics_and_is_left_out_of_the_score():
    metrics = evaluate_predictions(
        emotion_true=np.array([0, 1]),
        emotion_prob=one_hot([0, 1]),
        age_true=np.array([-1.0, -1.0]),
        age_pred=np.zeros(2),
        gender_true=np.array([-1.0, -1.0]),
        gender_prob=np.zeros(2),
    )

    assert metrics["age_mae"] is None and metrics["gender_accuracy"] is None
    assert metrics["score"] == pytest.approx(1.0)


def test_the_score_weights_mood_f1_most_and_scores_age_by_mae():
    perfect = validation_score({"mood_macro_f1": 1.0, "gender_accuracy": 1.0, "age_mae": 0.0})
    worse_mood = validation_score({"mood_macro_f1": 0.5, "gender_accuracy": 1.0, "age_mae": 0.0})
    worse_gender = validation_score({"mood_macro_f1": 1.0, "gender_accuracy": 0.5, "age_mae": 0.0})
    worse_age = validation_score({"mood_macro_f1": 1.0, "gender_accuracy": 1.0, "age_mae": 10})

    assert perfect == pytest.approx(1.0)
    assert worse_mood < worse_gender < perfect
    assert worse_age == pytest.approx(0.9)


def test_the_oldest_decade_is_open_ended():
    result = mae_by_decade(np.array([85.0, 101.0]), np.array([80.0, 100.0]))

    assert result == {"80+": {"mae": 3.0, "count": 2}}


def test_gender_is_right_or_wrong_per_labelled_face_and_unknown_elsewhere():
    right = gender_right(np.array([1, 0, 1, -1]), np.array([0.7, 0.5, 0.2, 0.9]))

    np.testing.assert_array_equal(right, [1.0, 0.0, 0.0, np.nan])
    assert gender_accuracy(np.array([1, 0, 1, -1]), np.array([0.7, 0.5, 0.2, 0.9])) == 1 / 3
    assert gender_accuracy(np.array([-1]), np.array([0.9])) is None


def test_by_decade_counts_every_aged_face_and_only_the_labelled_ones_for_gender():
    result = by_decade(
        np.array([5.0, 8.0, 33.0, -1.0]),
        np.array([1.0, 3.0, 4.0, 9.0]),
        np.array([1.0, np.nan, 0.0, 1.0]),
    )

    assert result == {
        "0-9": {"n": 2, "age_mae": 2.0, "gender_accuracy": 1.0},
        "30-39": {"n": 1, "age_mae": 4.0, "gender_accuracy": 0.0},
    }
