"""Validation metrics in pure numpy, shared by training and evaluation.

Labels follow ``ml.datasets``: emotion index into ``MOODS`` or -1, age in years or -1,
gender 1 female / 0 male or -1; samples without a label are left out of that head's metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ml.labels import MOODS

#: Weights of the validation score (``validation_score``); emotion matters most to the player.
SCORE_WEIGHTS: dict[str, float] = {"mood_macro_f1": 0.6, "gender_accuracy": 0.2, "age": 0.2}
#: An age MAE of this many years or more scores 0 in ``validation_score``; 0 years scores 1.
SCORE_AGE_MAE_SPAN = 20.0
#: Age decades reported by ``mae_by_decade``; the last one is open-ended.
DECADES: tuple[int, ...] = (0, 10, 20, 30, 40, 50, 60, 70, 80)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    """int64 (classes, classes) counts; rows are true classes, columns predictions."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return matrix


def per_class_recall(matrix: np.ndarray) -> np.ndarray:
    """float64 (K,) recall per class from a confusion matrix; NaN for classes never true."""
    support = matrix.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(matrix) / support, np.nan)


def macro_f1(matrix: np.ndarray) -> float:
    """Mean F1 over the classes that occur (as truth or prediction) in a confusion matrix."""
    tp = np.diag(matrix).astype(np.float64)
    true = matrix.sum(axis=1)
    pred = matrix.sum(axis=0)
    present = (true + pred) > 0
    if not present.any():
        return float("nan")
    f1 = 2.0 * tp[present] / (true[present] + pred[present])
    return float(f1.mean())


