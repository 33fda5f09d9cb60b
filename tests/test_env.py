"""Settings read from the environment: an empty value means the default, a wrong word says so."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from musicmood.env import Env
from musicmood.stack import ROOT, site_env
from tests.probe import python_probe


def test_a_word_setting_left_empty_takes_its_default_and_a_wrong_one_names_the_choices():
    assert Env({"FACE_DETECTOR": ""}).choice("FACE_DETECTOR", "auto") == "auto"
    assert Env({"FACE_DETECTOR": " opencv "}).choice("FACE_DETECTOR", "auto") == "opencv"
    assert Env({}).choice("MODE", "a", ("a", "b")) == "a"
    with pytest.raises(ImproperlyConfigured, match="MODE must be one of a, b, got 'c'"):
        Env({"MODE": "c"}).choice("MODE", "a", ("a", "b"))


def test_empty_settings_in_a_real_process_mean_their_defaults():
    probe = (
        "import json, django; django.setup()\n"
        "from django.conf import settings as s\n"
        "print(json.dumps([str(s.STATIC_ROOT), s.FACE_DETECTOR, s.ANALYSIS_ON_DEVICE,"
        " s.ANALYSIS_MODE]))\n"
    )
    env = site_env(DJANGO_STATIC_ROOT="", FACE_DETECTOR="", ANALYSIS_ON_DEVICE="", ANALYSIS_MODE="")
    env.pop("REDIS_URL", None)
    values = json.loads(python_probe(probe, env=env).strip().splitlines()[-1])
    assert values == [str(ROOT / "staticfiles"), "auto", "allowed", "inline"]


def test_a_wrong_on_device_setting_stops_start_up_with_a_clear_message():
    env = site_env(ANALYSIS_ON_DEVICE="sometimes")
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "ANALYSIS_ON_DEVICE must be one of allowed, only, off, got 'sometimes'" in done.stderr
