"""What a Celery worker does with a queued frame: take it from Redis, analyze it, reply.

The body of ``emotion.tasks.analyze_frame``; the frame's bytes travel apart from the task, under
a Redis key that expires with the analysis timeout (``emotion.frames``).
"""

from __future__ import annotations

import logging

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from emotion.frames import frame_take
from emotion.messages import frame_result_message
from musicmood.channel_layer import REDIS_DOWN_ERRORS

logger = logging.getLogger(__name__)


def frame_reply(*, channel_name: str, frame_no: int, frame_key: str) -> None:
    """Take the frame stored under ``frame_key``, analyze it, send the result to ``channel_name``.

    A frame whose key already expired is dropped: its consumer has told the listener
    ``analysis_timeout``.
    """
    try:
        data = frame_take(url=settings.CELERY_BROKER_URL, key=frame_key)
    except redis.RedisError as err:
        logger.warning("Could not read frame %d from Redis: %s", frame_no, err)
        return
    if data is None:
        logger.info("Frame %d expired before a worker took it; dropped.", frame_no)
        return
    message = frame_result_message(frame_no=frame_no, data=data)
    try:
        async_to_sync(get_channel_layer().send)(channel_name, message)
    except REDIS_DOWN_ERRORS as err:
        logger.warning("Could not send the result of frame %d: %s", frame_no, err)
