"""The process's analyzer: built from settings, rebuilt when any of them changes."""

from __future__ import annotations

import json
import shutil

import pytest

from emotion.analyzer import analyzer_get, analyzer_loaded, analyzer_settings, model_available
from emotion.errors import AnalysisUnavailable
from ml.export import load_metadata
from musicmood.env import Env
from musicmood.stack import ROOT, site_env
from tests.probe import python_probe

SHIPPED_MODEL = ROOT / "models" / "default"


def test_an_empty_path_setting_means_its_default_not_the_current_folder():
    assert Env({"MUSICMOOD_MODEL": ""}).path("MUSICMOOD_MODEL", "/srv/model") == "/srv/model"
    assert Env({"MUSICMOOD_MODEL": "  "}).path("MUSICMOOD_MODEL", "/srv/model") == "/srv/model"
    assert Env({}).path("MUSICMOOD_MODEL", SHIPPED_MODEL) == str(SHIPPED_MODEL)
    assert Env({"MUSICMOOD_MODEL": "/data/m"}).path("MUSICMOOD_MODEL", "/srv/model") == "/data/m"


@pytest.mark.skipif(not (SHIPPED_MODEL / "metadata.json").is_file(), reason="no shipped model")
def test_an_empty_musicmood_model_serves_the_shipped_model(astronaut_jpeg, tmp_path):
    frame = tmp_path / "frame.jpg"
    frame.write_bytes(astronaut_jpeg)
    probe = (
        "import json, django; django.setup()\n"
        "from pathlib import Path\n"
        "from django.conf import settings\n"
        "from emotion.analyzer import analyzer_get\n"
        f"faces = analyzer_get().analyze(Path({str(frame)!r}).read_bytes()).faces\n"
        "print(json.dumps([settings.MUSICMOOD_MODEL, len(faces)]))\n"
    )
    env = site_env(MUSICMOOD_MODEL="", FACE_DETECTOR="opencv")
    model, faces = json.loads(python_probe(probe, env=env).strip().splitlines()[-1])
    assert model == str(SHIPPED_MODEL)
    assert faces == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FACE_DETECTOR", "retinaface-mobilenet"),
        ("FACE_DETECTION_MAX_SIDE", 160),
        ("RETINAFACE_WEIGHTS", "/elsewhere/retinaface.onnx"),
        ("RETINAFACE_MOBILENET_WEIGHTS", "/elsewhere/mobilenet.onnx"),
        ("FRAME_MAX_PIXELS", 640 * 480),
    ],
)
def test_a_changed_setting_builds_a_new_analyzer_for_the_next_frame(inline, name, value):
    before = analyzer_get()
    assert analyzer_loaded() and analyzer_get() is before
    setattr(inline, name, value)
    assert not analyzer_loaded()
    after = analyzer_get()
    assert after is not before and analyzer_loaded()


def test_the_new_analyzer_uses_the_changed_detector_settings(inline):
    assert analyzer_get().detector.name == "opencv"
    inline.FACE_DETECTOR = "retinaface-mobilenet"
    inline.FACE_DETECTION_MAX_SIDE = 160
    inline.FRAME_MAX_PIXELS = 1000
    analyzer = analyzer_get()
    assert (analyzer.detector.name, analyzer.detector.max_side) == ("retinaface-mobilenet", 160)
    assert analyzer.max_pixels == 1000


def test_every_setting_the_analyzer_is_built_from_is_in_its_reload_key(inline):
    inline.RETINAFACE_WEIGHTS = "/a"
    inline.RETINAFACE_MOBILENET_WEIGHTS = "/b"
    key = analyzer_settings()
    for name in ("MUSICMOOD_MODEL", "FACE_DETECTOR", "RETINAFACE_WEIGHTS"):
        assert str(getattr(inline, name)) in key
    assert {inline.FACE_DETECTION_MAX_SIDE, inline.FRAME_MAX_PIXELS, "/b"} <= set(key)


def test_a_model_copied_in_after_a_miss_is_served_without_a_restart(
    inline, tmp_path, tiny_model_dir
):
    inline.MUSICMOOD_MODEL = str(tmp_path / "model")
    assert not model_available()
    with pytest.raises(AnalysisUnavailable) as caught:
        analyzer_get()
    assert caught.value.code == "model_unavailable"
    assert str(tmp_path) not in caught.value.message  # paths go to the log, not the listener
    shutil.copytree(tiny_model_dir, tmp_path / "model")
    assert model_available()
    assert analyzer_get().metadata.training == load_metadata(tiny_model_dir).training
