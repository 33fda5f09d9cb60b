"""Starting the real server and worker processes for integration, browser and bench runs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on the loopback interface that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_env(**overrides: str) -> dict[str, str]:
    """The environment of a site process: development key, quiet TensorFlow, no inherited mode."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="musicmood.settings",
        MUSICMOOD_DEV="1",
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        FACE_DETECTOR="opencv",
    )
    env.update(overrides)
    return env


def _wait(proc: subprocess.Popen, log: Path, ready, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready after {timeout:.0f} s:\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@contextlib.contextmanager
def _running(
    args: list[str], env: Mapping[str, str], log: Path, ready, what: str, timeout: float
) -> Iterator[subprocess.Popen]:
    """Run ``python -m <args>`` from the repository root, output to ``log``, until ready."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait(proc, log, ready, what, timeout)
            yield proc
        finally:
            _stop(proc)


@contextlib.contextmanager
def daphne_server(
    env: Mapping[str, str], log: Path, *, port: int | None = None, timeout: float = 60
) -> Iterator[str]:
    """Run ``daphne musicmood.asgi:application`` on 127.0.0.1; yields its base URL."""
    port = port or free_port()
    args = ["daphne", "-b", "127.0.0.1", "-p", str(port), "musicmood.asgi:application"]
    with _running(args, env, log, lambda: _port_open(port), "daphne", timeout):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def celery_worker(
    env: Mapping[str, str], log: Path, *, concurrency: int = 1, timeout: float = 90
) -> Iterator[subprocess.Popen]:
    """Run ``celery -A musicmood worker`` (threads pool) until it reports ready."""
    args = [
        "celery",
        "-A",
        "musicmood",
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-n",
        f"test-{os.getpid()}@%h",
    ]
    ready = lambda: b" ready." in log.read_bytes()  # noqa: E731
    with _running(args, env, log, ready, "celery worker", timeout) as proc:
        yield proc
