"""Two models on the same faces: paired differences, each with its standard error.

Two models' figures from separate evaluations each carry the chance of which faces were drawn:
on 2,087 held-out faces a mood accuracy near 76 % is known to about 0.9 point, so the
difference of two such figures to about 1.3. Much of that chance is shared, as a face that is
hard for one model is mostly hard for the other; scored face by face and subtracted, the
difference is known to its own standard error, which shrinks with how often the two models
agree (0.6 point for two of our trained models, ``MODEL_CARD.md``). That is what deciding
between a new model and the shipped one needs (``ml.evaluate --baseline``).

``face_scores`` scores each face of an evaluation on its crop, and ``live_face_scores`` each
face in the live path (its frames at every size averaged, as a face is one sample); ``compare``
pairs two models' scores by face name. The scores stay in memory: only the figures they make
are written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ml.datasets import FaceSet
from ml.metrics import gender_right, mean_over_views, standard_error

#: The metrics compared per dataset: each face scores 1 or 0 (accuracy) or its absolute error.
METRICS: dict[str, tuple[str, ...]] = {
    "fer": ("accuracy",),
    "utkface": ("age_mae", "gender_accuracy"),
}


def face_scores(dataset: str, faces: FaceSet, outputs: Mapping[str, np.ndarray]) -> dict:
    """Each face's score on its direct crop, per metric of ``METRICS[dataset]``; NaN where the
    face has no such label. The means over the labelled faces are the crops' figures."""
    if dataset == "fer":
        right = np.argmax(outputs["emotion"], axis=1) == faces.emotion
        return {"accuracy": np.where(faces.emotion >= 0, right, np.nan)}
    age = np.asarray(faces.age, np.float64)
    said_age = np.asarray(outputs["age"], np.float64).reshape(-1)
    return {
        "age_mae": np.where(age >= 0, np.abs(said_age - age), np.nan),
        "gender_accuracy": gender_right(faces.gender, outputs["gender"]),
    }


def live_face_scores(frame_scores: Mapping[str, np.ndarray], views: int) -> dict:
    """Per metric, each face's score over its ``views`` live frames (``frame_scores``: sizes
    one after the other, as ``ml.live``'s metrics give them), the frames of one face averaged."""
    return {metric: mean_over_views(scores, views) for metric, scores in frame_scores.items()}


def paired(candidate: np.ndarray, baseline: np.ndarray) -> dict[str, float | int | None]:
    """The mean of each and of their face-by-face difference, with that difference's standard
    error over faces (None for fewer than two), over the faces both scored."""
    candidate, baseline = np.asarray(candidate, np.float64), np.asarray(baseline, np.float64)
    both = np.isfinite(candidate) & np.isfinite(baseline)
    difference = candidate[both] - baseline[both]
    n = int(both.sum())
    return {
        "n": n,
        "candidate": float(candidate[both].mean()) if n else None,
        "baseline": float(baseline[both].mean()) if n else None,
        "difference": float(difference.mean()) if n else None,
        "se": standard_error(difference),
    }


def compare(candidate: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Two evaluations' scores (per dataset: ``names`` and per scope a dict of per-face scores,
    ``face_scores`` for "crops" and ``live_face_scores`` for "live"), paired by face name.

    Returns per dataset both evaluated: ``faces`` (how many both scored) and per scope and
    metric ``paired``'s figures. Where both have crops and live scores, scope "gap" compares
    live minus crops face by face: whether one model's live path loses less than the other's.
    """
    result: dict[str, Any] = {}
    for dataset in (name for name in METRICS if name in candidate and name in baseline):
        ours, theirs = candidate[dataset], baseline[dataset]
        row = {str(name): i for i, name in enumerate(theirs["names"])}
        pairs = [(i, row[str(name)]) for i, name in enumerate(ours["names"]) if str(name) in row]
        mine = np.asarray([i for i, _ in pairs], np.int64)
        other = np.asarray([j for _, j in pairs], np.int64)
        scopes = [scope for scope in ("crops", "live") if scope in ours and scope in theirs]
        entry: dict[str, Any] = {"faces": len(pairs)}
        for scope in scopes:
            entry[scope] = {
                metric: paired(ours[scope][metric][mine], theirs[scope][metric][other])
                for metric in METRICS[dataset]
            }
        if len(scopes) == 2:
            entry["gap"] = {
                metric: paired(
                    (ours["live"][metric] - ours["crops"][metric])[mine],
                    (theirs["live"][metric] - theirs["crops"][metric])[other],
                )
                for metric in METRICS[dataset]
            }
        result[dataset] = entry
    return result
