"""The Redis channel layer of the scaled-out mode, made to outlive Redis outages.

``channels_redis`` raises out of ``receive`` when Redis cannot be reached, and Channels then ends
the consumer with close code 1011: every listener's socket died with Redis, and with it the
smoothed mood. Here ``receive`` waits for Redis to come back instead (backing off up to
``RECEIVE_RETRY_MAX_SECONDS``), so sockets stay open through an outage; frames sent meanwhile
get ``analysis_unavailable`` from the dispatcher, and analysis resumes by itself once Redis
answers again. The outage is logged once when it starts and once when it ends.
"""

from __future__ import annotations

import asyncio
import logging

import redis.exceptions
from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

#: First and longest wait between two attempts to read from an unreachable Redis.
RECEIVE_RETRY_FIRST_SECONDS = 0.2
RECEIVE_RETRY_MAX_SECONDS = 2.0
#: What redis-py raises when the server is down, restarting or unreachable.
REDIS_DOWN_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class ResilientRedisChannelLayer(RedisChannelLayer):
    """``RedisChannelLayer`` whose ``receive`` retries until Redis answers again."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.redis_down = False

    async def receive(self, channel: str) -> dict:
        """The next message on ``channel``; waits out Redis outages instead of raising."""
        delay = RECEIVE_RETRY_FIRST_SECONDS
        while True:
            try:
                message = await super().receive(channel)
            except REDIS_DOWN_ERRORS as err:
                if not self.redis_down:
                    self.redis_down = True
                    logger.warning(
                        "The channel layer cannot reach Redis (%s); sockets stay open and "
                        "retry every %g s at most.",
                        err,
                        RECEIVE_RETRY_MAX_SECONDS,
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECEIVE_RETRY_MAX_SECONDS)
                continue
            if self.redis_down:
                self.redis_down = False
                logger.info("The channel layer reaches Redis again.")
            return message
