"""Logging filters that ``LOGGING`` in ``musicmood/settings.py`` attaches to Django's loggers."""

from __future__ import annotations

import logging

from django.conf import settings

#: The one line logged for each refused request (the argument is the host it asked for).
REFUSED_HOST_MESSAGE = "Refused a request for host %r (not a host name DJANGO_ALLOWED_HOSTS allows)"
#: Longest host name worth logging (a DNS name has at most 253 characters); the rest is cut.
HOST_LOG_MAX_CHARS = 255


def _requested_host(request: object) -> str | None:
    """The host a request asked for, as ``HttpRequest.get_host`` reads it before validating."""
    meta = getattr(request, "META", None)
    if not isinstance(meta, dict):
        return None
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in meta:
        return meta["HTTP_X_FORWARDED_HOST"]
    return meta.get("HTTP_HOST") or meta.get("SERVER_NAME")


class RefusedHostFilter(logging.Filter):
    """Turns Django's ``DisallowedHost`` error and its traceback into one line naming the host.

    Every request with a ``Host`` header outside ``DJANGO_ALLOWED_HOSTS`` (scanners send many)
    otherwise logs a 2 KB traceback of Django's own code, which says nothing the host does not.
    Attach it to the ``django.security.DisallowedHost`` logger only: other errors keep theirs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # A client's mistake, not the server's: a warning, so alerts on ERROR stay quiet.
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        host = _requested_host(getattr(record, "request", None))
        if host is not None:
            if len(host) > HOST_LOG_MAX_CHARS:
                host = host[:HOST_LOG_MAX_CHARS] + "..."
            record.msg = REFUSED_HOST_MESSAGE
            record.args = (host,)
        return True
