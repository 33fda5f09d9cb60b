"""Celery tasks: interfaces that decode their arguments and call one service."""

from __future__ import annotations

import base64

from celery import shared_task


@shared_task(name="emotion.analyse_frame", ignore_result=True)
def analyse_frame(channel_name: str, frame_no: int, data_b64: str) -> None:
    """Analyse one frame and send a ``frame.analysed`` message to ``channel_name``."""
    from emotion.services import frame_analyse_and_reply

    frame_analyse_and_reply(
        channel_name=channel_name, frame_no=frame_no, data=base64.b64decode(data_b64)
    )
