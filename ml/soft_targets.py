"""Soft targets: an ensemble's estimates for the training faces, kept by face name.

``write_soft_targets`` writes them once (``.npz``), ``read_soft_targets`` reads them back and
``SoftTargets.for_faces`` lines them up with a training set; ``blend_targets`` makes a
student's targets from them and the true labels. ``ml.distill`` runs the ensemble that makes
them; ``train_model --distill FILE`` trains on them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ml.datasets import FaceSet
from ml.labels import HEADS, MOODS
from ml.preprocessing import Preprocessing

logger = logging.getLogger(__name__)

#: ``format`` and ``format_version`` of a soft-targets file.
TARGETS_FORMAT = "musicmood-soft-targets"
TARGETS_VERSION = 1


@dataclass(frozen=True)
class Teacher:
    """Soft targets lined up with the faces of a ``FaceSet``; NaN where a face has none.

    Attributes:
        emotion: float32 (N, 4) mood probabilities (``labels.MOODS``), or NaN rows.
        age: float32 (N,) years, or NaN.
        gender: float32 (N,) probability female, or NaN.
    """

    emotion: np.ndarray
    age: np.ndarray
    gender: np.ndarray

    def __len__(self) -> int:
        return len(self.age)


@dataclass(frozen=True)
class SoftTargets:
    """The contents of a soft-targets file: per-face ensemble estimates keyed by face name."""

    names: np.ndarray  # str (N,), unique
    emotion: np.ndarray  # float32 (N, 4)
    age: np.ndarray  # float32 (N,)
    gender: np.ndarray  # float32 (N,)
    preprocessing: Preprocessing
    members: tuple[str, ...]

    def for_faces(self, faces: FaceSet, params: Preprocessing) -> Teacher:
        """The targets of ``faces``, row by row (matched by name; NaN for faces not here).

        The estimates are of each face, not of its pixels: a student at another input size
        learns from a teacher that read the same crops (framing, margin, alignment, colour) at
        its own size.

        Raises:
            ValueError: the targets were made from crops other than ``params`` makes.
        """
        if replace(params, input_size=self.preprocessing.input_size) != self.preprocessing:
            raise ValueError(
                f"Expected soft targets made from faces preprocessed as {params.to_dict()}, "
                f"got {self.preprocessing.to_dict()} (members {list(self.members)})."
            )
        row = {str(name): i for i, name in enumerate(self.names)}
        index = np.asarray([row.get(name, -1) for name in faces.names], dtype=np.int64)
        found = index >= 0
        emotion = np.full((len(faces), len(MOODS)), np.nan, np.float32)
        age = np.full(len(faces), np.nan, np.float32)
        gender = np.full(len(faces), np.nan, np.float32)
        emotion[found], age[found], gender[found] = (
            self.emotion[index[found]],
            self.age[index[found]],
            self.gender[index[found]],
        )
        logger.info("Soft targets for %d of %d training faces", int(found.sum()), len(faces))
        return Teacher(emotion=emotion, age=age, gender=gender)


def write_soft_targets(
    path: str | Path,
    faces: FaceSet,
    predictions: dict[str, np.ndarray],
    *,
    preprocessing: Preprocessing,
    members: Sequence[str],
) -> Path:
    """Write an ensemble's ``predictions`` (outputs by name, one row per face) for ``faces``.

    Raises:
        ValueError: repeated face names, or predictions not one row per face.
    """
    names = np.asarray(faces.names, dtype=str)
    if len(set(faces.names)) != len(names):
        raise ValueError("Expected unique face names to key the soft targets, got repeats.")
    emotion = np.asarray(predictions["emotion"], np.float32).reshape(len(names), len(MOODS))
    age = np.asarray(predictions["age"], np.float32).reshape(-1)
    gender = np.asarray(predictions["gender"], np.float32).reshape(-1)
    if not len(age) == len(gender) == len(names):
        raise ValueError(f"Expected one prediction per face ({len(names)}), got {len(age)}.")
    meta = {
        "format": TARGETS_FORMAT,
        "format_version": TARGETS_VERSION,
        "moods": list(MOODS),
        "preprocessing": preprocessing.to_dict(),
        "members": [str(member) for member in members],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as handle:  # a file object: np.savez would append .npz to the name
        np.savez_compressed(
            handle, names=names, emotion=emotion, age=age, gender=gender, meta=json.dumps(meta)
        )
    return out


def read_soft_targets(path: str | Path) -> SoftTargets:
    """Read a file ``write_soft_targets`` wrote.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a soft-targets file, other moods, or malformed arrays.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"Expected a soft-targets file at {source}, found none.")
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        meta = json.loads(str(arrays["meta"]))
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{source} is not a soft-targets file: {err}") from err
    if meta.get("format") != TARGETS_FORMAT or meta.get("format_version") != TARGETS_VERSION:
        raise ValueError(
            f"Expected {TARGETS_FORMAT} version {TARGETS_VERSION} in {source}, got "
            f"{meta.get('format')} version {meta.get('format_version')}."
        )
    if tuple(meta.get("moods", ())) != MOODS:
        raise ValueError(f"Expected the moods {list(MOODS)} in {source}, got {meta.get('moods')}.")
    names, emotion = arrays["names"].astype(str), arrays["emotion"].astype(np.float32)
    age, gender = arrays["age"].astype(np.float32), arrays["gender"].astype(np.float32)
    n = len(names)
    if emotion.shape != (n, len(MOODS)) or age.shape != (n,) or gender.shape != (n,):
        raise ValueError(
            f"Expected {n} rows of emotion (4), age and gender in {source}, got shapes "
            f"{emotion.shape}, {age.shape}, {gender.shape}."
        )
    if not (np.isfinite(emotion).all() and np.isfinite(age).all() and np.isfinite(gender).all()):
        raise ValueError(f"Expected finite soft targets in {source}, found NaN or infinity.")
    return SoftTargets(
        names=names,
        emotion=emotion,
        age=age,
        gender=gender,
        preprocessing=Preprocessing.from_dict(meta["preprocessing"]),
        members=tuple(meta.get("members", ())),
    )


