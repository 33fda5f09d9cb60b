from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import condition, require_GET

from emotion.analyzer import model_available
from emotion.messages import CLOSE_TOO_MANY_ERRORS
from emotion.ondevice import (
    detector_onnx_path,
    file_version,
    model_onnx_path,
    ondevice_mode,
    ondevice_parameters,
    ondevice_status,
    page_status,
    runtime_file_paths,
)
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
    mode = ondevice_mode()
    ondevice = page_status() if mode != "off" else None
    context = {
        "model_missing": settings.ANALYSIS_MODE == "inline" and not model_available(),
        # On-device analysis: the mode, and why the page cannot offer it ("": maybe it can; the
        # page asks the config view once the listener wants it).
        "ondevice_mode": mode,
        "ondevice_unavailable": ondevice.reason if ondevice and not ondevice.available else "",
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


@require_GET
def ondevice_config(request: HttpRequest) -> JsonResponse:
    """What the page needs to analyze on the device (``emotion.ondevice``), or why it cannot."""
    status = ondevice_status()
    body: dict = {"mode": ondevice_mode(), "available": status.available, "reason": status.reason}
    if status.available:
        body.update(ondevice_parameters())
        body["model"]["url"] = f"{reverse('emotion:ondevice-model')}?v={body['model']['version']}"
        body["detector"]["url"] = (
            f"{reverse('emotion:ondevice-detector')}?v={body['detector']['version']}"
        )
        body["runtime"] = {role: static(path) for role, path in runtime_file_paths().items()}
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"  # the model or the mode may change at any time
    return response


def _served_file(path: Path) -> FileResponse:
    """``path`` as a download the browser revalidates (the model may be replaced live)."""
    if ondevice_mode() == "off" or not path.is_file():
        raise Http404("Not available.")
    response = FileResponse(path.open("rb"), content_type="application/octet-stream")
    response["Cache-Control"] = "no-cache"
    return response


def _etag(path_of):
    def etag(request: HttpRequest) -> str | None:
        path = path_of()
        return file_version(path) if path.is_file() else None

    return etag


@require_GET
@condition(etag_func=_etag(model_onnx_path))
def ondevice_model(request: HttpRequest) -> FileResponse:
    """The served model's ONNX file, as exported."""
    if not ondevice_status().available:
        raise Http404("On-device analysis is unavailable.")
    return _served_file(model_onnx_path())


@require_GET
@condition(etag_func=_etag(detector_onnx_path))
def ondevice_detector(request: HttpRequest) -> FileResponse:
    """The RetinaFace MobileNet-0.25 ONNX file the server's detector loads, as it is."""
    if not ondevice_status().available:
        raise Http404("On-device analysis is unavailable.")
    return _served_file(detector_onnx_path())
