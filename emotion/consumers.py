"""The ``/ws/mood/`` websocket: frames in, analyses and moods out.

An interface only: it checks each message's size, type, rate and whether a frame is already in
analysis, hands accepted frames to ``emotion.dispatch``, feeds results to the mood services and
sends the replies ``emotion.messages`` shapes. It never decodes an image and never imports the
model runtime. The protocol (message types, error codes, close codes) is documented in
README.md, "The websocket protocol".
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from emotion import services
from emotion.dispatch import analysis_submit, analysis_warm_up
from emotion.errors import AnalysisUnavailable
from emotion.estimates import InvalidEstimates, parse_estimates
from emotion.limits import ErrorWindow, TokenBucket
from emotion.messages import (
    ANALYSIS_FAILED_MESSAGE,
    CLIENT_ERRORS,
    CLOSE_TOO_MANY_ERRORS,
    analysis_message,
    error_message,
    mood_message,
)
from emotion.mood import Mood
from playlists.listener import listener_key_from_cookies

logger = logging.getLogger(__name__)

#: The first bytes of the two accepted image types; anything else is refused unread.
IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


class MoodConsumer(AsyncWebsocketConsumer):
    """One listener's socket; the mood smoothing state lives here, in memory only."""

    #: What this socket received, counted (never kept): logged when it closes, so an operator
    #: (and the on-device tests) can see whether a page sent pictures at all.
    received_frames = 0
    received_estimates = 0

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.demographics = query.get("demographics", ["1"])[-1] not in ("0", "false", "off")
        self.frame_counter = 0
        self.in_flight: int | None = None
        self.received_at = 0.0
        self.timer: asyncio.Task | None = None
        self.mood_state = services.mood_state_new(demographics=self.demographics)
        self.bucket = TokenBucket(
            rate=settings.FRAME_RATE_PER_SECOND, burst=settings.FRAME_RATE_BURST
        )
        self.client_errors = ErrorWindow(
            limit=settings.WS_MAX_ERRORS, seconds=settings.WS_ERROR_WINDOW_SECONDS
        )
        self.closing = False
        # The page's listener cookie groups the tracks a listener already heard; without one,
        # the socket's own channel name stands in.
        self.session_key = (
            listener_key_from_cookies(self.scope.get("cookies", {})) or self.channel_name
        )
        await self.accept()
        analysis_warm_up()

    async def disconnect(self, code: int) -> None:
        self.closing = True
        self._stop_timer()
        logger.info(
            "Mood socket closed (code %s) after %d frames and %d estimates messages",
            code,
            self.received_frames,
            self.received_estimates,
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:
            return
        now = time.monotonic()
        on_device = settings.ANALYSIS_ON_DEVICE
        if bytes_data is None:
            self.received_estimates += 1
            if on_device == "off":
                await self.send_error(
                    "text_not_allowed",
                    "Expected a binary message holding a JPEG or PNG frame, got a text message.",
                )
            else:
                await self._receive_estimates(text_data or "", now)
            return
        self.received_frames += 1
        if on_device == "only":
            await self.send_error(
                "frames_not_accepted",
                "This server takes on-device estimates only: analyze the frame in the page and "
                "send its estimates as a text message, never the frame.",
            )
        elif len(bytes_data) > settings.FRAME_MAX_BYTES:
            await self.send_error(
                "frame_too_large",
                f"Expected a frame of at most {settings.FRAME_MAX_BYTES} bytes, "
                f"got {len(bytes_data)} bytes.",
            )
        elif not bytes_data.startswith(IMAGE_SIGNATURES):
            await self.send_error(
                "not_an_image",
                f"Expected a JPEG or PNG frame, got {len(bytes_data)} bytes of something else.",
            )
        elif not self.bucket.allow(now):
            await self.send_error(
                "rate_limited",
                f"Expected at most {settings.FRAME_RATE_PER_SECOND:g} frames a second; "
                "this frame was dropped.",
            )
        elif self.in_flight is not None:
            await self.send_error(
                "busy",
                "The previous frame is still in analysis; this frame was dropped. "
                "Wait for its reply before sending the next.",
            )
        else:
            await self._submit(bytes_data, now)

    async def _receive_estimates(self, text: str, now: float) -> None:
        """An on-device page's estimates for one of its frames: checked, then handled as a
        frame analyzed here would be (``emotion.estimates``)."""
        if not self.bucket.allow(now):
            await self.send_error(
                "rate_limited",
                f"Expected at most {settings.FRAME_RATE_PER_SECOND:g} frames a second; "
                "these estimates were dropped.",
            )
            return
        try:
            analysis = parse_estimates(text, demographics=self.demographics)
        except InvalidEstimates as err:
            await self.send_error(err.code, str(err))
            return
        self.frame_counter += 1
        await self._deliver({"frame": self.frame_counter, "analysis": analysis}, received=now)

    async def _submit(self, data: bytes, now: float) -> None:
        self.frame_counter += 1
        frame_no = self.frame_counter
        self.in_flight, self.received_at = frame_no, now
        try:
            await analysis_submit(channel_name=self.channel_name, frame_no=frame_no, data=data)
        except AnalysisUnavailable as err:
            self.in_flight = None
            await self.send_error(err.code, err.message, frame=frame_no)
            return
        self.timer = asyncio.ensure_future(self._expire(frame_no))

    async def _expire(self, frame_no: int) -> None:
        await asyncio.sleep(settings.ANALYSIS_TIMEOUT_SECONDS)
        if self.in_flight == frame_no and not self.closing:
            self.in_flight, self.timer = None, None
            await self.send_error(
                "analysis_timeout",
                f"The analysis of frame {frame_no} took longer than "
                f"{settings.ANALYSIS_TIMEOUT_SECONDS:g} s; it was abandoned.",
                frame=frame_no,
            )

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    async def frame_analyzed(self, event: dict[str, Any]) -> None:
        """Channel-layer handler: a frame's result, from the thread pool or a worker."""
        if self.closing or event.get("frame") != self.in_flight:
            return  # a late result for a frame already reported as timed out
        self._stop_timer()
        self.in_flight = None
        if not event.get("ok"):
            await self.send_error(event["code"], event["message"], frame=event["frame"])
            return
        await self._deliver(event, received=self.received_at)

    async def _deliver(self, event: dict[str, Any], *, received: float) -> None:
        """Send a frame's ``analysis``, feed it to the mood and announce what changed."""
        now = time.monotonic()
        try:
            ms = (now - received) * 1000.0
            await self.send_json(analysis_message(event, demographics=self.demographics, ms=ms))
            analysis = event["analysis"]
            change = services.mood_update(state=self.mood_state, analysis=analysis, now=now)
        except Exception:
            # Process boundary: a malformed result must cost one frame, not the socket.
            logger.exception("Could not handle the result of frame %s", event.get("frame"))
            await self.send_error("analysis_failed", ANALYSIS_FAILED_MESSAGE)
            return
        if change is not None:
            await self._announce(change)

    async def _announce(self, change: Mood) -> None:
        await self.send_json(mood_message(change))
        try:
            playlist = await database_sync_to_async(services.mood_playlist_message)(
                mood=change, session_key=self.session_key
            )
        except Exception:
            # Process boundary: music that cannot be chosen must not cost the mood stream;
            # the player keeps what it has and the listener can pick a mood by hand.
            logger.exception("Could not choose music for the mood %s", change.mood)
            return
        if playlist is not None:
            await self.send_json(playlist)

    async def send_json(self, content: dict[str, Any]) -> None:
        """Send one JSON text message."""
        await self.send(text_data=json.dumps(content, separators=(",", ":")))

    async def send_error(self, code: str, message: str, *, frame: int | None = None) -> None:
        """Send an ``error`` message; close the socket when the client keeps erring."""
        await self.send_json(error_message(code, message, frame=frame))
        if code in CLIENT_ERRORS and self.client_errors.record(time.monotonic()):
            self.closing = True
            self._stop_timer()
            await self.send_json(
                error_message(
                    "too_many_errors",
                    f"{settings.WS_MAX_ERRORS} errors within "
                    f"{settings.WS_ERROR_WINDOW_SECONDS:g} s; closing the connection.",
                )
            )
            await self.close(code=CLOSE_TOO_MANY_ERRORS)
