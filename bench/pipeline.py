"""End-to-end latency of the live path, over a real websocket, in both running modes.

Starts the real web process (``musicmood.serve``; embedded mode: in-process thread pool, then
Redis mode: channels_redis plus a real ``celery -A musicmood worker``), connects 1, 4 and 16
concurrent ``websockets`` clients on loopback, and has each send frames one at a time (the
page's rule: the next frame only after the reply); then LOAD_SOCKETS sockets at once send
LOAD_FRAMES frames each, and every reply is counted. Prints JSON: latency from frame sent to
``analysis`` received (median, p95), analyzed frames per second, dropped/errored replies, next
to the in-process ``Analyzer.analyze`` time on the same frame, so transport overhead is a ratio
from one run.

Bounded: each level runs for LEVEL_SECONDS, the fixed load for its frame count; everything
listens on 127.0.0.1 only.
Run: ``.venv/bin/python bench/pipeline.py`` (needs Redis at REDIS_URL_TEST for the Redis mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import websockets  # noqa: E402

from ml.export import METADATA_FILE  # noqa: E402
from musicmood.samples import astronaut_frame, build_tiny_model, encode_jpeg  # noqa: E402
from musicmood.stack import celery_worker, site_env, web_server  # noqa: E402

CLIENTS = (1, 4, 16)
#: The fixed load: this many sockets at once, each sending this many frames one at a time.
LOAD_SOCKETS = 50
LOAD_FRAMES = 20
LEVEL_SECONDS = float(os.environ.get("BENCH_LEVEL_SECONDS", "6"))
IN_PROCESS_RUNS = 60
REDIS_URL = os.environ.get("REDIS_URL_TEST", "redis://127.0.0.1:6379/15")
SHIPPED_MODEL = ROOT / "models" / "default"


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median_ms": None, "p95_ms": None, "n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "n": len(ordered),
    }


def in_process(model_dir: Path, frame: bytes) -> dict:
    from ml.inference import Analyzer

    analyzer = Analyzer.load(model_dir, detector="opencv")
    faces = len(analyzer.analyze(frame).faces)
    times = []
    for _ in range(IN_PROCESS_RUNS):
        started = time.perf_counter()
        analyzer.analyze(frame)
        times.append((time.perf_counter() - started) * 1000.0)
    return {**percentiles(times), "faces": faces, "runner": analyzer.runner.name}


async def frame_reply(ws, frame: bytes) -> dict:
    """Send one frame; its ``analysis`` or ``error`` reply (moods and playlists skipped)."""
    await ws.send(frame)
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if reply["type"] in ("analysis", "error"):
            return reply


def connect(url: str):
    ws_url = url.replace("http://", "ws://") + "/ws/mood/"
    return websockets.connect(ws_url, origin=url, open_timeout=30, max_size=2**20)


async def client(url: str, frame: bytes, deadline: float, out: dict) -> None:
    async with connect(url) as ws:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            reply = await frame_reply(ws, frame)
            if reply["type"] == "analysis":
                out["latency"].append((time.perf_counter() - sent) * 1000.0)
                out["server"].append(reply["ms"])
            else:
                out["errors"][reply["code"]] = out["errors"].get(reply["code"], 0) + 1
                await asyncio.sleep(0.05)


async def level(url: str, frame: bytes, clients: int) -> dict:
    # One warm-up frame so model loading is not measured.
    await client(
        url, frame, time.perf_counter() + 0.01, {"latency": [], "server": [], "errors": {}}
    )
    out: dict = {"latency": [], "server": [], "errors": {}}
    started = time.perf_counter()
    deadline = started + LEVEL_SECONDS
    await asyncio.gather(*(client(url, frame, deadline, out) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {
        "clients": clients,
        "latency": percentiles(out["latency"]),
        "server_ms": percentiles(out["server"]),
        "frames_per_second": round(len(out["latency"]) / elapsed, 2),
        "errors": out["errors"],
    }


async def socket_frames(url: str, frame: bytes, frames: int, out: dict) -> None:
    async with connect(url) as ws:
        for _ in range(frames):
            sent = time.perf_counter()
            reply = await frame_reply(ws, frame)
            out["answered"] += 1
            if reply["type"] == "analysis":
                out["latency"].append((time.perf_counter() - sent) * 1000.0)
            else:
                out["errors"][reply["code"]] = out["errors"].get(reply["code"], 0) + 1


async def fixed_load(url: str, frame: bytes) -> dict:
    """LOAD_SOCKETS sockets at once, each sending LOAD_FRAMES frames one at a time."""
    out: dict = {"answered": 0, "latency": [], "errors": {}}
    started = time.perf_counter()
    await asyncio.gather(
        *(socket_frames(url, frame, LOAD_FRAMES, out) for _ in range(LOAD_SOCKETS))
    )
    return {
        "sockets": LOAD_SOCKETS,
        "frames_per_socket": LOAD_FRAMES,
        "sent": LOAD_SOCKETS * LOAD_FRAMES,
        "answered": out["answered"],
        "analyzed": len(out["latency"]),
        "errors": out["errors"],
        "latency": percentiles(out["latency"]),
        "seconds": round(time.perf_counter() - started, 2),
    }


def run_mode(env: dict, frame: bytes, log_dir: Path, *, redis_mode: bool) -> dict:
    with contextlib.ExitStack() as stack:
        if redis_mode:
            stack.enter_context(celery_worker(env, log_dir / "worker.log", concurrency=2))
        url = stack.enter_context(web_server(env, log_dir / f"web-{redis_mode}.log"))
        levels = [asyncio.run(level(url, frame, n)) for n in CLIENTS]
        return {"levels": levels, "load": asyncio.run(fixed_load(url, frame))}


def main() -> None:
    frame = encode_jpeg(astronaut_frame(640, 480))
    with tempfile.TemporaryDirectory(prefix="musicmood-bench-") as tmp:
        tmp_path = Path(tmp)
        if (SHIPPED_MODEL / METADATA_FILE).is_file():
            model_dir, model = SHIPPED_MODEL, "shipped (models/default)"
        else:
            model_dir = build_tiny_model(tmp_path / "tiny-model")
            model = "tiny untrained export (models/default missing): width 1/16, 48x48 gray"
        base = dict(
            MUSICMOOD_MODEL=str(model_dir),
            FACE_DETECTOR="opencv",
            DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
            FRAME_RATE_PER_SECOND="1000",  # the bench measures throughput, not the limiter
            FRAME_RATE_BURST="1000",
            LOG_LEVEL="WARNING",
        )
        report: dict = {
            "model": model,
            "detector": "opencv",
            "frame": {"width": 640, "height": 480, "bytes": len(frame)},
            "level_seconds": LEVEL_SECONDS,
            "cpu_count": os.cpu_count(),
            "in_process_analyze": in_process(model_dir, frame),
        }
        inline_env = site_env(**base, ANALYSIS_MODE="inline", ANALYSIS_THREADS="2")
        report["embedded"] = run_mode(inline_env, frame, tmp_path, redis_mode=False)
        try:
            client_ = redis.Redis.from_url(REDIS_URL)
            client_.ping()
        except redis.ConnectionError:
            report["redis_worker"] = f"skipped: no Redis at {REDIS_URL}"
        else:
            client_.flushdb()
            redis_env = site_env(**base, REDIS_URL=REDIS_URL)
            try:
                report["redis_worker"] = run_mode(redis_env, frame, tmp_path, redis_mode=True)
            finally:
                client_.flushdb()
        analyze_ms = report["in_process_analyze"]["median_ms"]
        for mode in ("embedded", "redis_worker"):
            if isinstance(report[mode], dict):
                for row in report[mode]["levels"]:
                    median = row["latency"]["median_ms"]
                    row["overhead_ratio"] = round(median / analyze_ms, 2) if median else None
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
