"""On-device analysis in a real headless Chromium with a fake camera: the detector and the network
run in the page, and the server hears only estimates.

What the server received is read from the server itself: the web process logs, for every socket
that closes, how many frames and how many estimates messages it received.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from musicmood.samples import TINY_MODEL_MOOD
from musicmood.stack import site_env, web_server
from tests.e2e.conftest import EMBED, LIVE_SERVER_LOG, ONDEVICE_MARKS, OUTPUT_DIR, import_mapping
from tests.e2e.csp import csp_violations, csp_watch
from tests.integration.listener import migrated_sqlite

pytestmark = ONDEVICE_MARKS

#: The web process's line for a closed socket (emotion/consumers.py).
SOCKET_CLOSED = re.compile(
    r"Mood socket closed \(code \S+\) after (\d+) frames and (\d+) estimates messages"
)
#: Makes every request for ONNX Runtime Web's files fail, as when they are missing.
RUNTIME_URLS = ["*/vendor/onnxruntime-web/*"]


def log_size(log: Path) -> int:
    return log.stat().st_size if log.exists() else 0


def sockets_closed(log: Path, since: int, *, expect: int = 1, timeout: float = 15.0):
    """(frames, estimates) of each socket the server logged as closed after byte ``since``."""
    deadline = time.monotonic() + timeout
    while True:
        with log.open("rb") as handle:
            handle.seek(since)
            found = [tuple(map(int, m)) for m in SOCKET_CLOSED.findall(handle.read().decode())]
        if len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def close_page(driver) -> None:
    """Leave the page, which closes its socket."""
    driver.get("about:blank")


def block_runtime(driver) -> None:
    """Make the browser fail every request for the runtime's files."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": RUNTIME_URLS})


def remove_webassembly(driver) -> None:
    """Make every page the browser opens run without WebAssembly, as some locked-down ones do."""
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": "delete globalThis.WebAssembly;"}
    )


#: Ways the page's on-device analysis cannot load, and what the page then says.
CANNOT_LOAD = {
    "runtime missing": (block_runtime, "could not be loaded"),
    "no WebAssembly": (remove_webassembly, "this browser cannot run WebAssembly"),
}


def test_on_device_the_page_shows_the_mood_plays_its_music_and_sends_the_server_no_picture(
    live_server_url, live_server_env, curated_mapping, chromium
):
    driver = chromium(camera="allow")
    csp_watch(driver)
    since = log_size(LIVE_SERVER_LOG)
    driver.get(live_server_url + "/")
    switch = driver.find_element(By.ID, "on-device")
    assert (
        "nothing but the estimates leaves your browser" in switch.find_element(By.XPATH, "..").text
    )
    switch.click()
    driver.find_element(By.ID, "start-camera").click()
    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    wait.until(lambda d: d.find_element(By.ID, "faces-count").text == "1")
    wait.until(
        lambda d: d.find_element(By.ID, "mood-name").get_attribute("data-mood") == TINY_MODEL_MOOD
    )
    embed = driver.find_element(By.ID, "mm-player-embed")
    wait.until(lambda d: embed.get_attribute("src") == EMBED)
    assert embed.is_displayed()
    assert driver.find_element(By.ID, "latency").text.endswith("ms on this device")
    assert "only the estimates" in driver.find_element(By.ID, "on-device-note").text
    assert driver.find_element(By.ID, "age-band").text not in ("", "\u2013")
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / "page-on-device.png"))
    assert csp_violations(driver) == []
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []

    close_page(driver)
    closed = sockets_closed(LIVE_SERVER_LOG, since)
    ours = [(frames, estimates) for frames, estimates in closed if estimates]
    assert ours, closed
    assert all(frames == 0 for frames, _ in ours), ours


#: Records every message of the socket the page dispatches.
RECORD_MESSAGES = """
window.messages = [];
document.addEventListener('musicmood:message', (e) => window.messages.push(e.detail));
"""


