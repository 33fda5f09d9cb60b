"""Evaluating an exported model on FER2013 and UTKFace, from the command line.

``python -m ml.evaluate`` and ``manage.py evaluate_model`` take the options of
``add_arguments``, print ``ml.evaluation_report.format_report``'s
tables and, with ``--json FILE``, write the nested results ``ml.evaluation.evaluate``
describes (``--markdown FILE``: the model card's tables). ``--baseline MODEL`` evaluates a
second model the same way and adds ``baseline``: ``ml.comparison.compare``'s face-by-face
differences from it; ``--baseline-mirror`` and ``--baseline-shift`` read the baseline with other
test-time averaging, so a lever can be weighed on one model (``--baseline`` the same model).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ml.comparison import compare
from ml.evaluation import FER_SPLITS, UTKFACE_SPLITS, evaluate
from ml.evaluation_report import format_markdown, format_report
from ml.frames import LIVE_BACKGROUNDS
from ml.runtime import DEFAULT_THREADS, RUNTIMES

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options, shared by ``python -m ml.evaluate`` and ``evaluate_model``."""
    parser.add_argument(
        "--model",
        required=True,
        type=Path,
        action="append",
        help="exported model folder; several --model are evaluated as one ensemble (the mean of "
        "their estimates: a training tool for distillation, never served)",
    )
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
        "--shift",
        type=int,
        default=0,
        metavar="PIXELS",
        help="also average each face with four copies moved by PIXELS, on crops and in the live "
        "path (test-time averaging to measure; serving does not do it)",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="also run every face through the live path: pasted into 640x480 camera frames "
        "at three sizes and analyzed as a frame from the page (decode, detection, crop, model)",
    )
    parser.add_argument(
        "--detector",
        default="auto",
        help="face detector of the live path (default: %(default)s, as the site's FACE_DETECTOR)",
    )
    parser.add_argument(
        "--live-background",
        choices=LIVE_BACKGROUNDS,
        default="room",
        help="what the live frames show around each dataset image: a synthetic room, or the "
        "image's own edge replicated outwards, as the direct-crop figures assume past it "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--detector-max-side",
        type=int,
        default=320,
        help="detection resolution of the live path (default: %(default)s)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="MODEL",
        help="also evaluate this exported model (the shipped one, say) the same way, and report "
        "the face-by-face differences from it with their standard errors",
    )
    parser.add_argument(
        "--baseline-mirror",
        choices=("on", "off"),
        help="mirror averaging for the baseline (default: as --mirror)",
    )
    parser.add_argument(
        "--baseline-shift",
        type=int,
        metavar="PIXELS",
        help="shifted views for the baseline (default: as --shift); with --baseline the same "
        "model, the difference is what the test-time averaging adds, face by face",
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
    settings = dict(
        fer=options.get("fer"),
        fer_split=options.get("fer_split") or "test",
        utkface=options.get("utkface"),
        utkface_split=options.get("utkface_split") or "all",
        runtime=options.get("runtime") or "auto",
        threads=options.get("threads") or DEFAULT_THREADS,
        mirror=None if options.get("mirror") is None else options["mirror"] == "on",
        shift=options.get("shift") or 0,
        limit=options.get("limit"),
        cache_dir=options.get("cache_dir"),
        show_progress=True,
        live=bool(options.get("live")),
        detector=options.get("detector") or "auto",
        detector_max_side=options.get("detector_max_side") or 320,
        live_background=options.get("live_background") or "room",
    )
    baseline = options.get("baseline")
    if baseline is None and baseline_settings(options):
        raise ValueError(
            "--baseline-mirror and --baseline-shift set the baseline's reading: "
            "give the baseline model with --baseline."
        )
    results = evaluate(options["model"], keep_scores=baseline is not None, **settings)
    if baseline is not None:
        logger.info("Evaluating the baseline %s on the same faces", baseline)
        theirs = evaluate(baseline, keep_scores=True, **{**settings, **baseline_settings(options)})
        results["baseline"] = {
            "model": theirs["model"],
            "runtime": theirs["runtime"],
            **compare(results.pop("scores"), theirs["scores"]),
        }
    if options.get("json"):
        path = Path(options["json"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if options.get("markdown"):
        path = Path(options["markdown"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(format_markdown(results), encoding="utf-8")
    return results, format_report(results)


def baseline_settings(options: dict[str, Any]) -> dict[str, Any]:
    """The settings in which ``--baseline-mirror`` and ``--baseline-shift`` differ, if given."""
    settings: dict[str, Any] = {}
    if options.get("baseline_mirror") is not None:
        settings["mirror"] = options["baseline_mirror"] == "on"
    if options.get("baseline_shift") is not None:
        settings["shift"] = options["baseline_shift"]
    return settings


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
