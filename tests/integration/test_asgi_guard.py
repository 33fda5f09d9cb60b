"""Guard: in scaled-out mode the web process never imports TensorFlow or Keras."""

from __future__ import annotations

import json

from musicmood.stack import site_env
from tests.probe import python_probe

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
    assert json.loads(python_probe(PROBE, env=env).strip().splitlines()[-1]) == []
