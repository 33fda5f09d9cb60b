"""Scaled-out mode for real: daphne and a Celery worker, talking through Redis."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest
import websockets

from musicmood.samples import TINY_MODEL_MOOD
from musicmood.stack import celery_worker, site_env, web_server
from tests.conftest import REDIS_URL_TEST

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def shared_database_url() -> str:
    """URL of pytest-django's test database, for the server and worker processes to share."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("The scaled-out test needs PostgreSQL: set DATABASE_URL_TEST (make test does).")
    user, password = quote(db["USER"] or ""), quote(db["PASSWORD"] or "")
    return f"postgres://{user}:{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


async def send_frame(url: str, frame: bytes, *, replies: int = 2) -> list[dict]:
    """Send one frame; collect up to ``replies`` messages (fewer after an error)."""
    ws_url = url.replace("http://", "ws://") + "/ws/mood/"
    async with websockets.connect(ws_url, origin=url, open_timeout=10) as ws:
        await ws.send(frame)
        messages = [json.loads(await asyncio.wait_for(ws.recv(), 60))]
        while messages[0]["type"] == "analysis" and len(messages) < replies:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        return messages


@pytest.mark.django_db(transaction=True)
def test_a_frame_is_analyzed_by_a_celery_worker_and_returns_through_redis(
    clean_redis, tiny_model_dir, astronaut_jpeg, tmp_path
):
    from playlists.models import MoodMapping

    mapping = MoodMapping.objects.create(
        mood=TINY_MODEL_MOOD, links="spotify:album:4m2880jivSbbyEGAKfITCa", kind="album"
    )
    env = site_env(
        REDIS_URL=REDIS_URL_TEST,
        MUSICMOOD_MODEL=str(tiny_model_dir),
        DATABASE_URL=shared_database_url(),
        MOOD_MIN_DWELL_SECONDS="0",
    )
    with (
        celery_worker(env, tmp_path / "worker.log"),
        web_server(env, tmp_path / "daphne.log") as url,
    ):
        analysis, mood, playlist = asyncio.run(send_frame(url, astronaut_jpeg, replies=3))
    assert analysis["type"] == "analysis", analysis
    assert len(analysis["faces"]) == 1
    assert analysis["faces"][0]["box"][2] > 50
    assert mood["type"] == "mood" and mood["mood"] == TINY_MODEL_MOOD
    # The mood's music came from PostgreSQL, read by the web process.
    assert playlist["type"] == "playlist" and playlist["mapping"] == mapping.pk
    assert playlist["embed_url"].endswith("/album/4m2880jivSbbyEGAKfITCa")
    worker_log = (tmp_path / "worker.log").read_text()
    assert "emotion.analyze_frame" in worker_log
    # The web process never loaded the model: it ran in the worker.
    assert "Loaded model" not in (tmp_path / "daphne.log").read_text()
    assert "Loaded model" in worker_log


def test_a_frame_sent_while_the_broker_is_down_gets_an_error_not_a_crash(
    tiny_model_dir, astronaut_jpeg, tmp_path
):
    from musicmood.stack import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = site_env(
        REDIS_URL=REDIS_URL_TEST,
        CELERY_BROKER_URL=dead,
        MUSICMOOD_MODEL=str(tiny_model_dir),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    with web_server(env, tmp_path / "daphne.log") as url:
        first = asyncio.run(send_frame(url, astronaut_jpeg))
        again = asyncio.run(send_frame(url, astronaut_jpeg))
    assert first[0] == {**first[0], "type": "error", "code": "analysis_unavailable"}
    assert again[0]["code"] == "analysis_unavailable"