def decades(age_true: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks of the faces in each decade of ``DECADES`` that has any, by name."""
    masks: dict[str, np.ndarray] = {}
    for i, low in enumerate(DECADES):
        high = DECADES[i + 1] if i + 1 < len(DECADES) else None
        in_decade = age_true >= low if high is None else (age_true >= low) & (age_true < high)
        if in_decade.any():
            masks[f"{low}+" if high is None else f"{low}-{high - 1}"] = in_decade
    return masks


def mae_by_decade(age_true: np.ndarray, age_pred: np.ndarray) -> dict[str, dict[str, float]]:
    """Age MAE per decade of the true age: ``{"20-29": {"mae": years, "count": n}, ...}``."""
    return {
        name: {
            "mae": float(np.abs(age_pred[mask] - age_true[mask]).mean()),
            "count": int(mask.sum()),
        }
        for name, mask in decades(age_true).items()
    }


def gender_right(gender_true: np.ndarray, gender_prob: np.ndarray) -> np.ndarray:
    """Per face 1.0 where the gender read at a 0.5 threshold (``gender_prob``, p(female)) is
    right, 0.0 where it is wrong, and NaN where the face has no gender label (-1)."""
    gender_true = np.asarray(gender_true, np.float64).reshape(-1)
    said_female = np.asarray(gender_prob, np.float64).reshape(-1) >= 0.5
    return np.where(gender_true >= 0, said_female == (gender_true >= 0.5), np.nan)


def gender_accuracy(gender_true: np.ndarray, gender_prob: np.ndarray) -> float | None:
    """Share of the gender-labelled faces (``gender_true`` 1/0, -1 unknown) read right at a
    0.5 threshold; None when none is labelled."""
    right = gender_right(gender_true, gender_prob)
    labelled = np.isfinite(right)
    return float(right[labelled].mean()) if labelled.any() else None


def by_decade(
    age_true: np.ndarray, age_error: np.ndarray, right: np.ndarray
) -> dict[str, dict[str, Any]]:
    """Per decade of the true age (``decades``): ``n`` faces, ``age_mae`` (the mean of their
    ``age_error``) and ``gender_accuracy`` (the mean of ``right``, 1/0 and NaN where unlabelled
    as ``gender_right`` gives it; None where none is labelled)."""
    age_error, right = np.asarray(age_error, np.float64), np.asarray(right, np.float64)
    result = {}
    for name, in_decade in decades(np.asarray(age_true, np.float64)).items():
        sexed = in_decade & np.isfinite(right)
        result[name] = {
            "n": int(in_decade.sum()),
            "age_mae": float(age_error[in_decade].mean()),
            "gender_accuracy": float(right[sexed].mean()) if sexed.any() else None,
        }
    return result


def mean_over_views(per_frame: np.ndarray, views: int) -> np.ndarray:
    """Each face's mean over its ``views`` frames, the frames given view after view (every
    face's first view, then every face's second, ...), as the live path makes them.

    Raises:
        ValueError: ``views`` does not divide the frames.
    """
    per_frame = np.asarray(per_frame, np.float64)
    if views < 1 or len(per_frame) % views:
        raise ValueError(f"{len(per_frame)} frames are not {views} views of the same faces")
    return per_frame.reshape(views, -1).mean(axis=0)


def standard_error(samples: np.ndarray) -> float | None:
    """The standard error of the mean of independent ``samples``; None for fewer than two."""
    samples = np.asarray(samples, np.float64)
    if len(samples) < 2:
        return None
    return float(samples.std(ddof=1) / np.sqrt(len(samples)))


def evaluate_predictions(
    *,
    emotion_true: np.ndarray,
    emotion_prob: np.ndarray,
    age_true: np.ndarray,
    age_pred: np.ndarray,
    gender_true: np.ndarray,
    gender_prob: np.ndarray,
) -> dict[str, Any]:
    """All validation metrics from labels (N,) and model outputs for the same N samples.

    Args:
        emotion_true: int (N,) mood index or -1. emotion_prob: float (N, len(MOODS)).
        age_true: float (N,) years or -1. age_pred: float (N,) or (N, 1) years.
        gender_true: float (N,) 1/0 or -1. gender_prob: float (N,) or (N, 1) p(female).

    Returns:
        JSON-ready dict: mood_accuracy, mood_macro_f1, mood_recall (per mood), confusion
        (rows true, columns predicted, MOODS order), age_mae, age_mae_by_decade,
        gender_accuracy, counts per head, and ``score`` (see ``validation_score``). Metrics of a
        head with no labelled sample are None.
    """
    emotion_true = np.asarray(emotion_true).reshape(-1).astype(np.int64)
    age_true = np.asarray(age_true, np.float64).reshape(-1)
    age_pred = np.asarray(age_pred, np.float64).reshape(-1)
    gender_true = np.asarray(gender_true, np.float64).reshape(-1)
    gender_prob = np.asarray(gender_prob, np.float64).reshape(-1)
    k = len(MOODS)
    result: dict[str, Any] = {}

    has_mood = emotion_true >= 0
    result["mood_count"] = int(has_mood.sum())
    if has_mood.any():
        predicted = np.asarray(emotion_prob).reshape(-1, k).argmax(axis=1)[has_mood]
        matrix = confusion_matrix(emotion_true[has_mood], predicted, k)
        recall = per_class_recall(matrix)
        result["mood_accuracy"] = float(np.trace(matrix) / matrix.sum())
        result["mood_macro_f1"] = macro_f1(matrix)
        result["mood_recall"] = {
            mood: (None if np.isnan(r) else float(r)) for mood, r in zip(MOODS, recall, strict=True)
        }
        result["confusion"] = matrix.tolist()
    else:
        result.update(mood_accuracy=None, mood_macro_f1=None, mood_recall=None, confusion=None)

    has_age = age_true >= 0
    result["age_count"] = int(has_age.sum())
    if has_age.any():
        result["age_mae"] = float(np.abs(age_pred[has_age] - age_true[has_age]).mean())
        result["age_mae_by_decade"] = mae_by_decade(age_true[has_age], age_pred[has_age])
    else:
        result.update(age_mae=None, age_mae_by_decade=None)

    result["gender_count"] = int((gender_true >= 0).sum())
    result["gender_accuracy"] = gender_accuracy(gender_true, gender_prob)

    result["score"] = validation_score(result)
    return result


def validation_score(metrics: dict[str, Any]) -> float:
    """The single number early stopping and model selection maximise, in [0, 1].

    A weighted mean (``SCORE_WEIGHTS``) of mood macro-F1, gender accuracy and an age term
    ``max(0, 1 - age_mae / SCORE_AGE_MAE_SPAN)``; heads without validation labels are left
    out and the remaining weights renormalised.
    """
    terms: dict[str, float] = {}
    if metrics.get("mood_macro_f1") is not None:
        terms["mood_macro_f1"] = float(metrics["mood_macro_f1"])
    if metrics.get("gender_accuracy") is not None:
        terms["gender_accuracy"] = float(metrics["gender_accuracy"])
    if metrics.get("age_mae") is not None:
        terms["age"] = max(0.0, 1.0 - float(metrics["age_mae"]) / SCORE_AGE_MAE_SPAN)
    if not terms:
        return 0.0
    total = sum(SCORE_WEIGHTS[name] for name in terms)
    return sum(SCORE_WEIGHTS[name] * value for name, value in terms.items()) / total
