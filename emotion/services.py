"""Frame analysis and mood services: the core behind the websocket consumer and the task.

One ``Analyzer`` is loaded lazily per process (web process in inline mode, worker in celery
mode) from ``settings.MUSICMOOD_MODEL``. Whatever the mode, the result of analysing a frame is
one ``frame.analysed`` message sent to the requesting consumer's channel, so the consumer has a
single way to receive results.

Nothing here writes a frame or an estimate anywhere: frames live in memory for the length of
one analysis and are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from emotion.errors import AnalysisUnavailable
from emotion.frames import frame_put, frame_take
from emotion.mood import Mood, MoodConfig, MoodState, mood_step
from ml.analysis import FrameAnalysis  # plain dataclasses: no model runtime imported
from ml.errors import IncompatibleModel, InvalidImage, ModelNotFound
from musicmood.channel_layer import REDIS_DOWN_ERRORS

logger = logging.getLogger(__name__)

#: Type of the channel-layer message that carries a frame's result back to its consumer.
FRAME_ANALYSED = "frame.analysed"
#: What the listener is told when no model can be served; the details (paths) go to the log.
MODEL_UNAVAILABLE_MESSAGE = "Mood analysis is unavailable: no trained model is installed."

_analyzer: Any = None
_analyzer_key: tuple | None = None  # the _analyzer_settings() it was loaded with
_analyzer_lock = threading.Lock()


# --- the analyser, once per process -----------------------------------------------------------
def analyzer_get() -> Any:
    """The process's ``ml.inference.Analyzer``, loaded on first use.

    Raises:
        AnalysisUnavailable: the model folder is missing or unusable (code
            ``model_unavailable``); tried again on the next call, so a model copied in later
            is picked up without a restart.
    """
    global _analyzer, _analyzer_key
    key = _analyzer_settings()
    if _analyzer is not None and _analyzer_key == key:
        return _analyzer
    with _analyzer_lock:
        if _analyzer is None or _analyzer_key != key:
            model_dir = Path(settings.MUSICMOOD_MODEL)
            if not model_available(model_dir):
                logger.warning(
                    "No exported model in %s: train one (manage.py train_model) and install it "
                    "(manage.py install_model), or set MUSICMOOD_MODEL.",
                    model_dir,
                )
                raise AnalysisUnavailable("model_unavailable", MODEL_UNAVAILABLE_MESSAGE)
            from ml.detection import create_detector  # imports the model runtime: lazily
            from ml.inference import Analyzer

            started = time.perf_counter()
            try:
                detector = create_detector(
                    settings.FACE_DETECTOR,
                    max_side=settings.FACE_DETECTION_MAX_SIDE,
                    weights_path=settings.RETINAFACE_WEIGHTS or None,
                    mobilenet_weights=settings.RETINAFACE_MOBILENET_WEIGHTS or None,
                )
                _analyzer = Analyzer.load(
                    model_dir, detector=detector, max_pixels=settings.FRAME_MAX_PIXELS
                )
                _analyzer_key = key
            except (ModelNotFound, IncompatibleModel) as err:
                logger.error("The model in %s cannot be served: %s", model_dir, err)
                raise AnalysisUnavailable("model_unavailable", MODEL_UNAVAILABLE_MESSAGE) from err
            logger.info("Loaded model %s in %.1f s", model_dir, time.perf_counter() - started)
    return _analyzer


def _analyzer_settings() -> tuple:
    """Every setting the analyser is built from: a change to any of them reloads it."""
    return (
        str(settings.MUSICMOOD_MODEL),
        str(settings.FACE_DETECTOR),
        int(settings.FACE_DETECTION_MAX_SIDE),
        str(settings.RETINAFACE_WEIGHTS),
        str(settings.RETINAFACE_MOBILENET_WEIGHTS),
        int(settings.FRAME_MAX_PIXELS),
    )


def model_available(model_dir: str | Path | None = None) -> bool:
    """Whether ``model_dir`` (default: ``settings.MUSICMOOD_MODEL``) holds an export.

    A cheap check on the folder only: it never imports the model's runtime.
    """
    path = Path(settings.MUSICMOOD_MODEL if model_dir is None else model_dir)
    return path.is_dir() and (path / "metadata.json").is_file()


def frame_analyse(*, data: bytes) -> FrameAnalysis:
    """Analyse one frame's JPEG/PNG bytes with the process's analyser.

    Raises:
        AnalysisUnavailable: no model (``model_unavailable``).
        ml.errors.InvalidImage: the bytes do not decode to an acceptable image.
    """
    return analyzer_get().analyze(data)


def frame_result_message(*, frame_no: int, data: bytes) -> dict[str, Any]:
    """Analyse a frame and shape the ``frame.analysed`` message for its consumer.

    Never raises: every failure becomes ``{"ok": False, "code": ..., "message": ...}``.
    """
    started = time.perf_counter()
    try:
        analysis = frame_analyse(data=data)
    except AnalysisUnavailable as err:
        return _failure(frame_no, err.code, err.message)
    except InvalidImage as err:
        # One quiet line: a client sending garbage must not fill the log. Broken JPEG
        # structure is refused before decoding, so libjpeg's own stderr warnings are left
        # only for damage inside the compressed data, one line per such frame at most.
        logger.debug("Refused frame %d: %s", frame_no, err)
        return _failure(frame_no, "not_an_image", str(err))
    except Exception:
        # Process boundary of one analysis: any crash in decoding, detection or the model
        # must become an error for this frame, never kill the worker or the consumer.
        logger.exception("Analysis of frame %d failed", frame_no)
        return _failure(frame_no, "analysis_failed", "The analysis of this frame failed.")
    return {
        "type": FRAME_ANALYSED,
        "frame": frame_no,
        "ok": True,
        "analysis": analysis.to_dict(),
        "ms": round((time.perf_counter() - started) * 1000.0, 1),
    }


def frame_analyse_and_reply(*, channel_name: str, frame_no: int, frame_key: str) -> None:
    """Take a queued frame from Redis, analyse it and send the result to ``channel_name``.

    Synchronous; the Celery task's body. A frame whose key already expired is dropped: its
    consumer has told the listener ``analysis_timeout``.
    """
    url = settings.CELERY_BROKER_URL
    try:
        data = frame_take(url=url, key=frame_key)
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


def _failure(frame_no: int, code: str, message: str) -> dict[str, Any]:
    return {
        "type": FRAME_ANALYSED,
        "frame": frame_no,
        "ok": False,
        "code": code,
        "message": message,
    }


# --- dispatch: inline thread pool or Celery ---------------------------------------------------
@lru_cache(maxsize=1)
def _executor() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=max(1, settings.ANALYSIS_THREADS), thread_name_prefix="analysis"
    )


async def analysis_submit(*, channel_name: str, frame_no: int, data: bytes) -> None:
    """Start analysing a frame; its ``frame.analysed`` result arrives on ``channel_name``.

    Inline mode runs ``frame_result_message`` on the web process's thread pool; celery mode
    queues ``emotion.tasks.analyse_frame``. A missing model arrives as a ``model_unavailable``
    result either way.

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


