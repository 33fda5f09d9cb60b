"""Evaluating an exported model on FER2013 (emotion) and UTKFace (age, gender).

Faces are loaded with ``ml.datasets`` using the export's own preprocessing, then run through the
same runner serving uses, in batches. Run as ``python -m ml.evaluate --model DIR --fer DIR`` or
``python manage.py evaluate_model``; ``--json FILE`` writes the nested results described in
``evaluate``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np

from ml.datasets import DEFAULT_HELDOUT_FRACTION, HELDOUT, FaceSet, load_fer, load_utkface
from ml.datasets.utkface import DEFAULT_VAL_FRACTION
from ml.export import load_metadata
from ml.labels import MOODS
from ml.metrics import evaluate_predictions
from ml.preprocessing import Preprocessing, to_model_input
from ml.runtime import DEFAULT_THREADS, RUNTIMES, ModelRunner, load_runner

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
    runner: ModelRunner, faces: FaceSet, params: Preprocessing, *, batch_size: int = EVAL_BATCH_SIZE
) -> dict[str, np.ndarray]:
    """Run uint8 crops (N, S, S, C) through ``runner`` in batches: outputs by name, N rows."""
    parts: dict[str, list[np.ndarray]] = {"emotion": [], "age": [], "gender": []}
    for start in range(0, len(faces), batch_size):
        out = runner.predict(to_model_input(faces.images[start : start + batch_size], params))
        for name in parts:
            parts[name].append(out[name])
    if not parts["emotion"]:
        return {
            "emotion": np.zeros((0, len(MOODS))),
            "age": np.zeros((0, 1)),
            "gender": np.zeros((0, 1)),
        }
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
    decades = m["age_mae_by_decade"] or {}
    return {
        "n": len(faces),
        "age_mae": m["age_mae"],
        "gender_accuracy": m["gender_accuracy"],
        "by_decade": {
            name: {"n": int(v["count"]), "age_mae": v["mae"]} for name, v in decades.items()
        },
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
    out = predict_faces(runner, faces, params)
    result = _emotion_metrics(faces, out)
    result["faces"] = faces  # taken out by ``evaluate`` for the live path
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
    out = predict_faces(runner, faces, params)
    result = _demographic_metrics(faces, out)
    result["split"] = split
    result["faces"] = faces  # taken out by ``evaluate`` for the live path
    result["by_race"] = {}
    for race in range(len(UTKFACE_RACES)):
        index = np.flatnonzero(faces.race == race)
        if len(index):
            part = _demographic_metrics(faces.subset(index), {k: v[index] for k, v in out.items()})
            part.pop("by_decade")
            result["by_race"][str(race)] = {"name": UTKFACE_RACES[race], **part}
    return result


def evaluate(
    model_dir: str | Path,
    *,
    fer: str | Path | None = None,
    fer_split: str = "test",
    utkface: str | Path | None = None,
    utkface_split: str = "all",
    runtime: str = "auto",
    threads: int = DEFAULT_THREADS,
    mirror: bool | None = None,
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    show_progress: bool = False,
    live: bool = False,
    detector: str = "auto",
    detector_max_side: int = 320,
) -> dict[str, Any]:
    """Evaluate an export; returns {"model", "runtime", "fer": {...}, "utkface": {...}}.

    ``live``: also run every evaluated face through the live path (``ml.live``: composed into
    camera frames, analysed by an ``Analyzer`` with ``detector``); adds ``live.fer`` and
    ``live.utkface`` (recall.<size>, found.<metrics>, all.<metrics>).

    ``mirror``: average each face with its mirror image; None does what serving does (the
    export's ``mirror_average``).

    The slices ("val", "heldout") are the ones the model was trained with: their fractions
    come from the export's training configuration.

    ``fer``: split, n, accuracy, macro_f1, recall.<mood>, confusion (rows true, columns predicted,
    ``MOODS`` order) and, where several splits are present, splits.<split>.<same keys>.
    ``utkface``: n, age_mae, gender_accuracy, by_race.<0..4>.{name, n, age_mae,
    gender_accuracy}, by_decade.<"20-29">.{n, age_mae}.
    """
    if fer is None and utkface is None:
        raise ValueError("Nothing to evaluate: give a FER2013 folder, a UTKFace folder or both.")
    metadata = load_metadata(model_dir)
    mirror = metadata.mirror_average if mirror is None else mirror
    runner = load_runner(model_dir, runtime, threads=threads, mirror=mirror)
    params = metadata.preprocessing
    trained = metadata.training.get("config", {})
    # A model trained before held-out slices existed trained on all of train/: none held out.
    heldout_fraction = float(trained.get("heldout_fraction", 0.0))
    val_fraction = float(trained.get("val_fraction", DEFAULT_VAL_FRACTION))
    results: dict[str, Any] = {
        "model": str(model_dir),
        "runtime": runner.name,
        "mirror_average": mirror,
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
    faces = {name: results[name].pop("faces") for name in ("fer", "utkface") if name in results}
    if live:
        results["live"] = _evaluate_live(
            model_dir,
            faces,
            fer=fer,
            fer_split=fer_split,
            utkface=utkface,
            runtime=runtime,
            threads=threads,
            detector=detector,
            detector_max_side=detector_max_side,
            show_progress=show_progress,
        )
    return results


def _evaluate_live(
    model_dir: str | Path,
    faces: dict[str, FaceSet],
    *,
    fer: str | Path | None,
    fer_split: str,
    utkface: str | Path | None,
    runtime: str,
    threads: int,
    detector: str,
    detector_max_side: int,
    show_progress: bool,
) -> dict[str, Any]:
    """The ``live`` results: the same faces, from their source images, through ``Analyzer``."""
    from ml import live
    from ml.datasets.utkface import list_utkface
    from ml.inference import Analyzer

    analyzer = Analyzer.load(
        model_dir,
        detector=detector,
        runtime=runtime,
        threads=threads,
        detector_max_side=detector_max_side,
    )
    result: dict[str, Any] = {"detector": analyzer.detector.name, **live.live_summary()}
    sources: dict[str, dict[str, Path]] = {}
    if "fer" in faces:
        root = Path(fer) / ("test" if fer_split == "test" else "train")
        if not root.is_dir():
            raise ValueError(f"The live path needs FER2013's folder layout; {root} is missing.")
        sources["fer"] = {p.name: p for p in root.rglob("*") if p.is_file()}
    if "utkface" in faces:
        sources["utkface"] = {p.name: p for p in list_utkface(Path(utkface))}
    metrics = {"fer": live.fer_live_metrics, "utkface": live.utkface_live_metrics}
    for name, face_set in faces.items():
        paths = [sources[name][file_name] for file_name in face_set.names]
        found = live.analyse_live(analyzer, live.source_images(paths), show_progress=show_progress)
        result[name] = metrics[name](face_set, found)
    return result


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_report(results: dict[str, Any]) -> str:
    """A readable plain-text table of ``evaluate``'s results."""
    lines = [f"Model {results['model']} ({results['runtime']})"]
    fer = results.get("fer")
    if fer:
        lines += [
            "",
            f"FER2013 {fer.get('split', 'test')}: {fer['n']} faces",
            f"{'set':<14}{'n':>7}{'accuracy':>10}"
            f"{'macro F1':>10}" + "".join(f"{m:>9}" for m in MOODS),
        ]
        rows = [("all", fer), *sorted((fer.get("splits") or {}).items())]
        for name, r in rows:
            recall = "".join(f"{_fmt((r['recall'] or {}).get(m)):>9}" for m in MOODS)
            lines.append(
                f"{name:<14}{r['n']:>7}{_fmt(r['accuracy']):>10}{_fmt(r['macro_f1']):>10}{recall}"
            )
        if fer["confusion"]:
            lines += [
                "",
                "confusion (rows true, columns predicted)",
                " " * 10 + "".join(f"{m:>9}" for m in MOODS),
            ]
            lines += [
                f"{m:<10}" + "".join(f"{c:>9}" for c in row)
                for m, row in zip(MOODS, fer["confusion"], strict=True)
            ]
    utk = results.get("utkface")
    if utk:
        lines += [
            "",
            f"UTKFace ({utk['split']}): {utk['n']} faces",
            f"{'group':<14}{'n':>7}{'age MAE':>10}{'gender acc':>12}",
        ]
        age, gender = _fmt(utk["age_mae"], 2), _fmt(utk["gender_accuracy"])
        lines.append(f"{'all':<14}{utk['n']:>7}{age:>10}{gender:>12}")
        for r in utk["by_race"].values():
            lines.append(
                f"{'race ' + r['name']:<14}{r['n']:>7}{_fmt(r['age_mae'], 2):>10}"
                f"{_fmt(r['gender_accuracy']):>12}"
            )
        for name, r in utk["by_decade"].items():
            lines.append(f"{'age ' + name:<14}{r['n']:>7}{_fmt(r['age_mae'], 2):>10}")
    lines += _live_lines(results)
    return "\n".join(lines)


def _live_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(what, faces found by size, mood accuracy, macro-F1 or age MAE, gender) rows."""
    live, rows = results.get("live") or {}, []
    for scope in ("all", "found"):
        if "fer" in live:
            fer = live["fer"]
            rows.append(
                (
                    f"FER2013 {scope}",
                    " / ".join(_pct(fer["recall"][n]) for n in fer["recall"]),
                    _pct(fer[scope]["accuracy"]),
                    f"F1 {_fmt(fer[scope]['macro_f1'])}",
                    "",
                )
            )
        if "utkface" in live:
            utk = live["utkface"]
            rows.append(
                (
                    f"UTKFace {scope}",
                    " / ".join(_pct(utk["recall"][n]) for n in utk["recall"]),
                    "",
                    f"MAE {_fmt(utk[scope]['age_mae'], 2)}",
                    _pct(utk[scope]["gender_accuracy"]),
                )
            )
    return rows


def _live_lines(results: dict[str, Any]) -> list[str]:
    live = results.get("live")
    if not live:
        return []
    sizes = ", ".join(f"{name} {side} px" for name, side in live["sizes"].items())
    lines = [
        "",
        f"Live path ({live['detector']}, {live['frame'][0]}x{live['frame'][1]} frames, "
        f"faces {sizes})",
        f"{'faces':<16}{'found':>24}{'mood acc':>10}{'F1 / age':>12}{'gender':>9}",
    ]
    lines += [f"{a:<16}{b:>24}{c:>10}{d:>12}{e:>9}" for a, b, c, d, e in _live_rows(results)]
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def format_markdown(results: dict[str, Any]) -> str:
    """``evaluate``'s results as the Markdown tables of the model card."""
    out = [f"Model `{results['model']}`, runtime `{results['runtime']}`."]
    fer = results.get("fer")
    if fer:
        out += [
            "",
            f"| FER2013 {fer.get('split', 'test')}, 4 moods | value |",
            "|---|---|",
            f"| images | {fer['n']} |",
            f"| accuracy | {_pct(fer['accuracy'])} |",
            f"| macro-F1 | {_fmt(fer['macro_f1'])} |",
        ]
        out += [f"| recall {m} | {_pct((fer['recall'] or {}).get(m))} |" for m in MOODS]
        if fer["confusion"]:
            out += [
                "",
                "| true \\ predicted | " + " | ".join(MOODS) + " |",
                "|---" * (len(MOODS) + 1) + "|",
            ]
            out += [
                f"| {m} | " + " | ".join(str(c) for c in row) + " |"
                for m, row in zip(MOODS, fer["confusion"], strict=True)
            ]
    utk = results.get("utkface")
    if utk:
        out += [
            "",
            f"| UTKFace {utk['split']} | value |",
            "|---|---|",
            f"| images | {utk['n']} |",
            f"| age MAE | {_fmt(utk['age_mae'], 2)} years |",
            f"| gender accuracy | {_pct(utk['gender_accuracy'])} |",
            "",
            "| UTKFace race group | images | age MAE (years) | gender accuracy |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {code} {r['name']} | {r['n']} | {_fmt(r['age_mae'], 2)} | "
            f"{_pct(r['gender_accuracy'])} |"
            for code, r in utk["by_race"].items()
        ]
        out += ["", "| age decade | images | age MAE (years) |", "|---|---|---|"]
        out += [
            f"| {name} | {r['n']} | {_fmt(r['age_mae'], 2)} |"
            for name, r in utk["by_decade"].items()
        ]
    live = results.get("live")
    if live:
        sizes = " / ".join(f"{name} {side} px" for name, side in live["sizes"].items())
        out += [
            "",
            f"| live path ({live['detector']}) | faces found ({sizes}) | mood accuracy | "
            "macro-F1 or age MAE | gender accuracy |",
            "|---|---|---|---|---|",
        ]
        out += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in _live_rows(results)]
    return "\n".join(out) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options, shared by ``python -m ml.evaluate`` and ``evaluate_model``."""
    parser.add_argument("--model", required=True, type=Path, help="exported model folder")
    parser.add_argument("--fer", type=Path, help="FER2013 folder (test/<class>/) or fer2013.csv")
    parser.add_argument("--utkface", type=Path, help="UTKFace folder of *.jpg chips")
    parser.add_argument(
        "--fer-split",
        choices=FER_SPLITS,
        default="test",
        help="FER2013 images to use: the test/ folder (validation) or the held-out training "
        "slice the model never saw (default: %(default)s)",
    )
    parser.add_argument(
        "--utkface-split",
        choices=UTKFACE_SPLITS,
        default="all",
        help="UTKFace images to use: all, or training's train, val or heldout slice",
    )
    parser.add_argument(
        "--mirror",
        choices=("on", "off"),
        help="average each face with its mirror image (on) or not (off); by default as the "
        "export's mirror_average says, which is what serving does",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="also run every face through the live path: pasted into 640x480 camera frames "
        "at three sizes and analysed as a frame from the page (decode, detection, crop, model)",
    )
    parser.add_argument(
        "--detector",
        default="auto",
        help="face detector of the live path (default: %(default)s, as the site's FACE_DETECTOR)",
    )
    parser.add_argument(
        "--detector-max-side",
        type=int,
        default=320,
        help="detection resolution of the live path (default: %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument(
        "--markdown", type=Path, help="also write the results as the model card's tables"
    )
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto", help="model file to run")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="TFLite threads")
    parser.add_argument("--limit", type=int, help="at most this many images per dataset")
    parser.add_argument("--cache-dir", type=Path, help="decoded-crop cache folder")


def run(options: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Evaluate from parsed options; writes ``--json``; returns (results, printable report)."""
    results = evaluate(
        options["model"],
        fer=options.get("fer"),
        fer_split=options.get("fer_split") or "test",
        utkface=options.get("utkface"),
        utkface_split=options.get("utkface_split") or "all",
        runtime=options.get("runtime") or "auto",
        threads=options.get("threads") or DEFAULT_THREADS,
        mirror=None if options.get("mirror") is None else options["mirror"] == "on",
        limit=options.get("limit"),
        cache_dir=options.get("cache_dir"),
        show_progress=True,
        live=bool(options.get("live")),
        detector=options.get("detector") or "auto",
        detector_max_side=options.get("detector_max_side") or 320,
    )
    if options.get("json"):
        path = Path(options["json"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if options.get("markdown"):
        path = Path(options["markdown"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(format_markdown(results), encoding="utf-8")
    return results, format_report(results)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m ml.evaluate", description=__doc__.split("\n")[0]
    )
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        _, report = run(options)
    except (FileNotFoundError, ValueError) as err:  # ModelNotFound, DatasetError, bad options
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
