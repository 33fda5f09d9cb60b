from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from emotion import services


def index(request: HttpRequest) -> HttpResponse:
    """The listener's page: consent, camera, live mood and player."""
    if not request.session.session_key:
        request.session.save()  # the socket uses it to avoid repeating tracks
    context = {
        "model_missing": settings.ANALYSIS_MODE == "inline" and not services.model_available(),
        "frame_max_bytes": settings.FRAME_MAX_BYTES,
    }
    return render(request, "emotion/index.html", context)
