"""The ml package is a plain library: importing all of it pulls in no web or task framework."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import ml

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("django", "celery", "channels")


def ml_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(ml.__path__, prefix="ml.")
        if not info.name.endswith("__main__")
    )


def test_the_ml_package_has_the_serving_modules():
    assert {"ml.detection", "ml.export", "ml.inference", "ml.runtime", "ml.evaluate"} <= set(
        ml_modules()
    )


def test_importing_every_ml_module_loads_no_django_celery_or_channels():
    code = (
        "import importlib, sys\n"
        f"for name in {ml_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
