"""Browser-test fixtures: a live daphne server and a headless Chromium driver factory.

Reusable by any e2e test: ``live_server_url`` (session-wide, embedded mode, fresh SQLite, the
tiny model), ``chromium`` (a factory: ``chromium(camera="allow"|"deny", video=path)``),
``fake_camera_y4m`` (a Y4M clip of the astronaut photo for Chromium's fake camera) and
``curated_mapping`` (a playlist for the tiny model's mood in the live server's database).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion.browser_runtime import INSTALL_COMMAND, runtime_status
from musicmood.samples import TINY_MODEL_MOOD, astronaut_image
from musicmood.stack import ROOT, site_env, web_server
from tests.integration.listener import migrated_sqlite

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Screenshots and server logs of browser tests land here (ignored by git).
OUTPUT_DIR = ROOT / "test-output" / "e2e"
#: The log of ``live_server_url``'s web process.
LIVE_SERVER_LOG = OUTPUT_DIR / "daphne.log"
#: The playlist ``curated_mapping`` maps the tiny model's mood to, and its embed.
PLAYLIST_ID = "e2eplaylist00000000001"
EMBED = f"https://open.spotify.com/embed/playlist/{PLAYLIST_ID}"
#: Chromium flags every browser test needs: headless on a server, and quiet (no background
#: downloads, sync or first-run screens: the machines have no internet).
BASE_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def write_y4m(path: Path, image_bgr: np.ndarray, *, frames: int = 10, size=(640, 480)) -> Path:
    """Write ``image_bgr`` letterboxed to ``size`` as a YUV4MPEG2 (4:2:0) clip of ``frames``."""
    width, height = size
    scale = min(width / image_bgr.shape[1], height / image_bgr.shape[0])
    fitted = cv2.resize(
        image_bgr, (round(image_bgr.shape[1] * scale), round(image_bgr.shape[0] * scale))
    )
    canvas = np.full((height, width, 3), 40, np.uint8)
    y0, x0 = (height - fitted.shape[0]) // 2, (width - fitted.shape[1]) // 2
    canvas[y0 : y0 + fitted.shape[0], x0 : x0 + fitted.shape[1]] = fitted
    i420 = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes()  # Y, then U, then V planes
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(i420)
    return path


@pytest.fixture(scope="session")
def fake_camera_y4m(tmp_path_factory) -> Path:
    """A 640x480 Y4M clip of the astronaut photo, for ``--use-file-for-fake-video-capture``."""
    return write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m", astronaut_image())


@pytest.fixture(scope="session")
def live_server_env(tiny_model_dir, tmp_path_factory) -> dict[str, str]:
    """Environment of the live server: embedded mode, fresh SQLite, the tiny model."""
    env = site_env(MUSICMOOD_MODEL=str(tiny_model_dir), ANALYSIS_MODE="inline")
    return migrated_sqlite(env, tmp_path_factory.mktemp("live-db"))


@pytest.fixture(scope="session")
def live_server_url(live_server_env) -> Iterator[str]:
    """Base URL (http://127.0.0.1:<port>) of a daphne server running the whole site."""
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    with web_server(live_server_env, LIVE_SERVER_LOG) as url:
        yield url


@pytest.fixture
def chromium(fake_camera_y4m) -> Iterator[Callable[..., object]]:
    """Factory of headless Chromium drivers with a fake camera; all are quit afterwards.

    ``chromium(camera="allow")`` grants the camera (the fake one plays ``video``, default the
    astronaut clip); ``camera="deny"`` makes every camera request fail with NotAllowedError.
    """
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()) and not (
        shutil.which("chromium") and shutil.which("chromedriver")
    ):
        pytest.fail("Chromium and chromedriver are missing; `make test` installs them.")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def make(*, camera: str = "allow", video: Path | None = None):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in BASE_FLAGS:
            options.add_argument(flag)
        options.add_argument("--use-fake-device-for-media-stream")
        options.add_argument(f"--use-file-for-fake-video-capture={video or fake_camera_y4m}")
        if camera == "allow":
            options.add_argument("--use-fake-ui-for-media-stream")
        else:
            options.add_argument("--deny-permission-prompts")
            options.add_experimental_option(
                "prefs", {"profile.default_content_setting_values.media_stream_camera": 2}
            )
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    yield make
    for driver in drivers:
        driver.quit()


@pytest.fixture
def curated_mapping(live_server_env, tmp_path) -> None:
    """A mapping for the tiny model's mood, imported into the live server's database."""
    import_mapping(live_server_env, tmp_path)


def import_mapping(env: dict[str, str], folder: Path) -> None:
    """Import the mapping of TINY_MODEL_MOOD to PLAYLIST_ID into the database of ``env``."""
    document = {
        "version": 1,
        "mappings": [
            {
                "mood": TINY_MODEL_MOOD,
                "links": [f"https://open.spotify.com/playlist/{PLAYLIST_ID}?si=e2e"],
                "priority": 1000,
                "note": "e2e test playlist",
            }
        ],
    }
    path = folder / "mappings.json"
    path.write_text(json.dumps(document))
    subprocess.run(
        [sys.executable, "manage.py", "import_mappings", str(path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


#: Marks of the tests that run the page's on-device analysis (it needs the browser runtime,
#: which the install step fetches with npm).
ONDEVICE_MARKS = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not runtime_status().available,
        reason=f"onnxruntime-web is not installed (the install step needs npm): {INSTALL_COMMAND}",
    ),
]
