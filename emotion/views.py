from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template

from emotion.analyzer import model_available
from emotion.messages import CLOSE_TOO_MANY_ERRORS
from emotion.routing import MOOD_SOCKET_PATH
from ml.labels import MOODS
from playlists.listener import listener_cookie_set, listener_key, listener_key_new

#: The playlists app's player, included in the page when it is installed.
PLAYER_TEMPLATE = "playlists/_player.html"


def index(request: HttpRequest) -> HttpResponse:
    """The listener's page: consent, camera, live mood and player."""
    try:
        player_template = get_template(PLAYER_TEMPLATE).template.name
    except TemplateDoesNotExist:
        player_template = None
    context = {
        "model_missing": settings.ANALYSIS_MODE == "inline" and not model_available(),
        "frame_max_bytes": settings.FRAME_MAX_BYTES,
        # The page reads the protocol's facts from here rather than repeating them.
        "socket_path": "/" + MOOD_SOCKET_PATH,
        "close_too_many_errors": CLOSE_TOO_MANY_ERRORS,
        "moods": MOODS,
        "player_template": player_template,
    }
    response = render(request, "emotion/index.html", context)
    if listener_key(request) is None:
        # The socket reads it to avoid repeating tracks; no session row is written.
        listener_cookie_set(response, listener_key_new())
    return response
