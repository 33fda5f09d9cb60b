"""Evaluating an exported model on FER2013 (emotion) and UTKFace (age, gender): the metrics.

Faces are loaded with ``ml.datasets`` using the export's own preprocessing, then run through the
same runner serving uses, in batches (``predict_faces``, which training's validation uses too).
``evaluate`` returns the nested results it describes; ``ml.evaluation_report`` writes them as
tables and ``ml.evaluate`` is the command line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ml.comparison import face_scores, live_face_scores
from ml.datasets import DEFAULT_HELDOUT_FRACTION, HELDOUT, FaceSet, load_fer, load_utkface
from ml.datasets.utkface import DEFAULT_VAL_FRACTION
from ml.ensemble import load_ensemble
from ml.export import OUTPUT_NAMES, empty_outputs, load_metadata
from ml.frames import LIVE_BACKGROUNDS
from ml.labels import MOODS
from ml.metrics import by_decade, evaluate_predictions
from ml.preprocessing import Preprocessing, to_model_input
from ml.runtime import DEFAULT_THREADS, ModelRunner, load_runner

logger = logging.getLogger(__name__)

#: Faces per runner call while evaluating.
EVAL_BATCH_SIZE = 256
#: FER2013 images to evaluate on: the test/ folder (PublicTest, the validation set training
#: selects on, and PrivateTest where present) or the held-out slice of train/.
FER_SPLITS: tuple[str, ...] = ("test", HELDOUT)
UTKFACE_SPLITS: tuple[str, ...] = ("all", "train", "val", HELDOUT)
#: UTKFace's race codes, for the printed table.
UTKFACE_RACES: tuple[str, ...] = ("white", "black", "asian", "indian", "other")


def predict_faces(
    predict: Callable[[np.ndarray], Mapping[str, Any]],
    faces: FaceSet,
    params: Preprocessing,
    *,
    batch_size: int = EVAL_BATCH_SIZE,
) -> dict[str, np.ndarray]:
    """Run uint8 crops (N, S, S, C) through ``predict`` in batches: outputs by name, N rows.

    ``predict`` takes float32 model input (n, S, S, C) and gives the outputs by name: a runner's
    ``predict``, or a Keras model's ``predict_on_batch`` while training validates.
    """
    parts: dict[str, list[np.ndarray]] = {name: [] for name in OUTPUT_NAMES}
    for start in range(0, len(faces), batch_size):
        out = predict(to_model_input(faces.images[start : start + batch_size], params))
        for name, chunks in parts.items():
            chunks.append(np.asarray(out[name]))
    if not len(faces):
        return empty_outputs()
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _emotion_metrics(faces: FaceSet, out: dict[str, np.ndarray]) -> dict[str, Any]:
    """n, accuracy, macro_f1, recall per mood and confusion (rows true, MOODS order)."""
    m = evaluate_predictions(
        emotion_true=faces.emotion,
        emotion_prob=out["emotion"],
        age_true=np.full(len(faces), -1.0),
        age_pred=out["age"],
        gender_true=np.full(len(faces), -1.0),
        gender_prob=out["gender"],
    )
    return {
        "n": m["mood_count"],
        "accuracy": m["mood_accuracy"],
        "macro_f1": m["mood_macro_f1"],
        "recall": m["mood_recall"],
        "confusion": m["confusion"],
    }


def _demographic_metrics(faces: FaceSet, out: dict[str, np.ndarray]) -> dict[str, Any]:
    """n, age_mae, gender_accuracy and age MAE by decade for UTKFace-labelled faces."""
    m = evaluate_predictions(
        emotion_true=np.full(len(faces), -1),
        emotion_prob=out["emotion"],
        age_true=faces.age,
        age_pred=out["age"],
        gender_true=faces.gender,
        gender_prob=out["gender"],
    )
    scores = face_scores("utkface", faces, out)
    return {
        "n": len(faces),
        "age_mae": m["age_mae"],
        "gender_accuracy": m["gender_accuracy"],
        "by_decade": by_decade(faces.age, scores["age_mae"], scores["gender_accuracy"]),
    }


def evaluate_fer(
    runner: ModelRunner,
    path: str | Path,
    params: Preprocessing,
    *,
    split: str = "test",
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Emotion metrics on the mood-class images of FER2013's test part (per original split
    too) or, with ``split="heldout"``, of the training images held out of training."""
    if split not in FER_SPLITS:
        raise ValueError(f"Expected a FER2013 split in {FER_SPLITS}, got {split!r}.")
    faces = load_fer(
        path,
        params,
        part="test" if split == "test" else "train",
        heldout_fraction=heldout_fraction,
        limit=limit,
        cache_dir=cache_dir,
        show_progress=show_progress,
    )
    keep = faces.emotion >= 0
    if split == HELDOUT:
        keep &= faces.split == HELDOUT
    faces = faces.subset(np.flatnonzero(keep))
    out = predict_faces(runner.predict, faces, params)
    result = _emotion_metrics(faces, out)
    result["faces"], result["outputs"] = faces, out  # taken out by ``evaluate`` for the live path
    splits = sorted(set(faces.split.tolist()))
    if len(splits) > 1:
        result["splits"] = {}
        for name in splits:
            index = np.flatnonzero(faces.split == name)
            part = faces.subset(index)
            result["splits"][name] = _emotion_metrics(part, {k: v[index] for k, v in out.items()})
    result["split"] = split
    return result


