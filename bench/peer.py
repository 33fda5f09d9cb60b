"""Side by side with the peer library ``fer``: time per frame and faces found, same frames.

``make bench-peer`` installs ``fer`` (pinned, ``--no-deps``: it would otherwise pull in PyTorch,
moviepy and a second OpenCV) and runs this. Each frame goes through ``FER().detect_emotions``
(its Haar cascade at full resolution and its mini-Xception TFLite model, as its README uses it)
and through our ``Analyzer.analyze_image`` with the default detector, in the same process.
Frames: the astronaut photo at 640x480, and faces of FER2013's test/ folder (when
``--fer`` is given) pasted at 260, 160 and 100 px as the live evaluation pastes them.
Prints JSON.
"""

from __future__ import annotations

import argparse
import glob
import json
import statistics
import sys
import time
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml.inference import Analyzer  # noqa: E402
from ml.live import LIVE_SIZES, compose_frame  # noqa: E402
from musicmood.samples import astronaut_frame  # noqa: E402

DEFAULT_MODEL = REPO / "models" / "default"


def timed(fn, frames) -> dict:
    times, found = [], []
    for frame in frames:
        start = time.perf_counter()
        faces = fn(frame)
        times.append((time.perf_counter() - start) * 1000.0)
        found.append(len(faces) > 0)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 2),
        "frames": len(frames),
        "frames_with_a_face_found": sum(found),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--fer", type=Path, help="FER2013 folder; its test/ faces are pasted")
    parser.add_argument("--faces", type=int, default=30, help="FER2013 faces per size")
    parser.add_argument("--repeats", type=int, default=50, help="astronaut frames timed")
    args = parser.parse_args()
    try:
        from fer import FER
    except ImportError as err:
        print(f"error: the peer `fer` is not installed ({err}); `make bench-peer` installs it.")
        return 2

    peer = FER()
    ours = Analyzer.load(args.model, detector="auto")
    sets = {"astronaut_640x480": [astronaut_frame()] * args.repeats}
    if args.fer:
        files = sorted(glob.glob(str(args.fer / "test" / "*" / "*.jpg")))
        files = files[:: max(1, len(files) // args.faces)][: args.faces]
        for name, side in LIVE_SIZES.items():
            sets[f"fer_test_{name}_{side}px"] = [
                compose_frame(cv2.imread(f), side, seed=i)[0] for i, f in enumerate(files)
            ]
    report: dict = {"ours": {"detector": ours.detector.name, "runtime": ours.runner.name}}
    for name, frames in sets.items():
        peer.detect_emotions(frames[0])  # warm up both
        ours.analyze_image(frames[0])
        mine = timed(lambda f: ours.analyze_image(f).faces, frames)
        theirs = timed(peer.detect_emotions, frames)
        report[name] = {
            "ours": mine,
            "fer": theirs,
            "time_ratio_ours_over_fer": round(mine["median_ms"] / theirs["median_ms"], 3),
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
