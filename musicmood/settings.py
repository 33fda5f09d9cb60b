"""MusicMood settings: every value comes from the environment, with safe defaults.

With nothing set, the site runs in its embedded mode: SQLite, an in-memory channel layer and
analysis in-process. ``REDIS_URL`` switches the channel layer, the Celery broker and the cache to
Redis (analysis then runs in Celery workers); ``DATABASE_URL`` switches to PostgreSQL. The
README's configuration table lists every variable read here.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from musicmood.env import env

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -----------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG and not env.bool("MUSICMOOD_DEV", False):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random string in production, "
            "or set MUSICMOOD_DEV=1 (what `make run` does) for a local development key."
        )
    SECRET_KEY = "musicmood-development-key-not-for-production"  # noqa: S105 - dev only

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "emotion",
    "playlists",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "musicmood.urls"
ASGI_APPLICATION = "musicmood.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        env.str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env.int("DATABASE_CONN_MAX_AGE", 0),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env.bool("DJANGO_MANIFEST_STATIC", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

# --- Redis: one URL feeds the channel layer, the Celery broker and the cache ----------------
REDIS_URL = env.str("REDIS_URL")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 200, "expiry": 30},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "musicmood",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

#: The Celery broker; defaults to REDIS_URL (set it only to use a different broker).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = False  # a frame is worth analysing once; never redeliver stale frames
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}

# --- Analysis -------------------------------------------------------------------------------
#: "inline" (a thread pool in the web process) or "celery" (workers on Redis).
ANALYSIS_MODE = env.str("ANALYSIS_MODE", "celery" if REDIS_URL else "inline")
ANALYSIS_THREADS = env.int("ANALYSIS_THREADS", 2)
ANALYSIS_TIMEOUT_SECONDS = env.float("ANALYSIS_TIMEOUT_SECONDS", 10.0)
#: Folder of an exported model; empty means the model shipped in ``models/default``.
MUSICMOOD_MODEL = env.str("MUSICMOOD_MODEL", str(BASE_DIR / "models" / "default"))
#: "auto" (RetinaFace when its weights are present, else OpenCV), "retinaface" or "opencv".
FACE_DETECTOR = env.str("FACE_DETECTOR", "auto")
FACE_DETECTION_MAX_SIDE = env.int("FACE_DETECTION_MAX_SIDE", 320)
RETINAFACE_WEIGHTS = env.str("RETINAFACE_WEIGHTS", "")

# --- Frames and the websocket ---------------------------------------------------------------
FRAME_MAX_BYTES = env.int("FRAME_MAX_BYTES", 512 * 1024)
FRAME_MAX_PIXELS = env.int("FRAME_MAX_PIXELS", 1920 * 1080)
FRAME_RATE_PER_SECOND = env.float("FRAME_RATE_PER_SECOND", 15.0)
FRAME_RATE_BURST = env.int("FRAME_RATE_BURST", 10)
WS_MAX_ERRORS = env.int("WS_MAX_ERRORS", 50)
WS_ERROR_WINDOW_SECONDS = env.float("WS_ERROR_WINDOW_SECONDS", 10.0)

# --- Mood smoothing -------------------------------------------------------------------------
MOOD_WINDOW_SECONDS = env.float("MOOD_WINDOW_SECONDS", 3.0)
MOOD_MIN_DWELL_SECONDS = env.float("MOOD_MIN_DWELL_SECONDS", 2.0)
MOOD_SWITCH_MARGIN = env.float("MOOD_SWITCH_MARGIN", 0.15)
MOOD_MIN_CONFIDENCE = env.float("MOOD_MIN_CONFIDENCE", 0.4)
MOOD_ABSENCE_SECONDS = env.float("MOOD_ABSENCE_SECONDS", 3.0)
#: The age band changes only when the smoothed age is this many years past the band's edge.
MOOD_AGE_MARGIN_YEARS = env.float("MOOD_AGE_MARGIN_YEARS", 2.0)
#: The gender changes only when the smoothed p(female) is this far past one half.
MOOD_GENDER_MARGIN = env.float("MOOD_GENDER_MARGIN", 0.1)

# --- Music ----------------------------------------------------------------------------------
SPOTIFY_ENABLED = env.bool("SPOTIFY_ENABLED", False)
SPOTIFY_CLIENT_ID = env.str("SPOTIFY_CLIENT_ID")
SPOTIFY_CLIENT_SECRET = env.str("SPOTIFY_CLIENT_SECRET")
SPOTIFY_API_URL = env.str("SPOTIFY_API_URL", "https://api.spotify.com/v1/")
SPOTIFY_TOKEN_URL = env.str("SPOTIFY_TOKEN_URL", "https://accounts.spotify.com/api/token")
SPOTIFY_OEMBED_URL = env.str("SPOTIFY_OEMBED_URL", "https://open.spotify.com/oembed")
SPOTIFY_MARKET = env.str("SPOTIFY_MARKET", "US")
SPOTIFY_TIMEOUT_SECONDS = env.float("SPOTIFY_TIMEOUT_SECONDS", 5.0)
SPOTIFY_RETRIES = env.int("SPOTIFY_RETRIES", 2)
PLAYLIST_CACHE_SECONDS = env.int("PLAYLIST_CACHE_SECONDS", 6 * 3600)
SPOTIFY_SEARCH_PAGE_SIZE = min(env.int("SPOTIFY_SEARCH_PAGE_SIZE", 10), 10)  # dev-mode cap, 2026
SPOTIFY_RETRY_AFTER_MAX_SECONDS = env.float("SPOTIFY_RETRY_AFTER_MAX_SECONDS", 10.0)
PLAYLIST_MAX_TRACKS = env.int("PLAYLIST_MAX_TRACKS", 30)
PLAYLIST_DEFAULT_MOOD = env.str("PLAYLIST_DEFAULT_MOOD", "neutral")
PLAYLIST_HISTORY_SECONDS = env.int("PLAYLIST_HISTORY_SECONDS", 4 * 3600)
PLAYLIST_HISTORY_MAX = env.int("PLAYLIST_HISTORY_MAX", 500)
if SPOTIFY_ENABLED and not (SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "SPOTIFY_ENABLED is on but SPOTIFY_CLIENT_ID or SPOTIFY_CLIENT_SECRET is empty. "
        "Create an app at developer.spotify.com and set both, or unset SPOTIFY_ENABLED."
    )

# --- Security in production -----------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_TLS_PROXY") else None
)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", False)
X_FRAME_OPTIONS = "DENY"

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    "loggers": {"django": {"level": env.str("DJANGO_LOG_LEVEL", "INFO"), "propagate": True}},
}