def blend_targets(
    labels: dict[str, np.ndarray],
    teacher: Teacher,
    rows: np.ndarray,
    weight: float,
    *,
    fill: bool = False,
    heads: Sequence[str] = HEADS,
) -> dict[str, np.ndarray]:
    """A student's targets for the faces ``rows``: ``weight`` teacher, the rest true labels.

    Args:
        labels: the true targets of those faces (``ml.batches.targets``): emotion int (B,),
            age and gender float (B, 1), -1 for no label.
        teacher: soft targets of the whole training set; ``rows`` index it.
        rows: int (B,) rows of the training set.
        weight: share of the teacher in each target, in [0, 1].
        fill: where a face has no true label for a head but the teacher has an estimate
            (the mood of a UTKFace face, the age and gender of a FER2013 face), the target is
            the teacher's estimate alone, so each head learns from every training face.
        heads: the heads (of ``HEADS``) the teacher teaches; the others keep their
            true labels alone, as in a run without a teacher.

    Returns:
        emotion float32 (B, 1 + 4): the true label (-1: none), then the target distribution,
        ``(1 - weight) * one_hot + weight * teacher`` (the one-hot alone without a teacher row);
        age and gender float32 (B, 1): the same blend of label and teacher, -1 kept where the
        face has no label. The loss only counts rows whose first value is not -1; with
        ``fill``, a face taught by the teacher alone carries the teacher's most likely mood
        there (for the class weights) and the teacher's age and gender.
    """
    unknown = set(heads) - set(HEADS)
    if unknown:
        raise ValueError(f"Expected heads among {HEADS}, got {sorted(unknown)}.")
    emotion = labels["emotion"].reshape(-1)
    labelled = emotion >= 0
    dist = np.zeros((len(emotion), len(MOODS)), np.float32)
    dist[np.flatnonzero(labelled), emotion[labelled]] = 1.0
    soft = teacher.emotion[rows]
    known = np.isfinite(soft).all(axis=1) & ("emotion" in heads)
    taught = labelled & known
    dist[taught] = (1.0 - weight) * dist[taught] + weight * soft[taught]
    classes = emotion.astype(np.float32)
    if fill:
        filled = ~labelled & known
        dist[filled] = soft[filled]
        classes[filled] = soft[filled].argmax(axis=1)
    out = {"emotion": np.concatenate([classes[:, None], dist], axis=1)}
    for name in ("age", "gender"):
        target = labels[name].reshape(-1).astype(np.float32).copy()
        soft_values = getattr(teacher, name)[rows]
        known = np.isfinite(soft_values) & (name in heads)
        taught = (target >= 0) & known
        target[taught] = (1.0 - weight) * target[taught] + weight * soft_values[taught]
        if fill:
            filled = (target < 0) & known
            target[filled] = soft_values[filled]
        out[name] = target.reshape(-1, 1)
    return out
