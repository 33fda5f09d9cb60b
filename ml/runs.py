"""Where training runs live, and where each one stands.

A run is a folder (``checkpoints/``, ``report/``, ``export/``, ``cache/``). Runs default to
``MUSICMOOD_RUNS`` (``~/.cache/musicmood/runs`` unless set), outside the checkout, so a run
trained in legs (``--time-budget`` then ``--resume``) survives the work tree being laid anew.

``python -m ml.runs [RUN ...]`` prints one line per run: where it stands, its best epoch so far
and what to do next. It reads JSON only (no TensorFlow), so it answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Environment variable naming the folder of training runs.
RUNS_ENV = "MUSICMOOD_RUNS"
#: Name of the run ``train_model`` writes when no ``--out`` is given.
DEFAULT_RUN = "default"
#: A ``running`` leg whose state was last written longer ago than this many epochs' time (or
#: whose process is gone) is reported as interrupted.
STALE_EPOCHS = 3.0


def runs_root(environ: Mapping[str, str] = os.environ) -> Path:
    """``MUSICMOOD_RUNS`` when set and not empty, else ``musicmood/runs`` in the user's cache
    folder (``XDG_CACHE_HOME``, default ``~/.cache``)."""
    configured = environ.get(RUNS_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    cache = environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(cache).expanduser() if cache else Path.home() / ".cache") / "musicmood" / "runs"


def default_run_dir() -> Path:
    """The folder a training run writes when none is given."""
    return runs_root() / DEFAULT_RUN


def resolve_run(name: str | Path) -> Path:
    """The run folder ``name`` means: a ``Path`` as it is; a string with no path separator
    (and that is not an existing folder) names a run in ``runs_root()``, other strings are
    paths."""
    if isinstance(name, Path):
        return name
    text = str(name)
    if os.sep in text or "/" in text or text in (".", "..") or Path(text).exists():
        return Path(text).expanduser()
    return runs_root() / text


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON at ``path``; None where it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _process_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, TypeError, ValueError):
        return False
    return True


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def epoch_seconds(history: Sequence[Mapping[str, Any]]) -> float | None:
    """Typical seconds per epoch of a run so far: the median of its last three epochs."""
    times = sorted(float(r["seconds"]) for r in list(history)[-3:] if r.get("seconds"))
    return times[len(times) // 2] if times else None


def run_status(run: Path, *, now: float | None = None) -> str:
    """One line saying where the run in folder ``run`` stands."""
    now = time.time() if now is None else now
    state = read_json(run / "checkpoints" / "state.json")
    if state is None:
        if (run / "cache").is_dir():
            return f"{run}: preparing data (no epoch finished yet)"
        return f"{run}: no run here"
    config = state.get("config", {})
    epochs, done = int(config.get("epochs", 0)), int(state.get("epoch", 0))
    history = state.get("history", [])
    per_epoch = epoch_seconds(history)
    parts = [f"{run}: epoch {done}/{epochs}"]
    best = state.get("best_metrics") or {}
    if state.get("best_epoch"):
        parts.append(
            f"best {state['best_epoch']} (val mood {best.get('mood_accuracy', 0) * 100:.1f} %, "
            f"age MAE {best.get('age_mae') or 0:.2f}, "
            f"gender {(best.get('gender_accuracy') or 0) * 100:.1f} %)"
        )
    leg = state.get("leg", {})
    status = state.get("status", "running")
    if status == "running":  # unless its process is gone or has written nothing for long
        updated = float(leg.get("updated") or (run / "checkpoints" / "state.json").stat().st_mtime)
        stale = per_epoch is not None and now - updated > STALE_EPOCHS * per_epoch
        if ("pid" in leg and not _process_alive(leg["pid"])) or stale:
            status = "interrupted"
    remaining = max(0, epochs - done) * per_epoch if per_epoch else None
    left = f"~{_minutes(remaining)} left at {_minutes(per_epoch)}/epoch" if remaining else ""
    if status == "finished":
        parts.append(f"finished; export in {run / 'export'}")
    elif status == "paused":
        parts.append(f"paused by the time budget, {left}; continue with --resume")
    elif status == "interrupted":
        parts.append(f"interrupted after the last checkpoint, {left}; continue with --resume")
    else:
        parts.append(f"training (leg {leg.get('number', 1)}), {left}".rstrip(", "))
    return "; ".join(part for part in parts if part)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.runs", description="Say where each training run stands."
    )
    parser.add_argument(
        "runs", nargs="*", help=f"run names under {RUNS_ENV} or folders (default: all runs there)"
    )
    options = parser.parse_args(argv)
    root = runs_root()
    runs = [resolve_run(name) for name in options.runs]
    if not runs:
        runs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if not runs:
            print(f"no runs in {root} ({RUNS_ENV})")
            return 0
    for run in runs:
        print(run_status(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
