"""Settings for the test suite: the real settings, on the real PostgreSQL server.

``make test`` makes sure PostgreSQL answers at ``DATABASE_URL_TEST`` (pytest-django creates and
drops its own ``test_...`` database there), so the suite runs on the production database
engine; the browser tests' live servers use fresh SQLite files, the embedded default.
"""

import os

import dj_database_url

os.environ.setdefault("MUSICMOOD_DEV", "1")

from musicmood.settings import *  # noqa: F403

DATABASE_URL_TEST = os.environ.get(
    "DATABASE_URL_TEST", "postgres://postgres:postgres@127.0.0.1:5432/musicmood"
)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL_TEST)}
