"""Where a frame is analyzed: on the web process's thread pool, or by a Celery worker.

Inline mode (the embedded default) runs ``emotion.messages.frame_result_message`` on a pool of
``ANALYSIS_THREADS``; celery mode stores the frame in Redis (``emotion.frames``) and queues
``emotion.tasks.analyze_frame`` with its key. Either way the ``frame.analyzed`` result arrives
on the consumer's channel. This is the only module that knows the task.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from emotion.analyzer import analyzer_get, analyzer_loaded, model_available
from emotion.errors import AnalysisUnavailable
from emotion.frames import frame_put
from emotion.messages import frame_result_message
from emotion.tasks import analyze_frame

logger = logging.getLogger(__name__)

_pending: set[asyncio.Task] = set()  # keeps reply tasks referenced until they finish


@lru_cache(maxsize=1)
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=max(1, settings.ANALYSIS_THREADS), thread_name_prefix="analysis"
    )


async def analysis_submit(*, channel_name: str, frame_no: int, data: bytes) -> None:
    """Start analyzing a frame; its ``frame.analyzed`` result arrives on ``channel_name``.

    A missing model arrives as a ``model_unavailable`` result in either mode.

    Raises:
        AnalysisUnavailable: the broker cannot be reached (``analysis_unavailable``).
    """
    if settings.ANALYSIS_MODE == "celery":
        await _celery_submit(channel_name=channel_name, frame_no=frame_no, data=data)
        return
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_executor(), _inline_message, frame_no, data)
    task = loop.create_task(_reply_when_done(channel_name, future))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def _inline_message(frame_no: int, data: bytes) -> dict[str, Any]:
    return frame_result_message(frame_no=frame_no, data=data)


async def _reply_when_done(channel_name: str, future: asyncio.Future) -> None:
    message = await future
    await get_channel_layer().send(channel_name, message)


async def _celery_submit(*, channel_name: str, frame_no: int, data: bytes) -> None:
    try:
        await sync_to_async(_celery_queue, thread_sensitive=False)(channel_name, frame_no, data)
    except Exception as err:
        # Kombu and redis-py raise several unrelated types for a dead broker; all of them
        # mean the same thing to the listener.
        logger.warning("Could not queue a frame for analysis: %s", err)
        raise AnalysisUnavailable(
            "analysis_unavailable",
            "Mood analysis is unavailable right now (the analysis queue does not answer).",
        ) from err


def _celery_queue(channel_name: str, frame_no: int, data: bytes) -> None:
    """Store the frame in Redis for the analysis timeout, then queue a task naming its key."""
    timeout = settings.ANALYSIS_TIMEOUT_SECONDS
    key = frame_put(url=settings.CELERY_BROKER_URL, data=data, ttl_seconds=timeout)
    analyze_frame.apply_async(args=(channel_name, frame_no, key), expires=timeout, retry=False)


def analysis_warm_up() -> None:
    """Load the analyzer in the background (inline mode) so the first frame is not slow."""
    if settings.ANALYSIS_MODE != "inline" or analyzer_loaded() or not model_available():
        return
    _executor().submit(_warm_up_quietly)


def _warm_up_quietly() -> None:
    try:
        analyzer_get()
    except Exception:
        # Background thread: a failure here is reported on the first frame instead.
        logger.exception("Loading the model in the background failed")
