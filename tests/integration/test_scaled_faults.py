"""Scaled-out mode under faults: idle sockets, a killed worker, a stopped Redis, no worker.

Everything is real: a private ``redis-server`` per test (so stopping it harms no one), the web
process (``musicmood.serve``), ``celery -A musicmood worker`` processes, and ``websockets``
clients on loopback, all started through ``musicmood.stack`` as ``make run-scaled`` does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import time

import pytest
import redis

from emotion.frames import FRAME_KEY_PREFIX
from musicmood.stack import celery_worker, free_port, redis_server, site_env, web_server
from tests.integration.listener import Listener, migrated_sqlite

pytestmark = [pytest.mark.redis, pytest.mark.slow]

#: The analysis timeout of these sites: short, so the faults show quickly.
TIMEOUT_SECONDS = 3.0
#: How long an idle socket must survive (channels_redis's blocking pop is 5 s).
IDLE_SECONDS = 30.0
#: How long the site may take to recover after a fault.
RECOVERY_SECONDS = 60.0


@pytest.fixture(scope="module")
def base_env(tiny_model_dir, tmp_path_factory) -> dict[str, str]:
    env = site_env(
        MUSICMOOD_MODEL=str(tiny_model_dir),
        ANALYSIS_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        FRAME_RATE_PER_SECOND="50",
        FRAME_RATE_BURST="50",
    )
    return migrated_sqlite(env, tmp_path_factory.mktemp("faults-db"))


@contextlib.contextmanager
def private_redis(tmp_path, name="redis", port=None):
    with redis_server(tmp_path / f"{name}.log", port=port) as url:
        yield url


async def analyzed_again(listener: Listener, frame: bytes, *, within: float) -> list[dict]:
    """Send frames (one at a time, a second apart) until one is analyzed; all replies."""
    replies = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        reply = await listener.frame(frame, timeout=TIMEOUT_SECONDS + 10)
        replies.append(reply)
        if reply["type"] == "analysis":
            return replies
        await asyncio.sleep(1.0)
    pytest.fail(f"No frame was analyzed within {within:g} s; replies: {replies}")


def test_a_socket_idle_for_30_s_stays_open_and_analyzes_afterwards(
    base_env, astronaut_jpeg, tmp_path
):
    with private_redis(tmp_path) as url:
        env = {**base_env, "REDIS_URL": url}
        with (
            celery_worker(env, tmp_path / "worker.log"),
            web_server(env, tmp_path / "web.log") as site,
        ):

            async def scenario():
                listener = await Listener.connect(site)
                first = await listener.frame(astronaut_jpeg)
                await asyncio.sleep(IDLE_SECONDS)
                after = await listener.frame(astronaut_jpeg)
                await listener.close()
                return first, after

            first, after = asyncio.run(scenario())
    assert first["type"] == "analysis", first
    assert after["type"] == "analysis", after
    assert len(after["faces"]) == 1
    web_log = (tmp_path / "web.log").read_text()
    assert "Traceback" not in web_log, web_log[-3000:]


def test_a_killed_worker_costs_the_frame_in_flight_and_a_new_worker_takes_over(
    base_env, astronaut_jpeg, tmp_path
):
    with private_redis(tmp_path) as url:
        env = {**base_env, "REDIS_URL": url}
        with web_server(env, tmp_path / "web.log") as site:

            async def scenario():
                listener = await Listener.connect(site)
                with celery_worker(env, tmp_path / "worker-1.log") as worker:
                    before = await listener.frame(astronaut_jpeg)
                    # Freeze the worker so the next frame is surely in flight, then kill it.
                    os.kill(worker.pid, signal.SIGSTOP)
                    await listener.ws.send(astronaut_jpeg)
                    await asyncio.sleep(0.5)
                    os.kill(worker.pid, signal.SIGKILL)
                    lost = await listener.reply(timeout=TIMEOUT_SECONDS + 10)
                with celery_worker(env, tmp_path / "worker-2.log"):
                    after = await analyzed_again(listener, astronaut_jpeg, within=RECOVERY_SECONDS)
                await listener.close()
                return before, lost, after

            before, lost, after = asyncio.run(scenario())
    assert before["type"] == "analysis", before
    assert lost["type"] == "error" and lost["code"] == "analysis_timeout", lost
    assert after[-1]["type"] == "analysis"
    assert len(after[-1]["faces"]) == 1


def test_a_stopped_redis_gives_analysis_unavailable_and_analysis_resumes_when_it_is_back(
    base_env, astronaut_jpeg, tmp_path
):
    port = free_port()
    first_redis = private_redis(tmp_path, "redis-1", port=port)
    url = first_redis.__enter__()
    env = {**base_env, "REDIS_URL": url}
    try:
        with (
            celery_worker(env, tmp_path / "worker.log"),
            web_server(env, tmp_path / "web.log") as site,
        ):

            async def scenario():
                listener = await Listener.connect(site)
                bystander = await Listener.connect(site)  # open and idle all along
                before = await listener.frame(astronaut_jpeg)
                await asyncio.to_thread(first_redis.__exit__, None, None, None)
                during = await listener.frame(astronaut_jpeg, timeout=TIMEOUT_SECONDS + 10)
                again = private_redis(tmp_path, "redis-2", port=port)
                await asyncio.to_thread(again.__enter__)
                try:
                    after = await analyzed_again(listener, astronaut_jpeg, within=RECOVERY_SECONDS)
                    bystander_reply = await bystander.frame(astronaut_jpeg)
                    await listener.close()
                    await bystander.close()
                finally:
                    await asyncio.to_thread(again.__exit__, None, None, None)
                return before, during, after, bystander_reply

            before, during, after, bystander_reply = asyncio.run(scenario())
    finally:
        first_redis.__exit__(None, None, None)
    assert before["type"] == "analysis", before
    assert during["type"] == "error" and during["code"] == "analysis_unavailable", during
    # While the worker reconnects, a frame may be lost to the timeout; nothing else fails.
    assert {r.get("code") for r in after[:-1]} <= {"analysis_unavailable", "analysis_timeout"}
    assert after[-1]["type"] == "analysis" and len(after[-1]["faces"]) == 1
    assert bystander_reply["type"] == "analysis", bystander_reply
    web_log = (tmp_path / "web.log").read_text()
    assert "Traceback" not in web_log, web_log[-3000:]
    outage = web_log.split("reaches Redis again")[0]
    assert outage.count("cannot reach Redis") == 1  # one line per outage, not per socket


def test_with_no_worker_a_queued_frame_is_gone_from_redis_after_the_analysis_timeout(
    base_env, astronaut_jpeg, tmp_path
):
    with private_redis(tmp_path) as url:
        env = {**base_env, "REDIS_URL": url}
        client = redis.Redis.from_url(url)
        with web_server(env, tmp_path / "web.log") as site:

            async def scenario():
                listener = await Listener.connect(site)
                await listener.ws.send(astronaut_jpeg)
                await asyncio.sleep(0.5)
                queued = snapshot(client)
                sent_at = time.monotonic()
                reply = await listener.reply(timeout=TIMEOUT_SECONDS + 10)
                while snapshot(client)["frames"] and time.monotonic() - sent_at < TIMEOUT_SECONDS:
                    await asyncio.sleep(0.1)
                await listener.close()
                return queued, reply

            queued, reply = asyncio.run(scenario())
            left = snapshot(client)
    assert len(queued["frames"]) == 1, queued
    assert 0 < queued["frames"][0] <= TIMEOUT_SECONDS * 1000
    assert queued["tasks"] == 1  # the task waits in the queue, without the frame
    assert not contains_frame(queued["values"], astronaut_jpeg)  # only in its expiring key
    assert reply["code"] == "analysis_timeout"
    assert left["frames"] == []
    assert not contains_frame(left["values"], astronaut_jpeg)


def snapshot(client: redis.Redis) -> dict:
    """The frame keys' TTLs (ms), the number of queued tasks, and every other value in Redis."""
    frames = [client.pttl(key) for key in client.scan_iter(f"{FRAME_KEY_PREFIX}*")]
    values = []
    for key in client.scan_iter("*"):
        if key.startswith(FRAME_KEY_PREFIX.encode()):
            continue
        kind = client.type(key)
        if kind == b"string":
            values.append(client.get(key))
        elif kind == b"list":
            values += client.lrange(key, 0, -1)
        elif kind == b"zset":
            values += client.zrange(key, 0, -1)
        elif kind == b"hash":
            values += client.hvals(key)
        elif kind == b"set":
            values += client.smembers(key)
    return {"frames": frames, "tasks": client.llen("celery"), "values": values}


def contains_frame(values: list[bytes], frame: bytes) -> bool:
    """Whether any value holds a piece of ``frame``, raw or base64-encoded."""
    piece = frame[999:1047]
    encoded = base64.b64encode(piece)  # 999 is a multiple of 3: aligned with the whole's encoding
    return any(piece in value or encoded in value for value in values if value)
