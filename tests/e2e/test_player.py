"""The player in a real headless Chromium: the face's mood brings its curated music."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from musicmood.samples import TINY_MODEL_MOOD
from tests.e2e.conftest import EMBED, OUTPUT_DIR, PLAYLIST_ID

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _database(env: dict[str, str]) -> str:
    return urlsplit(env["DATABASE_URL"]).path


def _skips(env: dict[str, str]) -> int:
    with sqlite3.connect(_database(env)) as db:
        row = db.execute(
            "SELECT skip_count FROM playlists_moodmapping WHERE links = ?",
            (f"spotify:playlist:{PLAYLIST_ID}",),
        ).fetchone()
    return row[0]


def test_the_announced_mood_brings_its_mapping_into_the_player_and_skip_is_counted(
    live_server_url, live_server_env, curated_mapping, chromium
):
    skips_before = _skips(live_server_env)
    driver = chromium(camera="allow")
    driver.get(live_server_url + "/")
    embed = driver.find_element(By.ID, "mm-player-embed")
    assert embed.get_attribute("src") in (None, "")
    driver.find_element(By.ID, "start-camera").click()
    wait = WebDriverWait(driver, 40, poll_frequency=0.2)
    wait.until(lambda d: embed.get_attribute("src") == EMBED)
    assert embed.is_displayed()
    reason = driver.find_element(By.ID, "mm-player-reason").text
    assert reason.startswith(f"Playing {TINY_MODEL_MOOD} music. Why: {TINY_MODEL_MOOD}")

    driver.find_element(By.ID, "mm-player-skip").click()
    wait.until(lambda d: d.find_element(By.ID, "mm-player-status").text.startswith("Skipped"))
    assert _skips(live_server_env) == skips_before + 1
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / "player-after-skip.png"))


def test_choosing_a_mood_by_hand_plays_that_moods_music(
    live_server_url, live_server_env, curated_mapping, chromium
):
    driver = chromium(camera="deny")  # no camera at all: the manual choice still works
    driver.get(live_server_url + "/")
    driver.find_element(
        By.CSS_SELECTOR, f"#mm-player-override [data-mood='{TINY_MODEL_MOOD}']"
    ).click()
    embed = driver.find_element(By.ID, "mm-player-embed")
    WebDriverWait(driver, 15).until(lambda d: embed.get_attribute("src") == EMBED)
    assert driver.find_element(By.ID, "mm-player-reason").text.endswith(
        f"Why: you chose {TINY_MODEL_MOOD}."
    )
