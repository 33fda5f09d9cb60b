"""Frames in transit to a Celery worker: in Redis, under a key that expires with the analysis.

Celery's ``expires`` is checked only by a worker, so a frame inside a task message would sit in
the queue for as long as no worker reads it. The frame's bytes therefore travel apart from the
task: ``frame_put`` stores them under a random key with a time-to-live of the analysis timeout,
the task carries only that key, and ``frame_take`` reads them once and deletes them. Whether or
not a worker runs, no frame outlives ``ANALYSIS_TIMEOUT_SECONDS`` in Redis.
"""

from __future__ import annotations

import math
import secrets
from functools import lru_cache

import redis

#: Prefix of the keys holding frames in transit.
FRAME_KEY_PREFIX = "musicmood:frame:"
#: Redis socket timeouts of the frame store: a dead Redis must fail a frame fast.
FRAME_STORE_TIMEOUT_SECONDS = 2.0


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=FRAME_STORE_TIMEOUT_SECONDS,
        socket_connect_timeout=FRAME_STORE_TIMEOUT_SECONDS,
    )


def frame_put(*, url: str, data: bytes, ttl_seconds: float) -> str:
    """Store a frame's bytes in the Redis at ``url`` for ``ttl_seconds``; returns its key.

    Raises:
        redis.RedisError: Redis cannot be reached.
    """
    key = FRAME_KEY_PREFIX + secrets.token_hex(16)
    _client(url).set(key, data, px=max(1, math.ceil(ttl_seconds * 1000.0)))
    return key


def frame_take(*, url: str, key: str) -> bytes | None:
    """A frame's bytes, deleted as they are read; None once it expired or was taken.

    Raises:
        ValueError: ``key`` is not a frame key (a task must never delete other keys).
        redis.RedisError: Redis cannot be reached.
    """
    if not key.startswith(FRAME_KEY_PREFIX):
        raise ValueError(f"Expected a key starting {FRAME_KEY_PREFIX!r}, got {key!r}.")
    pipe = _client(url).pipeline(transaction=True)
    data, _deleted = pipe.get(key).delete(key).execute()
    return data
