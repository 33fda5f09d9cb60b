"""Settings for the test suite: the real settings, with a development key allowed."""

import os

os.environ.setdefault("MUSICMOOD_DEV", "1")

from musicmood.settings import *  # noqa: F403
