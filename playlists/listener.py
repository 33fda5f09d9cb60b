"""Which listening session a request or socket belongs to, without a session row.

The player remembers which tracks a listening session already heard (in the cache, under a
hash of this key; see ``playlists.services``). A Django session would do, but creating one for
every cookie-less visitor let anonymous GETs grow the session table without bound. The key is
a random token in a signed cookie instead: nothing is stored until a track is served, and then
only in the cache, where it expires.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

#: Cookie holding the signed listening-session token.
LISTENER_COOKIE = "musicmood_listener"
#: Salt of its signature, so no other signed value of the site can stand in for it.
LISTENER_COOKIE_SALT = "musicmood.playlists.listener"


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=LISTENER_COOKIE_SALT)


def listener_key_new() -> str:
    """A fresh random listening-session key."""
    return secrets.token_urlsafe(18)


def listener_key_from_cookies(cookies: Mapping[str, str]) -> str | None:
    """The key in a (request's or websocket's) cookie mapping; None if absent or forged."""
    value = cookies.get(LISTENER_COOKIE)
    if not value:
        return None
    try:
        return _signer().unsign(value, max_age=settings.PLAYLIST_HISTORY_SECONDS)
    except signing.BadSignature:
        return None


def listener_key(request: HttpRequest) -> str | None:
    """The listening-session key of ``request``, if it carries a valid one."""
    return listener_key_from_cookies(request.COOKIES)


def listener_cookie_set(response: HttpResponse, key: str) -> None:
    """Give the browser ``key`` as its listening session (signed, HTTP only, same site)."""
    response.set_cookie(
        LISTENER_COOKIE,
        _signer().sign(key),
        max_age=settings.PLAYLIST_HISTORY_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
