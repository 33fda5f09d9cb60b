"""Celery tasks: interfaces that decode their arguments and call one service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="emotion.analyze_frame", ignore_result=True)
def analyze_frame(channel_name: str, frame_no: int, frame_key: str) -> None:
    """Analyze the frame stored under ``frame_key``; reply ``frame.analyzed`` to the socket."""
    from emotion.worker import frame_reply

    frame_reply(channel_name=channel_name, frame_no=frame_no, frame_key=frame_key)