_pending: set[asyncio.Task] = set()  # keeps reply tasks referenced until they finish


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
    from emotion.tasks import analyse_frame

    timeout = settings.ANALYSIS_TIMEOUT_SECONDS
    key = frame_put(url=settings.CELERY_BROKER_URL, data=data, ttl_seconds=timeout)
    analyse_frame.apply_async(args=(channel_name, frame_no, key), expires=timeout, retry=False)


def analysis_warm_up() -> None:
    """Load the analyser in the background (inline mode) so the first frame is not slow."""
    if settings.ANALYSIS_MODE != "inline" or _analyzer is not None or not model_available():
        return
    _executor().submit(_warm_up_quietly)


def _warm_up_quietly() -> None:
    try:
        analyzer_get()
    except Exception:
        # Background thread: a failure here is reported on the first frame instead.
        logger.exception("Loading the model in the background failed")


# --- mood ------------------------------------------------------------------------------------
def mood_config() -> MoodConfig:
    """Mood smoothing thresholds from settings."""
    return MoodConfig(
        window_seconds=settings.MOOD_WINDOW_SECONDS,
        min_dwell_seconds=settings.MOOD_MIN_DWELL_SECONDS,
        switch_margin=settings.MOOD_SWITCH_MARGIN,
        min_confidence=settings.MOOD_MIN_CONFIDENCE,
        absence_seconds=settings.MOOD_ABSENCE_SECONDS,
        age_margin_years=settings.MOOD_AGE_MARGIN_YEARS,
        gender_margin=settings.MOOD_GENDER_MARGIN,
    )


def mood_state_new() -> MoodState:
    """A fresh per-socket smoothing state."""
    return MoodState(config=mood_config())


def mood_update(*, state: MoodState, analysis: dict[str, Any], now: float) -> Mood | None:
    """Feed one frame's analysis (``FrameAnalysis.to_dict()`` form) into ``state``.

    Returns the new ``Mood`` when the announced mood, age band or gender changed, else None.
    """
    frame = FrameAnalysis.from_dict(analysis)
    return mood_step(state, frame.faces, now=now)


def mood_playlist_message(*, mood: Mood, session_key: str) -> dict[str, Any] | None:
    """The ``playlist`` message for a newly announced mood; None when no one is there.

    Synchronous (it reads the database and may call Spotify): the consumer runs it in a thread.
    """
    if mood.mood is None:
        return None
    from playlists.services import playlist_for_mood

    choice = playlist_for_mood(
        mood=mood.mood, age_band=mood.age_band, gender=mood.gender, session_key=session_key
    )
    return choice.to_message()
