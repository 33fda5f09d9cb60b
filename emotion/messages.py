"""The messages of the frame's path, shaped in one place; README.md, "The websocket protocol".

Whatever the running mode, a frame's result travels as one ``frame.analyzed`` message on the
channel layer to the consumer that asked (``frame_result_message``), so the consumer has a
single way to receive results; the consumer turns it into the listener's ``analysis``
message (``analysis_message``). Nothing here writes a frame or an estimate anywhere: frames
live in memory for the length of one analysis and are never logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from emotion.analyzer import frame_analyze
from emotion.errors import AnalysisUnavailable
from emotion.mood import Mood
from ml.errors import InvalidImage

logger = logging.getLogger(__name__)

#: Type of the channel-layer message that carries a frame's result back to its consumer.
FRAME_ANALYZED = "frame.analyzed"
#: Close code sent after WS_MAX_ERRORS client errors within WS_ERROR_WINDOW_SECONDS
#: (4000-4999 is for applications; 4008 echoes 1008 "policy violation").
CLOSE_TOO_MANY_ERRORS = 4008
#: Error codes caused by the client: they count towards WS_MAX_ERRORS. Server-side failures
#: (analysis_failed, analysis_timeout, analysis_unavailable, model_unavailable) do not.
CLIENT_ERRORS = frozenset(
    {
        "frame_too_large",
        "not_an_image",
        "text_not_allowed",
        "rate_limited",
        "busy",
        "invalid_estimates",
        "estimates_too_large",
        "frames_not_accepted",
    }
)
#: What the listener is told when the analysis of a frame crashed; the details go to the log.
ANALYSIS_FAILED_MESSAGE = "The analysis of this frame failed."


def frame_result_message(*, frame_no: int, data: bytes) -> dict[str, Any]:
    """Analyze a frame and shape the ``frame.analyzed`` message for its consumer.

    Never raises: every failure becomes ``{"ok": False, "code": ..., "message": ...}``.
    """
    started = time.perf_counter()
    try:
        analysis = frame_analyze(data=data)
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
        return _failure(frame_no, "analysis_failed", ANALYSIS_FAILED_MESSAGE)
    return {
        "type": FRAME_ANALYZED,
        "frame": frame_no,
        "ok": True,
        "analysis": analysis.to_dict(),
        "ms": round((time.perf_counter() - started) * 1000.0, 1),
    }


def _failure(frame_no: int, code: str, message: str) -> dict[str, Any]:
    return {
        "type": FRAME_ANALYZED,
        "frame": frame_no,
        "ok": False,
        "code": code,
        "message": message,
    }


def analysis_message(result: dict[str, Any], *, demographics: bool, ms: float) -> dict[str, Any]:
    """The listener's ``analysis`` message for a successful ``frame.analyzed`` result.

    ``ms`` is the server time from frame received to reply; with ``demographics`` off, every
    face's age, age band and gender are sent as null.
    """
    analysis = result["analysis"]
    faces = analysis["faces"]
    if not demographics:
        faces = [{**face, "age": None, "age_band": None, "gender": None} for face in faces]
    return {
        "type": "analysis",
        "frame": result["frame"],
        "width": analysis["width"],
        "height": analysis["height"],
        "faces": faces,
        "ms": round(ms, 1),
        "analysis_ms": result.get("ms"),
    }


def mood_message(mood: Mood) -> dict[str, Any]:
    """The ``mood`` message announcing ``mood``."""
    return {"type": "mood", **mood.to_dict()}


def error_message(code: str, message: str, *, frame: int | None = None) -> dict[str, Any]:
    """An ``error`` message; ``frame`` when the error concerns an accepted frame."""
    error: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if frame is not None:
        error["frame"] = frame
    return error
