"""The Content-Security-Policy in a real headless Chromium: the page and the admin still work.

The policies come from the live server (musicmood/middleware.py); Chromium enforces them, so
a blocked script, style, socket, frame or image shows up as a violation here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from musicmood.samples import TINY_MODEL_MOOD
from tests.e2e.conftest import OUTPUT_DIR
from tests.e2e.csp import csp_violations, csp_watch

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT_DIR = Path(__file__).resolve().parents[2]
ADMIN_USER, ADMIN_PASSWORD = "csp-admin", "csp-admin-password-1"

#: Loads what the page's policy allows (Spotify artwork and embed, a blob: image and video, as
#: the page's photo and video previews use) and, once all have settled, two things it forbids.
#: The forbidden two must be the only violations: that shows the allowed ones pass, the policy
#: is enforced and the watch sees violations. Answers each probe's settling event.
PROBE = """
const done = arguments[arguments.length - 1];
const settled = (el, events) => new Promise((resolve) => {
  for (const name of events) el.addEventListener(name, () => resolve(name), {once: true});
});
const art = new Image();
const artSettled = settled(art, ["load", "error"]);
art.src = "https://i.scdn.co/image/csp-probe";
const frame = document.createElement("iframe");
const frameSettled = settled(frame, ["load"]);
frame.src = "https://open.spotify.com/embed/playlist/cspprobe0000000000001";
document.body.append(frame);
const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>';
const still = new Image();
const stillSettled = settled(still, ["load", "error"]);
still.src = URL.createObjectURL(new Blob([svg], {type: "image/svg+xml"}));
const clip = document.createElement("video");
const clipSettled = settled(clip, ["loadeddata", "error"]);
clip.src = URL.createObjectURL(new Blob(["not a video"], {type: "video/webm"}));
Promise.all([artSettled, frameSettled, stillSettled, clipSettled]).then((events) => {
  document.body.setAttribute("style", "outline: 1px solid red");
  new Image().src = "https://evil.example/pixel.png";
  done(events);
});
"""


def test_the_page_runs_under_its_policy_and_its_socket_connects(live_server_url, chromium):
    driver = chromium(camera="allow")
    csp_watch(driver)
    driver.get(live_server_url + "/")
    driver.find_element(By.ID, "start-camera").click()
    wait = WebDriverWait(driver, 30, poll_frequency=0.2)
    # Answers to frames sent over /ws/mood/: the socket is open under connect-src 'self'.
    try:
        wait.until(lambda d: d.find_element(By.ID, "faces-count").text == "1")
    except TimeoutException:
        pytest.fail(f"No analysis came over /ws/mood/; CSP violations: {csp_violations(driver)}")
    wait.until(lambda d: d.find_element(By.ID, "state").get_attribute("data-state") == "live")
    # The meter is drawn through element.style (CSSOM), which style-src 'self' allows.
    fill = f".meter__row[data-mood={TINY_MODEL_MOOD}] .meter__fill"
    wait.until(
        lambda d: d.find_element(By.CSS_SELECTOR, fill).value_of_css_property("width") != "0px"
    )
    assert csp_violations(driver) == []
    policy = driver.execute_script(
        "return fetch(location.href).then((r) => r.headers.get('content-security-policy'));"
    )
    assert "script-src 'self' 'wasm-unsafe-eval';" in policy  # and fetch() to its own host works

    settled = driver.execute_async_script(PROBE)  # artwork, embed, blob: image, blob: video
    assert settled[2] == "load"  # a blob: image shows, as a photo the listener picked does
    wait.until(lambda d: len(d.execute_script("return window.__cspViolations")) >= 2)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / "page-under-csp.png"))
    recorded = driver.execute_script("return window.__cspViolations")
    assert sorted(line.split(" (")[0] for line in recorded) == [
        "img-src blocked https://evil.example/pixel.png",
        "style-src-attr blocked inline",
    ], recorded
    console = csp_violations(driver)[len(recorded) :]  # the console reports the same two
    assert len(console) == 2 and "evil.example" in "".join(console), console


@pytest.fixture(scope="module")
def admin_account(live_server_env) -> tuple[str, str]:
    """A superuser in the live server's database."""
    command = ["manage.py", "createsuperuser", "--noinput", "--username", ADMIN_USER]
    subprocess.run(
        [sys.executable, *command, "--email", "csp-admin@example.com"],
        cwd=ROOT_DIR,
        env={**live_server_env, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return ADMIN_USER, ADMIN_PASSWORD


def test_the_admin_logs_in_and_saves_a_mapping_under_its_policy(
    live_server_url, admin_account, chromium
):
    driver = chromium(camera="deny")
    csp_watch(driver)
    wait = WebDriverWait(driver, 20, poll_frequency=0.2)
    driver.get(live_server_url + "/admin/login/")
    assert csp_violations(driver) == []
    username, password = admin_account
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait.until(lambda d: d.find_elements(By.ID, "user-tools"))
    assert csp_violations(driver) == []

    driver.get(live_server_url + "/admin/playlists/moodmapping/add/")
    # The admin's own scripts run under script-src 'self' (theme.js sets the theme).
    assert driver.execute_script("return document.documentElement.dataset.theme") == "auto"
    Select(driver.find_element(By.ID, "id_mood")).select_by_value(TINY_MODEL_MOOD)
    driver.find_element(By.ID, "id_links").send_keys(
        "https://open.spotify.com/playlist/cspadmin00000000000001"
    )
    driver.find_element(By.NAME, "_continue").click()  # "Save and continue editing"
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".messagelist .success"))
    # The change page previews the mapping in a Spotify embed sized by a style="" attribute.
    preview = driver.find_element(By.CSS_SELECTOR, "iframe.spotify-embed")
    assert preview.get_attribute("src").startswith("https://open.spotify.com/embed/playlist/")
    assert preview.value_of_css_property("max-width") == "480px"
    assert csp_violations(driver) == []

    driver.get(live_server_url + "/admin/playlists/moodmapping/")
    # The health badge is coloured by a style="" attribute: grey while the link is unchecked.
    badge = driver.find_element(By.CSS_SELECTOR, "td.field-health_badge span")
    assert badge.value_of_css_property("color") == "rgba(117, 117, 117, 1)"
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / "admin-under-csp.png"))
    assert csp_violations(driver) == []
