"""Evaluation through the live path: faces composed into camera frames, analyzed as served.

``evaluate_model`` on its own measures the network on crops cut as training cuts them. What a
listener gets also depends on the face being found and framed in a camera frame. Here each
evaluation face (its source image, not its crop) is pasted into a 640x480 frame at three sizes
(near, middle and far), encoded as the page encodes it (JPEG quality 70) and given to
``Analyzer.analyze`` (decode, detection, crop, network), exactly as a frame from the page is.

Around the pasted image the frame shows a room-like ``background`` by default. Dataset images
are tight chips: a face's crop reaches past their edges (by about a sixth of its area on
UTKFace), and where a camera shows the rest of the head, the room background cuts through it.
``background="edge"`` fills the frame with the image's own edge pixels replicated outwards
instead, which is what the direct-crop figures assume past an image's edge, so the two together
separate what the detector, the JPEG and the framing cost from what the cut-off head costs.

Reported per dataset: detection recall by size, the metrics of the found faces by size
(``by_size``), and the usual metrics over found faces and over all faces. Over all faces a
missed face counts as a wrong mood and a wrong gender, and its age is taken as the mean age
predicted for the found faces (a listener whose face is not found gets no estimate at all;
this keeps MAE comparable).

Finding faces has a price: a detector that finds more of them also finds faces where nobody
is. ``face_free_frames`` are camera frames with no face in them (scikit-image's bundled sample
photos and textures, and synthetic rooms), and ``count_false_faces`` counts the frames in which
the analyzer reports a face anyway, so recall is never read without its false faces.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ml.analysis import FaceAnalysis
from ml.datasets import FaceSet
from ml.frames import (
    LIVE_FRAME,
    LIVE_JPEG_QUALITY,
    LIVE_SIZES,
    background,
    compose_frame,
    encode_jpeg,
    face_at,
)
from ml.image import read_image_file
from ml.labels import MOODS
from ml.metrics import (
    by_decade,
    evaluate_predictions,
    gender_accuracy,
    gender_right,
    mean_over_views,
    standard_error,
)

#: scikit-image's sample images (``skimage.data`` functions, shipped in its wheel) that show no
#: face: objects, textures, text, scenes. The astronaut, the cameraman and the cat are left out,
#: and so are the coins: they bear portrait heads, which a face detector rightly finds.
FACE_FREE_SAMPLES: tuple[str, ...] = (
    "brick",
    "checkerboard",
    "clock",
    "coffee",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "microaneurysms",
    "moon",
    "page",
    "retina",
    "rocket",
    "stereo_motorcycle",
    "text",
)
#: Frames made of each sample image: the whole image, then crops of 30-100 % of its sides.
FACE_FREE_VIEWS = 9
#: Synthetic rooms (``background``) among the face-free frames.
FACE_FREE_ROOMS = 100


def analyze_live(
    analyzer,
    images: Sequence[np.ndarray],
    *,
    sizes: dict[str, int] = LIVE_SIZES,
    fill: str = "room",
    show_progress: bool = False,
) -> dict[str, list[FaceAnalysis | None]]:
    """Per size name, the face ``analyzer`` found for each image (None when missed), the
    frames around the images filled as ``fill`` says (``compose_frame``)."""
    from tqdm import tqdm

    found: dict[str, list[FaceAnalysis | None]] = {name: [] for name in sizes}
    jobs = [(name, side, index) for name, side in sizes.items() for index in range(len(images))]
    for name, side, index in tqdm(
        jobs, desc="live frames", unit="frame", disable=not show_progress, leave=False
    ):
        frame, placed = compose_frame(images[index], side, seed=index * 7919 + side, fill=fill)
        found[name].append(face_at(analyzer.analyze(encode_jpeg(frame)).faces, placed))
    return found


def sample_picture(name: str) -> np.ndarray:
    """scikit-image's sample image ``name`` as BGR uint8 (grey, boolean, float and RGBA ones
    converted)."""
    from skimage import data, util

    image = getattr(data, name)()
    if isinstance(image, tuple):  # stereo pairs: the left view
        image = image[0]
    image = util.img_as_ubyte(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def face_free_frames(
    samples: Sequence[str] = FACE_FREE_SAMPLES,
    views: int = FACE_FREE_VIEWS,
    rooms: int = FACE_FREE_ROOMS,
    size: tuple[int, int] = LIVE_FRAME,
) -> dict[str, list[np.ndarray]]:
    """Camera-sized BGR frames with no face in them: ``views`` of each sample image (the
    whole, then seeded crops of 30-100 % of its sides, each stretched to ``size``) as "photos",
    and ``rooms`` synthetic rooms (``background``) as "rooms".

    Raises:
        ImportError: scikit-image (a test requirement) is not installed.
    """
    rng = np.random.default_rng(0)
    photos = []
    for name in samples:
        image = sample_picture(name)
        height, width = image.shape[:2]
        photos.append(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        for _ in range(views - 1):
            scale = rng.uniform(0.3, 1.0)
            h, w = max(16, int(height * scale)), max(16, int(width * scale))
            y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            photos.append(cv2.resize(image[y : y + h, x : x + w], size))
    return {"photos": photos, "rooms": [background(seed, size) for seed in range(rooms)]}


def count_false_faces(analyzer, frames: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """Per kind of face-free frame and over all: how many frames ``analyzer`` reported at
    least one face in (``with_face``), of how many, and the share (``rate``)."""
    result: dict[str, Any] = {}
    for kind, kind_frames in frames.items():
        hits = sum(bool(analyzer.analyze(encode_jpeg(frame)).faces) for frame in kind_frames)
        result[kind] = {"frames": len(kind_frames), "with_face": hits}
    total = sum(entry["frames"] for entry in result.values())
    result["all"] = {
        "frames": total,
        "with_face": sum(entry["with_face"] for entry in result.values()),
    }
    for entry in result.values():
        entry["rate"] = entry["with_face"] / entry["frames"] if entry["frames"] else None
    return result


def _outputs(found: list[FaceAnalysis | None]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(mask of found faces, model outputs of the found ones as evaluate_predictions takes)."""
    mask = np.asarray([face is not None for face in found], dtype=bool)
    hits = [face for face in found if face is not None]
    return mask, {
        "emotion": np.asarray([[f.emotion[m] for m in MOODS] for f in hits]).reshape(
            -1, len(MOODS)
        ),
        "age": np.asarray([f.age for f in hits], dtype=np.float64),
        "gender": np.asarray([f.female for f in hits], dtype=np.float64),
    }


