"""The web process's websocket limits, over real sockets: oversized messages and invalid text."""

from __future__ import annotations

import asyncio

import cv2
import numpy as np
import pytest
import websockets

from musicmood.stack import site_env, web_server
from tests.integration.listener import Listener, migrated_sqlite

pytestmark = pytest.mark.slow

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def inline_env(tiny_model_dir, tmp_path_factory) -> dict[str, str]:
    env = site_env(MUSICMOOD_MODEL=str(tiny_model_dir), ANALYSIS_MODE="inline")
    return migrated_sqlite(env, tmp_path_factory.mktemp("limits-db"))


def big_jpeg(min_bytes: int) -> bytes:
    """A real 1600x1200 JPEG of at least ``min_bytes`` (noise compresses badly)."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    assert len(data) >= min_bytes, len(data)
    return data


def test_messages_over_the_frame_limit_get_an_error_and_over_the_socket_limit_a_1009_close(
    inline_env, astronaut_jpeg, tmp_path
):
    # FRAME_MAX_BYTES 512 KiB by default; the socket carries messages up to 1 MiB.
    with web_server(inline_env, tmp_path / "web.log") as site:

        async def scenario():
            listener = await Listener.connect(site)
            too_large = await listener.frame(b"\xff\xd8\xff" + bytes(700 * 1024))
            analyzed = await listener.frame(astronaut_jpeg)
            await listener.ws.send(bytes(MiB + 1))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await listener.reply(timeout=10)
            return too_large, analyzed, closed.value.rcvd

        too_large, analyzed, close = asyncio.run(scenario())
    assert too_large["type"] == "error" and too_large["code"] == "frame_too_large"
    assert analyzed["type"] == "analysis"
    assert close is not None and close.code == 1009  # "message too big", not a dropped TCP
    log = (tmp_path / "web.log").read_text()
    assert "Closed a websocket from 127.0.0.1 with code 1009" in log
    assert "Traceback" not in log


def test_text_that_is_not_utf8_closes_the_socket_with_1007(inline_env, tmp_path):
    with web_server(inline_env, tmp_path / "web.log") as site:

        async def scenario():
            listener = await Listener.connect(site)
            text = await listener.frame_text("not a frame")
            await listener.ws.send(b"\xff\xfe not utf-8", text=True)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await listener.reply(timeout=10)
            return text, closed.value.rcvd

        text, close = asyncio.run(scenario())
    assert text["code"] == "invalid_estimates"  # valid text: an error, the socket stays open
    assert close is not None and close.code == 1007  # "invalid payload"
    assert "with code 1007" in (tmp_path / "web.log").read_text()


def test_a_frame_max_bytes_above_1_mib_is_honoured(inline_env, tmp_path):
    frame = big_jpeg(min_bytes=int(1.2 * MiB))
    env = {**inline_env, "FRAME_MAX_BYTES": str(3 * MiB)}
    with web_server(env, tmp_path / "web.log") as site:

        async def scenario():
            listener = await Listener.connect(site)
            reply = await listener.frame(frame)
            await listener.close()
            return reply

        reply = asyncio.run(scenario())
    assert reply["type"] == "analysis", reply
    assert (reply["width"], reply["height"]) == (1600, 1200)
