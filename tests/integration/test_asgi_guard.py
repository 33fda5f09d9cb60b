"""Guard: in scaled-out mode the web process never imports TensorFlow or Keras."""

from __future__ import annotations

import json
import subprocess
import sys

from musicmood.stack import ROOT, site_env

PROBE = """
import json, sys
import musicmood.asgi
import emotion.consumers, emotion.dispatch, emotion.services, emotion.tasks, emotion.worker
import emotion.routing, emotion.views
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print(json.dumps(heavy))
"""


def test_importing_the_asgi_app_with_redis_set_leaves_tensorflow_out():
    env = site_env(REDIS_URL="redis://127.0.0.1:6379/15")
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
