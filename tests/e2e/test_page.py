"""The listener's page in a real headless Chromium with a fake camera showing a real face."""

from __future__ import annotations

import numpy as np
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from musicmood.samples import TINY_MODEL_MOOD
from tests.e2e.conftest import OUTPUT_DIR

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Counts the overlay canvas's drawn pixels: > 0 once a face box is on it.
OVERLAY_INK = """
const c = document.getElementById('overlay');
if (!c.width || !c.height) return 0;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
return n;
"""


def test_the_page_shows_a_face_box_and_a_mood_from_the_camera(live_server_url, chromium):
    driver = chromium(camera="allow")
    driver.get(live_server_url + "/")
    assert "Nothing is stored" in driver.find_element(By.ID, "consent").text
    driver.find_element(By.ID, "start-camera").click()
    wait = WebDriverWait(driver, 30, poll_frequency=0.2)
    wait.until(lambda d: d.find_element(By.ID, "faces-count").text == "1")
    wait.until(lambda d: d.execute_script(OVERLAY_INK) > 0)
    wait.until(
        lambda d: d.find_element(By.ID, "mood-name").get_attribute("data-mood") == TINY_MODEL_MOOD
    )
    assert "sure" in driver.find_element(By.ID, "mood-confidence").text
    assert driver.find_element(By.ID, "age-band").text not in ("", "\u2013")
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / "page-with-face.png"))
    console = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert console == []


#: Records when each analysis reply reaches the page.
RECORD_ANALYSES = """
window.analysedAt = [];
document.addEventListener('musicmood:message', (e) => {
  if (e.detail.type === 'analysis') window.analysedAt.push(performance.now());
});
"""


def test_with_nobody_in_view_the_page_sends_fewer_frames(live_server_url, chromium, tmp_path):
    from tests.e2e.conftest import write_y4m

    empty_room = write_y4m(tmp_path / "empty.y4m", np.full((480, 640, 3), 120, np.uint8))
    driver = chromium(camera="allow", video=empty_room)
    driver.get(live_server_url + "/")
    driver.execute_script(RECORD_ANALYSES)
    driver.find_element(By.ID, "start-camera").click()
    wait = WebDriverWait(driver, 30, poll_frequency=0.2)
    wait.until(lambda d: d.execute_script("return window.analysedAt.length") >= 5)

    assert driver.find_element(By.ID, "faces-count").text == "0"
    times = driver.execute_script("return window.analysedAt")
    gaps = np.diff(times)
    # A frame with a face is followed by the next after 100 ms; an empty one waits longer.
    assert gaps.min() >= 300, gaps


def test_a_denied_camera_permission_says_so_on_the_page(live_server_url, chromium):
    driver = chromium(camera="deny")
    driver.get(live_server_url + "/")
    driver.find_element(By.ID, "start-camera").click()
    state = driver.find_element(By.ID, "state")
    WebDriverWait(driver, 15).until(lambda d: state.get_attribute("data-state") == "denied")
    assert "permission was denied" in state.text
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / "page-camera-denied.png"))
