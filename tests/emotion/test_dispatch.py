"""Dispatch: a frame's result arrives on the consumer's channel, from the pool or through Redis."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil

import pytest
from channels.layers import get_channel_layer

from emotion.analyzer import analyzer_loaded
from emotion.dispatch import analysis_submit, analysis_warm_up
from emotion.errors import AnalysisUnavailable
from emotion.frames import FRAME_KEY_PREFIX
from emotion.messages import FRAME_ANALYZED
from musicmood.stack import free_port
from tests.conftest import REDIS_URL_TEST

REPLY_TIMEOUT = 30  # the first frame may wait for the model to load


@pytest.fixture
def celery_on_redis(settings, clean_redis):
    """Celery mode, with the Celery app's broker and the frame store on REDIS_URL_TEST."""
    from musicmood.celery import app

    settings.ANALYSIS_MODE = "celery"
    settings.CELERY_BROKER_URL = REDIS_URL_TEST
    previous = app.conf.broker_url
    app.close()  # drops connections made to another broker
    app.conf.broker_url = REDIS_URL_TEST
    yield clean_redis
    app.close()
    app.conf.broker_url = previous


async def result_on(channel: str) -> dict:
    return await asyncio.wait_for(get_channel_layer().receive(channel), REPLY_TIMEOUT)


async def test_inline_the_result_of_a_frame_arrives_on_the_channel_that_sent_it(
    inline, astronaut_jpeg
):
    channel = await get_channel_layer().new_channel()
    await analysis_submit(channel_name=channel, frame_no=7, data=astronaut_jpeg)
    result = await result_on(channel)
    assert (result["type"], result["frame"], result["ok"]) == (FRAME_ANALYZED, 7, True)
    assert len(result["analysis"]["faces"]) == 1 and result["ms"] > 0


async def test_inline_a_missing_model_arrives_as_a_model_unavailable_result(
    inline, astronaut_jpeg, tmp_path
):
    inline.MUSICMOOD_MODEL = str(tmp_path / "none")
    channel = await get_channel_layer().new_channel()
    await analysis_submit(channel_name=channel, frame_no=1, data=astronaut_jpeg)
    result = await result_on(channel)
    assert (result["ok"], result["code"]) == (False, "model_unavailable")


async def test_inline_a_frame_that_does_not_decode_arrives_as_not_an_image(inline):
    channel = await get_channel_layer().new_channel()
    await analysis_submit(channel_name=channel, frame_no=2, data=b"\xff\xd8\xff\xe0 no JPEG")
    result = await result_on(channel)
    assert (result["ok"], result["code"], result["frame"]) == (False, "not_an_image", 2)


async def test_celery_mode_with_redis_down_says_analysis_is_unavailable(settings, astronaut_jpeg):
    settings.ANALYSIS_MODE = "celery"
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with pytest.raises(AnalysisUnavailable) as caught:
        await analysis_submit(channel_name="specific.x!y", frame_no=1, data=astronaut_jpeg)
    assert caught.value.code == "analysis_unavailable"


@pytest.mark.redis
async def test_celery_mode_queues_the_task_with_only_the_key_of_a_frame_that_expires(
    celery_on_redis, settings, astronaut_jpeg
):
    settings.ANALYSIS_TIMEOUT_SECONDS = 10.0
    await analysis_submit(channel_name="specific.x!y", frame_no=3, data=astronaut_jpeg)
    keys = list(celery_on_redis.scan_iter(f"{FRAME_KEY_PREFIX}*"))
    assert len(keys) == 1 and celery_on_redis.get(keys[0]) == astronaut_jpeg
    assert 0 < celery_on_redis.pttl(keys[0]) <= 10_000
    message = json.loads(celery_on_redis.lpop("celery"))
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert message["headers"]["task"] == "emotion.analyze_frame"
    assert message["headers"]["expires"]
    assert args == ["specific.x!y", 3, keys[0].decode()]


async def test_warm_up_loads_the_analyzer_in_the_background(inline, tiny_model_dir, tmp_path):
    inline.MUSICMOOD_MODEL = str(shutil.copytree(tiny_model_dir, tmp_path / "model"))
    assert not analyzer_loaded()  # a model folder no analyzer was built from yet
    analysis_warm_up()
    for _ in range(300):
        if analyzer_loaded():
            break
        await asyncio.sleep(0.1)
    assert analyzer_loaded()