def _emotion_all(true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro-F1 and recall over all faces; a missed face (-1) is a wrong answer."""
    recall, f1 = {}, []
    for index, mood in enumerate(MOODS):
        positives = true == index
        chosen = predicted == index
        hits = int(np.sum(positives & chosen))
        r = hits / max(1, int(positives.sum()))
        p = hits / max(1, int(chosen.sum()))
        recall[mood] = r
        f1.append(0.0 if p + r == 0 else 2 * p * r / (p + r))
    return {
        "n": len(true),
        "accuracy": float(np.mean(predicted == true)) if len(true) else None,
        "macro_f1": float(np.mean(f1)) if len(true) else None,
        "recall": recall,
    }


def gap_by_cause(
    live: np.ndarray, crops: np.ndarray, found: np.ndarray, views: int = 1
) -> dict[str, float | None]:
    """A live figure minus the direct-crop one, split by cause, with standard errors.

    ``live`` and ``crops`` hold one score per frame (1 or 0 for a right or wrong answer, or an
    absolute age error), ``found`` whether the live path found the frame's face. ``total`` is
    the mean of ``live - crops`` over all frames; ``found_faces`` is the sum over the found
    frames and ``missed_faces`` over the missed ones, each divided by all frames, so the two
    add up to the total: what the found faces lose on their way through the live path, and what
    the missed ones cost (the mean over all frames of what the crops would have said of them).

    The frames are ``views`` copies of the same faces, one after the other (one per live
    size), so frames of one face are not independent samples. ``total_se`` and
    ``found_faces_se`` are the standard errors of ``total`` and ``found_faces`` over faces:
    each face's difference averaged over its views is one sample (None for fewer than two
    faces). They say how far another draw of as many faces could move the figure, which is
    what a bar such as "within 0.5 point of the crops" is read against.
    """
    n = max(1, len(live))
    found = np.asarray(found, bool)
    difference = np.asarray(live, np.float64) - np.asarray(crops, np.float64)
    found_part = float(difference[found].sum() / n)
    missed_part = float(difference[~found].sum() / n)
    return {
        "total": found_part + missed_part,
        "found_faces": found_part,
        "missed_faces": missed_part,
        "total_se": standard_error(mean_over_views(difference, views)),
        "found_faces_se": standard_error(mean_over_views(np.where(found, difference, 0.0), views)),
    }


def fer_live_metrics(
    faces: FaceSet,
    found: dict[str, list[FaceAnalysis | None]],
    crops: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Live-path emotion metrics of FER2013 faces: recall by size, found and all faces.

    With ``crops`` (the model's outputs on the same faces' direct crops, in ``faces``' order)
    also ``found.crops_accuracy``, the crops' accuracy on the faces the live path found, and
    ``gap.accuracy`` (``gap_by_cause``). ``frame_scores.accuracy`` holds each frame's score
    (1 right, 0 wrong or missed; sizes one after the other), for ``ml.comparison``; it is
    taken out before anything is written.
    """
    true_all, predicted_all, found_true, found_prob = [], [], [], []
    recall: dict[str, float | None] = {}
    by_size: dict[str, dict[str, Any]] = {}
    for name, results in found.items():
        mask, out = _outputs(results)
        recall[name] = float(mask.mean()) if len(mask) else None
        predicted = np.full(len(mask), -1)
        predicted[mask] = np.argmax(out["emotion"], axis=1) if mask.any() else []
        right = predicted[mask] == faces.emotion[mask]
        by_size[name] = {
            "n": int(mask.sum()),
            "accuracy": float(right.mean()) if mask.any() else None,
        }
        true_all.append(faces.emotion)
        predicted_all.append(predicted)
        found_true.append(faces.emotion[mask])
        found_prob.append(out["emotion"])
    m = evaluate_predictions(
        emotion_true=np.concatenate(found_true),
        emotion_prob=np.concatenate(found_prob),
        age_true=np.full(sum(len(t) for t in found_true), -1.0),
        age_pred=np.zeros(sum(len(t) for t in found_true)),
        gender_true=np.full(sum(len(t) for t in found_true), -1.0),
        gender_prob=np.zeros(sum(len(t) for t in found_true)),
    )
    true, predicted = np.concatenate(true_all), np.concatenate(predicted_all)
    result = {
        "recall": recall,
        "by_size": by_size,
        "found": {
            "n": m["mood_count"],
            "accuracy": m["mood_accuracy"],
            "macro_f1": m["mood_macro_f1"],
            "recall": m["mood_recall"],
        },
        "all": _emotion_all(true, predicted),
        "frame_scores": {"accuracy": (predicted == true).astype(np.float64)},
    }
    if crops is not None and len(true):
        mask = predicted >= 0
        crop_right = np.tile(np.argmax(crops["emotion"], axis=1) == faces.emotion, len(found))
        result["found"]["crops_accuracy"] = float(crop_right[mask].mean()) if mask.any() else None
        result["gap"] = {"accuracy": gap_by_cause(predicted == true, crop_right, mask, len(found))}
    return result


