"""The page's image operations give OpenCV's pixels, and its face crops ml.preprocessing's.

On-device analysis frames faces in the browser with ``static/js/ondevice/imaging.js`` and
``face.js``, ports of what the server does with OpenCV. Here both run on the same pixels, the
page's in headless Chromium, and must agree exactly: not one grey level apart.
"""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from ml.preprocessing import Preprocessing, face_crop
from musicmood.samples import astronaut_frame

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: Runs one of the page's operations on raw pixels and answers the result's pixels in base64.
RUN = """
const [op, image, args, done] = arguments;
(async () => {
  const app = document.getElementById("app");
  const base = app.dataset.ondeviceModule.replace(/ondevice(\\.[0-9a-f]+)?\\.js$/, "ondevice/");
  const imaging = await import(base + "imaging.js");
  const face = await import(base + "face.js");
  const bytes = Uint8Array.from(atob(image.data), (c) => c.charCodeAt(0));
  const source = { ...image, data: bytes };
  const run = {
    area: () => imaging.resizeArea(source, ...args),
    linear: () => imaging.resizeLinear(source, ...args),
    gray: () => imaging.bgrToGray(source),
    crop: () => face.faceCrops(source, [args[0]], args[1])[0],
  }[op];
  const out = run();
  let text = "";
  for (let i = 0; i < out.data.length; i += 8192) {
    text += String.fromCharCode(...out.data.subarray(i, i + 8192));
  }
  return { width: out.width, height: out.height, channels: out.channels, data: btoa(text) };
})().then(done, (err) => done({ error: String((err && err.stack) || err) }));
"""


@pytest.fixture(scope="module")
def page(live_server_url, tmp_path_factory):
    """A headless Chromium on the site's page, where the page's modules can be imported."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.e2e.conftest import BASE_FLAGS, CHROMEDRIVER, CHROMIUM

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in BASE_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(300)
    driver.get(live_server_url + "/")
    yield driver
    driver.quit()


def in_page(page, op: str, image: np.ndarray, *args) -> np.ndarray:
    """The page's ``op`` on ``image`` (uint8 BGR or gray), as an array."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    encoded = base64.b64encode(np.ascontiguousarray(image).tobytes()).decode("ascii")
    shape = {"width": image.shape[1], "height": image.shape[0], "channels": channels}
    answer = page.execute_async_script(RUN, op, {**shape, "data": encoded}, list(args))
    assert "error" not in answer, answer.get("error")
    out = np.frombuffer(base64.b64decode(answer["data"]), np.uint8)
    out = out.reshape(answer["height"], answer["width"], answer["channels"])
    return out[:, :, 0] if answer["channels"] == 1 else out


def frames() -> dict[str, np.ndarray]:
    """A camera frame, and noise, where every rounding shows."""
    noise = np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return {"camera": astronaut_frame(), "noise": noise}


@pytest.mark.parametrize("name", ["camera", "noise"])
def test_the_page_shrinks_enlarges_and_grays_a_frame_as_opencv_does(page, name):
    frame = frames()[name]
    for size in ((320, 240), (213, 160), (319, 239), (160, 120)):
        expected = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        assert np.array_equal(in_page(page, "area", frame, *size), expected), size
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(in_page(page, "gray", frame), gray)
    for size in ((97, 61), (320, 240)):
        expected = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        assert np.array_equal(in_page(page, "area", gray, *size), expected), size
    enlarged = cv2.resize(frame, (960, 720), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(in_page(page, "linear", frame, 960, 720), enlarged)


#: Faces to cut: (box, landmarks): small and large (the INTER_AREA shrink first), turned both
#: ways, and reaching past the frame's edges (its pixels repeat there).
FACES = [
    ((250, 57, 88, 109), {"left_eye": (272.56, 96.26), "right_eye": (313.58, 99.76)}),
    ((300, 200, 40, 44), {"left_eye": (310.2, 215.9), "right_eye": (327.7, 211.3)}),
    ((100, 80, 260, 300), {"left_eye": (170.4, 190.1), "right_eye": (290.8, 160.5)}),
    ((-20, 400, 120, 130), {"left_eye": (10.1, 440.3), "right_eye": (60.6, 452.9)}),
    ((500, -10, 150, 160), None),
]


@pytest.mark.parametrize("name", ["camera", "noise"])
@pytest.mark.parametrize("color", ["gray", "rgb"])
def test_the_page_cuts_faces_as_ml_preprocessing_face_crop_does(page, name, color):
    frame = frames()[name]
    params = Preprocessing(input_size=48, color=color, margin=0.1)
    for box, landmarks in FACES:
        expected = face_crop(frame, box, params, landmarks).squeeze()
        marks = {k: list(v) for k, v in landmarks.items()} if landmarks else None
        got = in_page(page, "crop", frame, {"box": list(box), "landmarks": marks}, params.to_dict())
        assert np.array_equal(got, expected), (box, int((got != expected).sum()))
