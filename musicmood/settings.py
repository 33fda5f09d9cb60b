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
    "musicmood.middleware.content_security_policy_middleware",
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
STATIC_ROOT = Path(env.path("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
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

#: Read timeout of the channel layer's Redis connections. It must exceed channels_redis's 5 s
#: blocking pop, or every idle socket dies after 5 s (redis-py's default timeout is also 5 s).
REDIS_SOCKET_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_TIMEOUT_SECONDS", 15.0)

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "musicmood.channel_layer.ResilientRedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS,
                        "socket_connect_timeout": 2,
                    }
                ],
                "capacity": 200,
                "expiry": 30,
            },
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
CELERY_TASK_ACKS_LATE = False  # a frame is worth analyzing once; never redeliver stale frames
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}

# --- Analysis -------------------------------------------------------------------------------
#: "inline" (a thread pool in the web process) or "celery" (workers on Redis).
ANALYSIS_MODE = env.choice(
    "ANALYSIS_MODE", "celery" if REDIS_URL else "inline", ("inline", "celery")
)
# Whether a page may analyze its frames itself and send only its estimates ("allowed"), must
# ("only": frames are refused) or may not ("off": text messages are refused).
ANALYSIS_ON_DEVICE = env.choice("ANALYSIS_ON_DEVICE", "allowed", ("allowed", "only", "off"))
if ANALYSIS_MODE == "celery" and not CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Frames travel apart from the task, in a Redis key that expires (emotion/frames.py).
    raise ImproperlyConfigured(
        "ANALYSIS_MODE=celery needs a Redis broker: set REDIS_URL (or CELERY_BROKER_URL) to "
        f"redis://..., got {CELERY_BROKER_URL!r}."
    )
ANALYSIS_THREADS = env.int("ANALYSIS_THREADS", 2)
ANALYSIS_TIMEOUT_SECONDS = env.float("ANALYSIS_TIMEOUT_SECONDS", 10.0)
#: Folder of an exported model; empty means the model shipped in ``models/default``.
MUSICMOOD_MODEL = env.path("MUSICMOOD_MODEL", BASE_DIR / "models" / "default")
#: "auto" (the first available of RetinaFace MobileNet, RetinaFace ResNet-50, OpenCV),
#: "retinaface-mobilenet", "retinaface-resnet50" ("retinaface" is the same) or "opencv".
FACE_DETECTOR = env.choice("FACE_DETECTOR", "auto")
FACE_DETECTION_MAX_SIDE = env.int("FACE_DETECTION_MAX_SIDE", 320)
#: ONNX weights of RetinaFace ResNet-50; empty: the retina-face package's place.
RETINAFACE_WEIGHTS = env.str("RETINAFACE_WEIGHTS", "")
#: ONNX weights of RetinaFace MobileNet-0.25; empty: where the install step puts them.
RETINAFACE_MOBILENET_WEIGHTS = env.str("RETINAFACE_MOBILENET_WEIGHTS", "")

# --- Frames and the websocket ---------------------------------------------------------------
FRAME_MAX_BYTES = env.int("FRAME_MAX_BYTES", 512 * 1024)
#: The largest FRAME_MAX_BYTES that can be configured (a camera frame is some 50 KB).
FRAME_MAX_BYTES_LIMIT = 16 * 1024 * 1024
if not 0 < FRAME_MAX_BYTES <= FRAME_MAX_BYTES_LIMIT:
    raise ImproperlyConfigured(
        f"FRAME_MAX_BYTES must be between 1 and {FRAME_MAX_BYTES_LIMIT}, got {FRAME_MAX_BYTES}."
    )
#: Websocket messages up to this size reach the consumer (which refuses frames over
#: FRAME_MAX_BYTES with an error); larger ones close the socket with code 1009.
WS_MESSAGE_MAX_BYTES = max(
    env.int("WS_MESSAGE_MAX_BYTES", max(2 * FRAME_MAX_BYTES, 1024 * 1024)), FRAME_MAX_BYTES
)
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
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
#: HSTS: once a browser has seen it over https, it refuses plain http to this host for this many
#: seconds. Off (0) by default; switch it on only when https works, and start small.
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", False)
#: Redirect http to https (behind a TLS proxy this needs DJANGO_BEHIND_TLS_PROXY too).
SECURE_SSL_REDIRECT = env.bool("DJANGO_SSL_REDIRECT", False)

#: Content-Security-Policy of every HTML page (musicmood/middleware.py); empty sends none. The
#: page runs only its own scripts and styles (no inline code, no style="" attributes), talks to
#: its own host (fetch, and the /ws/mood/ socket: CSP3 browsers match ws:/wss: to the page's own
#: host and port with 'self'), previews a chosen photo or video from a blob: URL (the camera's
#: MediaStream is not a URL and needs no source), embeds the Spotify player and shows album
#: artwork from Spotify's image CDN. On-device analysis compiles ONNX Runtime's WebAssembly,
#: which needs 'wasm-unsafe-eval' (it allows WebAssembly compilation only, not JavaScript eval);
#: the runtime runs on one thread in the page, so no worker or blob: source is needed.
CSP_POLICY = env.str(
    "DJANGO_CSP",
    "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "style-src 'self'",
            "img-src 'self' blob: https://i.scdn.co",
            "media-src 'self' blob:",
            "connect-src 'self'",
            "frame-src https://open.spotify.com",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    ),
)
#: The policy of the Django admin's pages. Like the page's, but style-src allows inline styles:
#: Django's change list writes a <style> block when a model has no actions, and the mood-mapping
#: admin colours its health badges and sizes its Spotify preview with style="" attributes.
#: Scripts stay 'self' only. Empty sends none; with DJANGO_CSP empty it defaults to empty too.
CSP_ADMIN_POLICY = env.str(
    "DJANGO_CSP_ADMIN",
    "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' https://i.scdn.co",
            "frame-src https://open.spotify.com",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
    if CSP_POLICY
    else "",
)
#: Send both policies as Content-Security-Policy-Report-Only: browsers then report violations
#: in their console instead of blocking (frame-ancestors is ignored there; X-Frame-Options DENY
#: still applies).
CSP_REPORT_ONLY = env.bool("DJANGO_CSP_REPORT_ONLY", False)

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"refused_host": {"()": "musicmood.log_filters.RefusedHostFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django": {"level": env.str("DJANGO_LOG_LEVEL", "INFO"), "propagate": True},
        # A request for a host outside DJANGO_ALLOWED_HOSTS: one line, not a traceback.
        "django.security.DisallowedHost": {"filters": ["refused_host"]},
    },
}
