"""The Celery task, run in this process: a frame queued in Redis comes back on its channel."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from emotion.frames import frame_put
from emotion.messages import FRAME_ANALYZED
from emotion.tasks import analyze_frame
from tests.conftest import REDIS_URL_TEST

pytestmark = pytest.mark.redis


@pytest.fixture
def worker_settings(settings, tiny_model_dir, clean_redis):
    settings.CELERY_BROKER_URL = REDIS_URL_TEST
    settings.MUSICMOOD_MODEL = str(tiny_model_dir)
    settings.FACE_DETECTOR = "opencv"
    return clean_redis


def test_the_task_is_registered_under_the_name_the_dispatcher_queues():
    from musicmood.celery import app

    assert app.tasks["emotion.analyze_frame"].name == analyze_frame.name


def test_a_queued_frame_is_analyzed_replied_to_its_channel_and_deleted(
    worker_settings, astronaut_jpeg
):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    key = frame_put(url=REDIS_URL_TEST, data=astronaut_jpeg, ttl_seconds=10)

    analyze_frame(channel, 5, key)

    result = async_to_sync(layer.receive)(channel)
    assert (result["type"], result["frame"], result["ok"]) == (FRAME_ANALYZED, 5, True)
    assert len(result["analysis"]["faces"]) == 1
    assert worker_settings.exists(key) == 0


def test_a_frame_whose_key_expired_is_dropped_without_a_reply(worker_settings, caplog):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    key = frame_put(url=REDIS_URL_TEST, data=b"\xff\xd8\xff", ttl_seconds=10)
    worker_settings.delete(key)  # as if the analysis timeout had passed

    analyze_frame(channel, 6, key)

    assert "Frame 6 expired before a worker took it" in caplog.text
    with pytest.raises(TimeoutError):  # the task has returned: a reply would be there already
        async_to_sync(asyncio.wait_for)(layer.receive(channel), 0.01)


def test_a_key_that_is_not_a_frame_key_is_refused(worker_settings):
    worker_settings.set("someone-elses-key", b"keep me")
    with pytest.raises(ValueError, match="Expected a key starting"):
        analyze_frame("specific.x!y", 7, "someone-elses-key")
    assert worker_settings.get("someone-elses-key") == b"keep me"