def test_with_demographics_off_the_page_s_estimates_carry_no_age_or_gender_and_are_accepted(
    live_server_url, chromium
):
    driver = chromium(camera="allow")
    driver.get(live_server_url + "/")
    driver.execute_script(RECORD_MESSAGES)
    driver.find_element(By.ID, "demographics").click()
    driver.find_element(By.ID, "on-device").click()
    driver.find_element(By.ID, "start-camera").click()
    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    wait.until(
        lambda d: d.find_element(By.ID, "mood-name").get_attribute("data-mood") == TINY_MODEL_MOOD
    )
    messages = driver.execute_script("return window.messages")
    analyses = [m for m in messages if m["type"] == "analysis"]
    assert analyses and all(face["age"] is None for m in analyses for face in m["faces"])
    assert [m for m in messages if m["type"] == "error"] == []
    assert driver.find_element(By.ID, "age-band").get_attribute("textContent") == "off"


@pytest.mark.parametrize("failure", CANNOT_LOAD)
def test_when_the_runtime_cannot_load_the_page_says_so_and_analyses_on_the_server(
    live_server_url, chromium, failure
):
    cause, said = CANNOT_LOAD[failure]
    driver = chromium(camera="allow")
    cause(driver)
    since = log_size(LIVE_SERVER_LOG)
    driver.get(live_server_url + "/")
    switch = driver.find_element(By.ID, "on-device")
    switch.click()
    note = driver.find_element(By.ID, "on-device-note")
    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    wait.until(lambda d: "Pictures are analysed on the server instead" in note.text)
    assert said in note.text
    assert not switch.is_selected() and not switch.is_enabled()

    driver.find_element(By.ID, "start-camera").click()
    wait.until(lambda d: d.find_element(By.ID, "faces-count").text == "1")
    assert driver.find_element(By.ID, "latency").text.endswith("ms on the server")
    close_page(driver)
    closed = sockets_closed(LIVE_SERVER_LOG, since)
    assert any(frames and not estimates for frames, estimates in closed), closed


@pytest.fixture(scope="module")
def estimates_only_server(tiny_model_dir, tmp_path_factory):
    """A live server with ANALYSIS_ON_DEVICE=only (it refuses pictures), and its log."""
    env = site_env(
        MUSICMOOD_MODEL=str(tiny_model_dir), ANALYSIS_MODE="inline", ANALYSIS_ON_DEVICE="only"
    )
    env = migrated_sqlite(env, tmp_path_factory.mktemp("only-db"))
    import_mapping(env, tmp_path_factory.mktemp("only-mapping"))
    log = OUTPUT_DIR / "daphne-estimates-only.log"
    with web_server(env, log) as url:
        yield url, log


def test_a_server_that_takes_estimates_only_gets_them_and_never_a_picture(
    estimates_only_server, chromium
):
    url, log = estimates_only_server
    driver = chromium(camera="allow")
    since = log_size(log)
    driver.get(url + "/")
    switch = driver.find_element(By.ID, "on-device")
    assert switch.is_selected() and not switch.is_enabled()  # the only way offered
    assert "the pictures never leave your browser" in driver.find_element(By.ID, "consent").text
    driver.find_element(By.ID, "start-camera").click()
    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    wait.until(
        lambda d: d.find_element(By.ID, "mood-name").get_attribute("data-mood") == TINY_MODEL_MOOD
    )
    wait.until(lambda d: d.find_element(By.ID, "mm-player-embed").get_attribute("src") == EMBED)
    close_page(driver)
    closed = sockets_closed(log, since)
    assert closed and all(frames == 0 and estimates > 0 for frames, estimates in closed), closed


def test_a_server_that_takes_estimates_only_says_analysis_is_unavailable_when_it_cannot_load(
    estimates_only_server, chromium
):
    url, log = estimates_only_server
    driver = chromium(camera="allow")
    block_runtime(driver)
    since = log_size(log)
    driver.get(url + "/")
    driver.find_element(By.ID, "start-camera").click()
    state = driver.find_element(By.ID, "state")
    wait = WebDriverWait(driver, 60, poll_frequency=0.2)
    wait.until(lambda d: state.get_attribute("data-state") == "unavailable")
    assert state.text.startswith("Mood analysis is unavailable")
    assert "could not be loaded" in state.text
    time.sleep(1.0)  # frames would have been sent by now
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / "page-estimates-only-unavailable.png"))
    close_page(driver)
    assert sockets_closed(log, since) == [(0, 0)]
