"""What the server gives a page that analyzes on the device: its parameters, from the server's
own constants, the two ONNX files as they are, and why it cannot when it cannot."""

from __future__ import annotations

import json
import logging
import re
import shutil

import pytest

from emotion import browser_runtime, ondevice
from emotion.browser_runtime import FILES, INSTALLED_FILE, VERSION
from ml.detection import mobilenet, priors
from ml.detection.mobilenet import mobilenet_weights_path
from ml.export import ONNX_FILE, ONNX_INPUT, load_metadata
from musicmood.stack import ROOT

pytestmark = pytest.mark.skipif(
    not mobilenet_weights_path().is_file(),
    reason="RetinaFace MobileNet weights are missing: python scripts/install_detector.py",
)

SCRIPTS = ROOT / "static" / "js"


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch):
    """A browser runtime folder as the install step leaves it (files' contents don't matter)."""
    for name, _ in FILES.values():
        (tmp_path / name).write_bytes(b"stand-in")
    (tmp_path / INSTALLED_FILE).write_text(json.dumps({"version": VERSION}))
    monkeypatch.setattr(browser_runtime, "RUNTIME_DIR", tmp_path)
    return tmp_path


@pytest.fixture
def offered(settings, tiny_model_dir, runtime_dir):
    """A server offering on-device analysis of the tiny model."""
    settings.MUSICMOOD_MODEL = str(tiny_model_dir)
    settings.ANALYSIS_ON_DEVICE = "allowed"
    settings.RETINAFACE_MOBILENET_WEIGHTS = ""
    return settings


def test_the_config_gives_the_page_the_server_s_own_parameters(client, offered, tiny_model_dir):
    config = client.get("/on-device/config.json").json()
    assert config["available"] is True and config["mode"] == "allowed"
    metadata = load_metadata(tiny_model_dir)
    model = config["model"]
    assert model["preprocessing"] == metadata.preprocessing.to_dict()
    assert model["mirror_average"] == metadata.mirror_average
    assert model["moods"] == list(metadata.moods) and model["input"] == ONNX_INPUT
    detector = config["detector"]
    assert detector["max_side"] == offered.FACE_DETECTION_MAX_SIDE
    assert detector["retry_side"] == mobilenet.RETRY_SIDE
    assert detector["retry_face_sides"] == list(mobilenet.RETRY_FACE_SIDES)
    assert detector["score_threshold"] == mobilenet.SCORE_THRESHOLD
    assert detector["confirm_threshold"] == mobilenet.CONFIRM_THRESHOLD
    assert detector["nms_iou"] == mobilenet.NMS_IOU
    assert detector["bgr_mean"] == list(mobilenet.BGR_MEAN)
    assert detector["anchor_sizes"] == [list(s) for s in priors.ANCHOR_SIZES]
    assert detector["center_variance"] == priors.CENTER_VARIANCE
    assert set(config["runtime"]) == set(FILES)
    runtime = config["runtime"].values()
    assert all(url.startswith("/static/vendor/onnxruntime-web/") for url in runtime)


def test_the_model_and_the_detector_are_served_as_they_are(client, offered, tiny_model_dir):
    config = client.get("/on-device/config.json").json()
    model = client.get(config["model"]["url"])
    assert model.status_code == 200
    assert b"".join(model.streaming_content) == (tiny_model_dir / ONNX_FILE).read_bytes()
    assert model["Cache-Control"] == "no-cache"
    again = client.get(config["model"]["url"], HTTP_IF_NONE_MATCH=model["ETag"])
    assert again.status_code == 304
    detector = client.get(config["detector"]["url"])
    assert b"".join(detector.streaming_content) == mobilenet_weights_path().read_bytes()


def test_a_model_exported_without_its_onnx_form_is_not_offered(
    client, offered, tiny_model_dir, tmp_path, caplog
):
    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    (model / ONNX_FILE).unlink()
    offered.MUSICMOOD_MODEL = str(model)
    with caplog.at_level(logging.WARNING, logger="emotion.ondevice"):
        config = client.get("/on-device/config.json").json()
    assert config == {
        "mode": "allowed",
        "available": False,
        "reason": "the installed model has no form a browser can run",
    }
    assert client.get("/on-device/model.onnx").status_code == 404
    assert str(model / ONNX_FILE) in caplog.text  # the log says where it looked


def test_without_the_browser_runtime_the_page_and_the_log_say_why(
    client, offered, runtime_dir, caplog
):
    (runtime_dir / INSTALLED_FILE).unlink()
    ondevice._logged_reasons.clear()
    with caplog.at_level(logging.WARNING, logger="emotion.ondevice"):
        page = client.get("/").content.decode()
    assert re.search(r'<input type="checkbox" id="on-device"[^>]* disabled>', page)
    assert (
        "On-device analysis is unavailable on this server: its browser runtime (ONNX Runtime "
        "Web) is not installed. Pictures are analysed on the server." in " ".join(page.split())
    )
    assert "scripts/install_browser_runtime.py" in caplog.text
    assert "npm" in caplog.text
    config = client.get("/on-device/config.json").json()
    assert config["available"] is False and "runtime" not in config
    assert client.get("/on-device/detector.onnx").status_code == 404


def test_a_server_taking_estimates_only_says_analysis_is_unavailable_without_the_runtime(
    client, offered, runtime_dir
):
    offered.ANALYSIS_ON_DEVICE = "only"
    (runtime_dir / INSTALLED_FILE).unlink()
    page = " ".join(client.get("/").content.decode().split())
    assert "Mood analysis is unavailable: this server analyses only on your device" in page
    assert "the pictures never leave your browser" in page


def test_with_on_device_analysis_off_the_page_offers_nothing_and_no_file_is_served(client, offered):
    offered.ANALYSIS_ON_DEVICE = "off"
    assert 'id="on-device"' not in client.get("/").content.decode()
    assert client.get("/on-device/model.onnx").status_code == 404
    assert client.get("/on-device/config.json").json()["available"] is False


def test_the_page_s_on_device_scripts_repeat_none_of_the_server_s_numbers():
    scripts = "\n".join(
        path.read_text() for path in [SCRIPTS / "ondevice.js", *(SCRIPTS / "ondevice").glob("*.js")]
    )
    numbers = {
        mobilenet.RETRY_SIDE,
        mobilenet.TOP_CANDIDATES,
        mobilenet.MAX_FACES,
        mobilenet.NMS_IOU,
        *mobilenet.BGR_MEAN,
        *(side for sizes in priors.ANCHOR_SIZES[1:] for side in sizes),
        priors.CENTER_VARIANCE,
        priors.SIZE_VARIANCE,
        320,  # FACE_DETECTION_MAX_SIDE's default
        48,  # the input size of earlier models
        64,  # the default input size
    }
    for number in numbers:
        assert not re.search(rf"(?<![\w.]){re.escape(f'{number:g}')}(?![\w.])", scripts), number
