"""Benchmark of on-device analysis: time per frame in headless Chromium (detector, network, whole
frame), next to the server's ``Analyzer`` on the same frames in the same run.

Prints one JSON object. Usage::

    .venv/bin/python bench/ondevice.py [--model DIR] [--repeats 30]

The page's side runs in Debian's headless Chromium against a live server (the site itself,
``musicmood.serve``), with ONNX Runtime Web on one thread as the page runs it; it is timed from
canvas pixels to estimates (the page never encodes or decodes a picture). The server's side is
``Analyzer.analyze_image`` on the same pixels in this process, with the served runtime (int8
TFLite, mirror-averaged as the export asks) and RetinaFace MobileNet-0.25 at
``FACE_DETECTION_MAX_SIDE`` (320), and its detector and network timed apart.

Without ``--model``, ``models/default`` is used when it has ``model.onnx``; otherwise an
untrained model of the default configuration (``TrainConfig``'s) is exported to a temp
folder (latency does not depend on the weights) and ``model.source`` says so.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.model import bench_model, stats, wall_times  # noqa: E402
from emotion.browser_runtime import INSTALL_COMMAND, VERSION, runtime_status  # noqa: E402
from ml.detection import RetinaFaceMobileNetDetector  # noqa: E402
from ml.detection.base import DEFAULT_MAX_SIDE  # noqa: E402
from ml.export import ONNX_FILE, load_metadata  # noqa: E402
from ml.inference import Analyzer  # noqa: E402
from musicmood.samples import FRAME_BACKGROUND, astronaut_frame, two_face_frame  # noqa: E402
from musicmood.stack import site_env, web_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
#: Untimed runs of each frame first (the runtime sizes its buffers on the first calls).
WARMUP = 3

#: Loads the page's analyzer (timed), then times `repeats` analyses of each PNG frame.
BROWSER_BENCH = """
const [frames, repeats, warmup, done] = arguments;
(async () => {
  const app = document.getElementById("app");
  const started = performance.now();
  const module = await import(app.dataset.ondeviceModule);
  const analyzer = await module.loadOnDevice(app.dataset.ondeviceConfig);
  const loadMs = performance.now() - started;
  const results = {};
  for (const [name, png] of Object.entries(frames)) {
    const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    const image = context.getImageData(0, 0, bitmap.width, bitmap.height);
    const runs = [];
    let faces = 0;
    for (let i = 0; i < warmup + repeats; i++) {
      const result = await analyzer.analyze(image, { demographics: true });
      faces = result.faces.length;
      if (i >= warmup) runs.push(result.timing);
    }
    results[name] = { runs, faces };
  }
  return { loadMs, results, userAgent: navigator.userAgent };
})().then(done, (err) => done({ error: String((err && err.stack) || err) }));
"""


def bench_frames() -> dict[str, np.ndarray]:
    """The frames timed: one face, two faces, and nobody (the detector then looks twice)."""
    return {
        "one_face": astronaut_frame(640, 480),
        "two_faces": two_face_frame(640, 480),
        "nobody": np.full((480, 640, 3), FRAME_BACKGROUND, np.uint8),
    }


def bench_browser(model_dir: Path, frames: dict[str, np.ndarray], repeats: int) -> dict[str, Any]:
    """The page's analysis of each frame in headless Chromium, against a live server."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    pngs = {
        name: base64.b64encode(cv2.imencode(".png", frame)[1].tobytes()).decode("ascii")
        for name, frame in frames.items()
    }
    with tempfile.TemporaryDirectory(prefix="musicmood-bench-site-") as tmp:
        env = site_env(MUSICMOOD_MODEL=str(model_dir), ANALYSIS_MODE="inline")
        env["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'db.sqlite3'}"
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        with web_server(env, Path(tmp) / "web.log") as url:
            options = webdriver.ChromeOptions()
            options.binary_location = CHROMIUM
            for flag in CHROMIUM_FLAGS:
                options.add_argument(flag)
            driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
            try:
                driver.set_script_timeout(1800)
                driver.get(url + "/")
                answer = driver.execute_async_script(BROWSER_BENCH, pngs, repeats, WARMUP)
            finally:
                driver.quit()
    if "error" in answer:
        raise RuntimeError(f"The page's analysis failed: {answer['error']}")
    result: dict[str, Any] = {
        "chromium": answer["userAgent"].split("Chrome/")[-1].split(" ")[0],
        "load_ms": round(answer["loadMs"], 1),
    }
    for name, measured in answer["results"].items():
        runs = measured["runs"]
        result[name] = {
            "faces": measured["faces"],
            "detector": stats([run["detector_ms"] for run in runs]),
            "network": stats([run["network_ms"] for run in runs]),
            "frame": stats([run["total_ms"] for run in runs]),
        }
    return result


def bench_server(model_dir: Path, frames: dict[str, np.ndarray], repeats: int) -> dict[str, Any]:
    """The server's ``Analyzer`` on the same pixels: detector, network and the whole frame."""
    detector = RetinaFaceMobileNetDetector(max_side=DEFAULT_MAX_SIDE)
    analyzer = Analyzer.load(model_dir, detector=detector, runtime="auto")
    result: dict[str, Any] = {
        "runtime": analyzer.runner.name,
        "detector_max_side": DEFAULT_MAX_SIDE,
    }
    for name, frame in frames.items():
        faces = detector.detect(frame)
        entry = {
            "faces": len(faces),
            "detector": stats(wall_times(lambda f=frame: detector.detect(f), repeats, WARMUP)),
        }
        if faces:
            work = lambda f=frame, found=faces: analyzer.analyze_faces(f, found)  # noqa: E731
            entry["network"] = stats(wall_times(work, repeats, WARMUP))
        entry["frame"] = stats(
            wall_times(lambda f=frame: analyzer.analyze_image(f), repeats, WARMUP)
        )
        result[name] = entry
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="export folder with model.onnx")
    parser.add_argument("--repeats", type=int, default=30, help="timed analyses per frame")
    args = parser.parse_args(argv)
    if not runtime_status().available:
        print(f"onnxruntime-web is not installed: {INSTALL_COMMAND}", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="musicmood-bench-") as tmp:
        model_dir, source = bench_model(args.model, Path(tmp), needs=ONNX_FILE)
        meta = load_metadata(model_dir)
        frames = bench_frames()
        browser = bench_browser(model_dir, frames, args.repeats)
        server = bench_server(model_dir, frames, args.repeats)
        report: dict[str, Any] = {
            "machine": {
                "cpus": os.cpu_count(),
                "load_average": [round(v, 2) for v in os.getloadavg()],
                "python": platform.python_version(),
            },
            "model": {
                "source": source,
                "input_shape": list(meta.input_shape),
                "mirror_average": meta.mirror_average,
            },
            "browser": {"onnxruntime_web": VERSION, "threads": 1, **browser},
            "server": server,
            "ratio_browser_over_server_frame": {
                name: round(
                    browser[name]["frame"]["median_ms"] / server[name]["frame"]["median_ms"], 2
                )
                for name in frames
            },
        }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
