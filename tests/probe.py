"""A fresh Python process, for the tests of what a process imports or reads when it starts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence

import pytest

from musicmood.stack import ROOT


def python_probe(
    code: str,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    timeout: float = 120,
) -> str:
    """Run ``code`` with ``python -c`` (and ``args``) at the repository root; its stdout.

    Fails the calling test with the process's stderr when it exits with an error.
    """
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        pytest.fail(f"The probe exited with {done.returncode}:\n{done.stderr}")
    return done.stdout
