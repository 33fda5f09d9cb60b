"""A listener's websocket, as the page uses it: one frame at a time, replies read in order."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import websockets

from musicmood.stack import ROOT

#: Replies that answer a frame; ``mood`` and ``playlist`` messages come beside them.
FRAME_REPLIES = ("analysis", "error")


class Listener:
    """One open ``/ws/mood/`` socket of the site at ``url``."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def connect(cls, url: str, *, query: str = "") -> Listener:
        ws_url = url.replace("http://", "ws://") + "/ws/mood/" + query
        return cls(await websockets.connect(ws_url, origin=url, open_timeout=10))

    async def frame(self, data: bytes, *, timeout: float = 60) -> dict:
        """Send a frame; the ``analysis`` or ``error`` that answers it."""
        await self.ws.send(data)
        return await self.reply(timeout=timeout)

    async def frame_text(self, text: str, *, timeout: float = 60) -> dict:
        """Send a text message where a frame is expected; the reply."""
        await self.ws.send(text)
        return await self.reply(timeout=timeout)

    async def reply(self, *, timeout: float = 60) -> dict:
        """The next ``analysis`` or ``error`` message (moods and playlists are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.ws.recv())
                if message["type"] in FRAME_REPLIES:
                    return message

    async def close(self) -> None:
        await self.ws.close()


def migrated_sqlite(env: dict[str, str], folder: Path) -> dict[str, str]:
    """``env`` with DATABASE_URL on a fresh, migrated SQLite file in ``folder``."""
    env = {**env, "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return env
