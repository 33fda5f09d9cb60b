"""The scaled-out stack on one machine: Redis, Celery workers and the web process, together.

``make run-scaled`` (``python -m musicmood.stack``) starts a Redis server when none answers at
``REDIS_URL``, one Celery worker and the web process (``musicmood.serve``), and stops all of
them together on Ctrl-C or when any one of them exits. The integration tests and the pipeline
benchmark start the same processes through the same context managers.

Development tooling: nothing here is imported by the site itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent

#: How long each process may take to become ready.
WEB_READY_SECONDS = 60.0
WORKER_READY_SECONDS = 90.0
REDIS_READY_SECONDS = 10.0
#: How long a process may take to stop after SIGTERM before it is killed.
STOP_SECONDS = 10.0


def free_port() -> int:
    """A TCP port on the loopback interface that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
        return True
    return False


def redis_answers(url: str) -> bool:
    """Whether a Redis server answers PING at ``url``."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _wait(proc: subprocess.Popen, log: Path, ready: Callable[[], bool], what: str, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready after {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after STOP_SECONDS; returns once the process is gone."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def running(
    command: list[str],
    env: Mapping[str, str],
    log: Path,
    ready: Callable[[], bool],
    what: str,
    timeout: float,
) -> Iterator[subprocess.Popen]:
    """Run ``command`` from the repository root, output to ``log``, from ready until exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - commands built here, from no outside input
            command, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT
        )
        try:
            _wait(proc, log, ready, what, timeout)
            yield proc
        finally:
            stop(proc)


@contextlib.contextmanager
def web_server(
    env: Mapping[str, str], log: Path, *, port: int | None = None, host: str = "127.0.0.1"
) -> Iterator[str]:
    """Run the web process (``python -m musicmood.serve``); yields its base URL."""
    port = port or free_port()
    command = [sys.executable, "-m", "musicmood.serve", "-b", host, "-p", str(port)]
    with running(command, env, log, lambda: port_open(port, host), "web", WEB_READY_SECONDS):
        yield f"http://{host}:{port}"


@contextlib.contextmanager
def celery_worker(
    env: Mapping[str, str], log: Path, *, concurrency: int = 1, name: str | None = None
) -> Iterator[subprocess.Popen]:
    """Run ``celery -A musicmood worker`` (threads pool) until it reports ready."""
    command = [
        sys.executable,
        "-m",
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
        name or f"musicmood-{os.getpid()}-{time.monotonic_ns()}@%h",
    ]
    ready = lambda: b" ready." in log.read_bytes()  # noqa: E731
    with running(command, env, log, ready, "celery worker", WORKER_READY_SECONDS) as proc:
        yield proc


@contextlib.contextmanager
def redis_server(log: Path, *, port: int | None = None) -> Iterator[str]:
    """Run a private ``redis-server`` on 127.0.0.1 with no persistence; yields its URL.

    Nothing it holds (frames in transit among it) is ever written to disk: snapshots and the
    append-only file are off.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server).")
    port = port or free_port()
    url = f"redis://127.0.0.1:{port}/0"
    command = [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(log.parent),
    ]
    with running(
        command, os.environ, log, lambda: redis_answers(url), "redis-server", REDIS_READY_SECONDS
    ):
        yield url


def site_env(**overrides: str) -> dict[str, str]:
    """Environment for a test or benchmark site process: development key, quiet TensorFlow,
    the default detector, and no mode inherited from the caller's REDIS_URL/DATABASE_URL."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="musicmood.settings",
        MUSICMOOD_DEV="1",
        PYTHONUNBUFFERED="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        FACE_DETECTOR="auto",
    )
    env.update(overrides)
    return env


def _stack_env(redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "musicmood.settings")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env["REDIS_URL"] = redis_url
    return env


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the stack as Ctrl-C does, children included


def main() -> int:
    """``make run-scaled``: Redis (when none answers), a worker and the web process."""
    signal.signal(signal.SIGTERM, _interrupt)
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    logs = Path(os.environ.get("MUSICMOOD_STACK_LOGS", ROOT / "run-scaled-logs"))
    with contextlib.ExitStack() as stack:
        if redis_answers(redis_url):
            print(f"Using the Redis at {redis_url}.")
        else:
            parts = urlsplit(redis_url)
            if parts.hostname not in ("127.0.0.1", "localhost"):
                print(
                    f"Redis at {redis_url} does not answer, and it is not local.", file=sys.stderr
                )
                return 1
            redis_url = stack.enter_context(
                redis_server(logs / "redis.log", port=parts.port or 6379)
            )
            print(f"Started redis-server at {redis_url} (no persistence).")
        env = _stack_env(redis_url)
        worker = stack.enter_context(celery_worker(env, logs / "worker.log", concurrency=2))
        print(f"Celery worker ready (pid {worker.pid}).")
        url = stack.enter_context(web_server(env, logs / "web.log", host=host, port=port))
        print(f"MusicMood (scaled out) on {url}; logs in {logs}/. Ctrl-C stops everything.")
        try:
            while worker.poll() is None and port_open(port, host):
                time.sleep(0.5)
            print("A process of the stack exited; stopping the others.", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nStopping the web process, the worker and Redis...")
            return 0


if __name__ == "__main__":
    sys.exit(main())