def evaluate_utkface(
    runner: ModelRunner,
    path: str | Path,
    params: Preprocessing,
    *,
    split: str = "all",
    val_fraction: float = DEFAULT_VAL_FRACTION,
    heldout_fraction: float = DEFAULT_HELDOUT_FRACTION,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Age MAE and gender accuracy on UTKFace, overall, by race (0..4) and by decade."""
    if split not in UTKFACE_SPLITS:
        raise ValueError(f"Expected a UTKFace split in {UTKFACE_SPLITS}, got {split!r}.")
    faces = load_utkface(
        path,
        params,
        val_fraction=val_fraction,
        heldout_fraction=heldout_fraction,
        limit=limit,
        cache_dir=cache_dir,
        show_progress=show_progress,
    )
    if split != "all":
        faces = faces.subset(np.flatnonzero(faces.split == split))
    out = predict_faces(runner.predict, faces, params)
    result = _demographic_metrics(faces, out)
    result["split"] = split
    result["faces"], result["outputs"] = faces, out  # taken out by ``evaluate`` for the live path
    result["by_race"] = {}
    for race in range(len(UTKFACE_RACES)):
        index = np.flatnonzero(faces.race == race)
        if len(index):
            part = _demographic_metrics(faces.subset(index), {k: v[index] for k, v in out.items()})
            part.pop("by_decade")
            result["by_race"][str(race)] = {"name": UTKFACE_RACES[race], **part}
    return result


def evaluate(
    model_dir: str | Path | Sequence[str | Path],
    *,
    fer: str | Path | None = None,
    fer_split: str = "test",
    utkface: str | Path | None = None,
    utkface_split: str = "all",
    runtime: str = "auto",
    threads: int = DEFAULT_THREADS,
    mirror: bool | None = None,
    shift: int = 0,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
    live: bool = False,
    detector: str = "auto",
    detector_max_side: int = 320,
    live_background: str = "room",
    keep_scores: bool = False,
) -> dict[str, Any]:
    """Evaluate an export; returns {"model", "runtime", "fer": {...}, "utkface": {...}}.

    ``live``: also run every evaluated face through the live path (``ml.live``: composed into
    camera frames, analyzed by an ``Analyzer`` with ``detector``; around each image a room, or
    its own replicated edge with ``live_background="edge"``); adds ``live.detector``,
    ``live.runtime`` (the crops' runner, so ``mirror`` and ``shift`` apply to both),
    ``live.fer`` and ``live.utkface`` (recall.<size>, by_size.<size>.<metrics>,
    found.<metrics>, all.<metrics>, and beside the same faces' crops found.crops_<metric> and
    gap.<metric>.{total, found_faces, missed_faces, total_se, found_faces_se},
    ``ml.live.gap_by_cause``) and, where scikit-image is installed, ``live.face_free`` (photos,
    rooms and all: frames, with_face, rate): face-free frames in which the analyzer reported a
    face anyway.

    ``mirror``: average each face with its mirror image, on crops and in the live path alike;
    None does what serving does (the export's ``mirror_average``). ``shift`` > 0 also averages
    each face with four copies moved by that many pixels (``ml.runtime.Shifted``): a test-time
    averaging to measure, on crops and in the live path alike.

    ``keep_scores``: also return ``scores``, per dataset the face names and each face's
    scores on its crop and (with ``live``) in the live path, for ``ml.comparison.compare``;
    in memory only, never for ``--json``.

    Several ``model_dir`` are evaluated as one ``ml.ensemble.Ensemble`` (a training tool:
    the mean of their estimates); they must share preprocessing and slices.

    The slices ("val", "heldout") are the ones the model was trained with: their fractions
    come from the export's training configuration.

    ``fer``: split, n, accuracy, macro_f1, recall.<mood>, confusion (rows true, columns predicted,
    ``MOODS`` order) and, where several splits are present, splits.<split>.<same keys>.
    ``utkface``: n, age_mae, gender_accuracy, by_race.<0..4>.{name, n, age_mae,
    gender_accuracy}, by_decade.<"20-29">.{n, age_mae, gender_accuracy}.
    """
    if fer is None and utkface is None:
        raise ValueError("Nothing to evaluate: give a FER2013 folder, a UTKFace folder or both.")
    if live_background not in LIVE_BACKGROUNDS:
        raise ValueError(
            f"live_background must be one of {LIVE_BACKGROUNDS}, got {live_background!r}."
        )
    folders = [model_dir] if isinstance(model_dir, (str, Path)) else list(model_dir)
    if len(folders) > 1:
        if live:
            raise ValueError("The live path serves one model; evaluate an ensemble without live.")
        runner, metadata = load_ensemble(
            folders, runtime, threads=threads, mirror=mirror, shift=shift
        )
        model_dir = ", ".join(str(folder) for folder in folders)
    else:
        model_dir = folders[0]
        metadata = load_metadata(model_dir)
        mirror = metadata.mirror_average if mirror is None else mirror
        runner = load_runner(model_dir, runtime, threads=threads, mirror=mirror, shift=shift)
    params = metadata.preprocessing
    trained = metadata.training.get("config", {})
    # A model trained before held-out slices existed trained on all of train/: none held out.
    heldout_fraction = float(trained.get("heldout_fraction", 0.0))
    val_fraction = float(trained.get("val_fraction", DEFAULT_VAL_FRACTION))
    results: dict[str, Any] = {
        "model": str(model_dir),
        "runtime": runner.name,
        "mirror_average": mirror,
        "shift": shift,
        "moods": list(MOODS),
    }
    if HELDOUT in (fer_split, utkface_split) and heldout_fraction <= 0:
        raise ValueError(
            f"{model_dir} was trained without a held-out slice (its training configuration "
            "has no heldout_fraction), so it has no images it never saw to evaluate on."
        )
    if fer is not None:
        results["fer"] = evaluate_fer(
            runner,
            fer,
            params,
            split=fer_split,
            heldout_fraction=heldout_fraction,
            limit=limit,
            cache_dir=cache_dir,
            show_progress=show_progress,
        )
    if utkface is not None:
        results["utkface"] = evaluate_utkface(
            runner,
            utkface,
            params,
            split=utkface_split,
            val_fraction=val_fraction,
            heldout_fraction=heldout_fraction,
            limit=limit,
            cache_dir=cache_dir,
            show_progress=show_progress,
        )
    evaluated = [name for name in ("fer", "utkface") if name in results]
    faces = {name: results[name].pop("faces") for name in evaluated}
    crops = {name: results[name].pop("outputs") for name in evaluated}
    frame_scores: dict[str, dict[str, np.ndarray]] = {}
    if live:
        results["live"], frame_scores = _evaluate_live(
            model_dir,
            faces,
            crops,
            fer=fer,
            fer_split=fer_split,
            utkface=utkface,
            runtime=runtime,
            threads=threads,
            detector=detector,
            detector_max_side=detector_max_side,
            mirror=mirror,
            shift=shift,
            fill=live_background,
            show_progress=show_progress,
        )
    if keep_scores:
        results["scores"] = {
            name: {
                "names": faces[name].names,
                "crops": face_scores(name, faces[name], crops[name]),
                **(
                    {"live": live_face_scores(frame_scores[name], len(results["live"]["sizes"]))}
                    if name in frame_scores
                    else {}
                ),
            }
            for name in evaluated
        }
    return results


def _evaluate_live(
    model_dir: str | Path,
    faces: dict[str, FaceSet],
    crops: dict[str, dict[str, np.ndarray]],
    *,
    fer: str | Path | None,
    fer_split: str,
    utkface: str | Path | None,
    runtime: str,
    threads: int,
    detector: str,
    detector_max_side: int,
    mirror: bool,
    shift: int,
    fill: str,
    show_progress: bool,
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """The ``live`` results: the same faces, from their source images, through ``Analyzer``,
    beside what the model said of their direct crops (``crops``, its outputs by dataset); and
    per dataset the frames' scores (``frame_scores`` of ``ml.live``'s metrics)."""
    from ml import live
    from ml.datasets.utkface import list_utkface
    from ml.inference import Analyzer

    analyzer = Analyzer.load(
        model_dir,
        detector=detector,
        runtime=runtime,
        threads=threads,
        detector_max_side=detector_max_side,
        mirror=mirror,  # as the crops were read, so live and crops differ by the path alone
        shift=shift,
    )
    result: dict[str, Any] = {
        "detector": analyzer.detector.name,
        "runtime": analyzer.runner.name,
        **live.live_summary(fill=fill),
    }
    sources: dict[str, dict[str, Path]] = {}
    if "fer" in faces:
        root = Path(fer) / ("test" if fer_split == "test" else "train")
        if not root.is_dir():
            raise ValueError(f"The live path needs FER2013's folder layout; {root} is missing.")
        sources["fer"] = {p.name: p for p in root.rglob("*") if p.is_file()}
    if "utkface" in faces:
        sources["utkface"] = {p.name: p for p in list_utkface(Path(utkface))}
    metrics = {"fer": live.fer_live_metrics, "utkface": live.utkface_live_metrics}
    frame_scores: dict[str, dict[str, np.ndarray]] = {}
    for name, face_set in faces.items():
        paths = [sources[name][file_name] for file_name in face_set.names]
        found = live.analyze_live(
            analyzer, live.source_images(paths), fill=fill, show_progress=show_progress
        )
        result[name] = metrics[name](face_set, found, crops[name])
        frame_scores[name] = result[name].pop("frame_scores")
    try:
        face_free = live.face_free_frames()
    except ImportError as err:
        logger.warning("No false-face count: its frames need scikit-image (%s).", err)
    else:
        result["face_free"] = live.count_false_faces(analyzer, face_free)
    return result, frame_scores
