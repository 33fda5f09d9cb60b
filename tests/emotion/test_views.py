"""The listener's page renders the protocol's facts, and its scripts read them from there."""

from __future__ import annotations

import re

from emotion.messages import CLOSE_TOO_MANY_ERRORS
from emotion.routing import MOOD_SOCKET_PATH
from ml.labels import MOODS
from musicmood.stack import ROOT

SCRIPTS = ROOT / "static" / "js"


def test_the_page_renders_the_socket_path_the_close_code_and_the_moods(client, settings):
    settings.ANALYSIS_MODE = "celery"  # the page itself never looks for the model then
    page = client.get("/").content.decode()
    assert f'data-ws-path="/{MOOD_SOCKET_PATH}"' in page
    assert f'data-close-too-many-errors="{CLOSE_TOO_MANY_ERRORS}"' in page
    assert re.findall(r'class="meter__row" data-mood="(\w+)"', page) == list(MOODS)


def test_the_page_s_scripts_repeat_no_mood_close_code_or_embed_url():
    app, player = (SCRIPTS / "app.js").read_text(), (SCRIPTS / "player.js").read_text()
    assert str(CLOSE_TOO_MANY_ERRORS) not in app
    assert MOOD_SOCKET_PATH not in app.split("*/", 1)[1]  # past the header comment
    for script in (app, player):
        assert not [mood for mood in MOODS if f'"{mood}"' in script]
    assert "open.spotify.com" not in player
