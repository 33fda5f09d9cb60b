"""Celery tasks: interfaces that decode their arguments and call one service."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="emotion.analyse_frame", ignore_result=True)
def analyse_frame(channel_name: str, frame_no: int, frame_key: str) -> None:
    """Analyse the frame stored under ``frame_key``; reply ``frame.analysed`` to the socket."""
    from emotion.services import frame_analyse_and_reply

    frame_analyse_and_reply(channel_name=channel_name, frame_no=frame_no, frame_key=frame_key)
