"""Benchmark of one training step of the default network, float32 against bfloat16.

Prints one JSON object: the median milliseconds per step (batch 64, the default
configuration's network (``TrainConfig``), its real losses and optimizer) for each precision,
measured in alternating rounds in the same process, and ``bfloat16_over_float32``, the ratio
of the medians (below 1 means mixed precision trains faster here). ``--widths`` times other
widths of the network (``--width`` of training) in the same rounds, in the precision
``--precision auto`` trains in here (``widths_precision``), and adds ``widths``: each one's
parameters, step time and its ratio to the default width's. Usage::

    .venv/bin/python bench/train_step.py [--steps 20] [--rounds 3] [--batch-size 64] \
        [--widths 0.625,0.75]

Mixed precision pays where the CPU has bfloat16 matrix units (``amx_bf16``, ``avx512_bf16``,
listed under ``cpu_flags``); elsewhere it can be slower than float32.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as the README's training command
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import keras  # noqa: E402

from ml.model import bfloat16_cpu_flags, build_model  # noqa: E402
from ml.train import compile_model, resolve_precision  # noqa: E402
from ml.train_config import TrainConfig  # noqa: E402

PRECISIONS = ("float32", "bfloat16")


def trainer(
    precision: str, batch_size: int, width: float | None = None
) -> tuple[keras.Model, np.ndarray, dict]:
    """The default network (at ``width``, None for the default's) compiled as training
    compiles it, and one batch of made-up faces."""
    keras.utils.set_random_seed(0)
    config = TrainConfig(fer=Path("unused"), precision=precision)
    params = config.preprocessing()
    model = build_model(
        input_size=params.input_size,
        channels=params.channels,
        width=config.width if width is None else width,
        precision=precision,
    )
    compile_model(model, config, [1.0] * 4, config.lr)
    rng = np.random.default_rng(0)
    images = rng.random((batch_size, *params.input_shape), dtype=np.float32)
    targets = {
        "emotion": rng.integers(0, 4, batch_size),
        "age": rng.uniform(1, 80, batch_size).astype(np.float32),
        "gender": rng.integers(0, 2, batch_size).astype(np.float32),
    }
    return model, images, targets


def widths_list(text: str) -> tuple[float, ...]:
    """``--widths`` parsed: "0.625,0.75" -> (0.625, 0.75)."""
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected widths such as 0.625,0.75, got {text!r}"
        ) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per precision")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--widths",
        type=widths_list,
        default=(),
        help="comma-separated other network widths to time beside the default's, e.g. 0.75",
    )
    options = parser.parse_args()

    default_width = TrainConfig(fer=Path("unused")).width
    other_widths = [w for w in dict.fromkeys(options.widths) if w != default_width]
    precision = resolve_precision()
    trainers = {p: trainer(p, options.batch_size) for p in PRECISIONS}
    trainers |= {w: trainer(precision, options.batch_size, w) for w in other_widths}
    for model, images, targets in trainers.values():
        for _ in range(3):  # tracing and the first oneDNN kernels
            model.train_on_batch(images, targets)
    times: dict[str | float, list[float]] = {key: [] for key in trainers}
    for _ in range(options.rounds):
        for key, (model, images, targets) in trainers.items():
            for _ in range(options.steps):
                started = time.perf_counter()
                model.train_on_batch(images, targets)
                times[key].append((time.perf_counter() - started) * 1000)

    medians = {key: statistics.median(values) for key, values in times.items()}
    widths = {
        str(default_width): (trainers[precision][0], medians[precision]),
        **{str(w): (trainers[w][0], medians[w]) for w in other_widths},
    }
    figures = {
        width: {
            "parameters": model.count_params(),
            "step_ms": round(ms, 1),
            "over_default": round(ms / medians[precision], 3),
        }
        for width, (model, ms) in widths.items()
    }
    print(
        json.dumps(
            {
                "machine": {
                    "cpu": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(),
                    "cpu_flags": bfloat16_cpu_flags(),
                    "keras_backend": keras.backend.backend(),
                },
                "batch_size": options.batch_size,
                "steps_per_precision": len(times["float32"]),
                "step_ms": {p: round(medians[p], 1) for p in PRECISIONS},
                "images_per_second": {
                    p: round(options.batch_size * 1000 / medians[p], 1) for p in PRECISIONS
                },
                "bfloat16_over_float32": round(medians["bfloat16"] / medians["float32"], 3),
                **({"widths_precision": precision, "widths": figures} if options.widths else {}),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