def utkface_live_metrics(
    faces: FaceSet,
    found: dict[str, list[FaceAnalysis | None]],
    crops: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Live-path age and gender metrics of UTKFace faces: recall by size, found and all, and
    over all frames by decade of the true age (``all.by_decade``: frames, age MAE, gender).

    With ``crops`` (the model's outputs on the same faces' direct crops, in ``faces``' order)
    also ``found.crops_age_mae`` and ``found.crops_gender_accuracy``, the crops' figures on the
    faces the live path found, and ``gap.age_mae`` and ``gap.gender_accuracy``
    (``gap_by_cause``, over the faces with that label). ``frame_scores`` holds each frame's
    ``age_mae`` (absolute error) and ``gender_accuracy`` (1 or 0), NaN where the face has no
    such label, as the figures over all frames count them, for ``ml.comparison``; it is taken
    out before anything is written.
    """
    recall: dict[str, float | None] = {}
    by_size: dict[str, dict[str, Any]] = {}
    ages_true, genders_true, ages, females, masks = [], [], [], [], []
    for name, results in found.items():
        mask, out = _outputs(results)
        recall[name] = float(mask.mean()) if len(mask) else None
        aged = faces.age[mask] >= 0
        by_size[name] = {
            "n": int(mask.sum()),
            "age_mae": float(np.mean(np.abs(out["age"][aged] - faces.age[mask][aged])))
            if aged.any()
            else None,
            "gender_accuracy": gender_accuracy(faces.gender[mask], out["gender"]),
        }
        masks.append(mask)
        ages_true.append(faces.age)
        genders_true.append(faces.gender)
        full_age, full_female = np.full(len(mask), np.nan), np.full(len(mask), np.nan)
        full_age[mask], full_female[mask] = out["age"], out["gender"]
        ages.append(full_age)
        females.append(full_female)
    mask = np.concatenate(masks)
    age_true, gender_true = np.concatenate(ages_true), np.concatenate(genders_true)
    age, female = np.concatenate(ages), np.concatenate(females)
    m = evaluate_predictions(
        emotion_true=np.full(int(mask.sum()), -1),
        emotion_prob=np.zeros((int(mask.sum()), len(MOODS))),
        age_true=age_true[mask],
        age_pred=age[mask],
        gender_true=gender_true[mask],
        gender_prob=female[mask],
    )
    guess = float(np.nanmean(age)) if mask.any() else float(np.mean(age_true))
    age_all = np.where(mask, age, guess)
    right = np.where(mask, gender_right(gender_true, female), 0.0)  # a missed face is wrong
    labelled = gender_true >= 0
    age_error = np.abs(age_all - age_true)
    frame_scores = {
        "age_mae": np.where(age_true >= 0, age_error, np.nan),
        "gender_accuracy": np.where(labelled, right, np.nan),
    }
    result = {
        "recall": recall,
        "by_size": by_size,
        "found": {
            "n": int(mask.sum()),
            "age_mae": m["age_mae"],
            "gender_accuracy": m["gender_accuracy"],
        },
        "all": {
            "n": len(mask),
            "age_mae": float(np.mean(age_error)) if len(mask) else None,
            "gender_accuracy": float(np.mean(right[labelled])) if labelled.any() else None,
            "by_decade": by_decade(age_true, age_error, frame_scores["gender_accuracy"]),
        },
        "frame_scores": frame_scores,
    }
    if crops is not None and len(mask):
        aged = age_true >= 0
        crop_error = np.abs(np.tile(crops["age"].reshape(-1), len(found)) - age_true)
        crop_female = np.tile(crops["gender"].reshape(-1), len(found))
        crop_right = gender_right(gender_true, crop_female)
        result["found"]["crops_age_mae"] = (
            float(crop_error[mask & aged].mean()) if (mask & aged).any() else None
        )
        result["found"]["crops_gender_accuracy"] = (
            float(crop_right[mask & labelled].mean()) if (mask & labelled).any() else None
        )
        result["gap"] = {
            "age_mae": gap_by_cause(age_error[aged], crop_error[aged], mask[aged], len(found)),
            "gender_accuracy": gap_by_cause(
                right[labelled], crop_right[labelled], mask[labelled], len(found)
            ),
        }
    return result


def source_images(paths: Sequence[Path]) -> list[np.ndarray]:
    """The source images at ``paths`` as BGR uint8, decoded as serving decodes frames."""
    return [read_image_file(path)[1] for path in paths]


def live_summary(sizes: dict[str, int] = LIVE_SIZES, fill: str = "room") -> dict[str, Any]:
    """What the live figures were measured on, for the report."""
    return {
        "frame": list(LIVE_FRAME),
        "sizes": dict(sizes),
        "background": fill,
        "jpeg_quality": LIVE_JPEG_QUALITY,
        "note": "a missed face counts as wrong (mood, gender) and as the mean predicted age",
    }
