"""HTTP endpoints for the player: feedback on a mapping and a manual mood override."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from ml.labels import MOODS
from playlists.listener import listener_cookie_set, listener_key, listener_key_new
from playlists.models import MoodMapping
from playlists.services import UnknownFeedback, mapping_feedback, playlist_for_mood


@csrf_protect
@require_POST
def feedback(request: HttpRequest) -> JsonResponse:
    """POST mapping=<id>&action=skip|like|not_my_mood: counts it; answers the new counts."""
    try:
        mapping_id = int(request.POST.get("mapping", ""))
    except ValueError:
        return JsonResponse({"error": "mapping must be a mapping id (a whole number)."}, status=400)
    try:
        counts = mapping_feedback(mapping_id=mapping_id, action=request.POST.get("action", ""))
    except UnknownFeedback as err:
        return JsonResponse({"error": str(err)}, status=400)
    except MoodMapping.DoesNotExist:
        return JsonResponse({"error": f"No mood mapping with id {mapping_id}."}, status=404)
    return JsonResponse({"mapping": mapping_id, **counts})


@csrf_protect
@require_http_methods(["GET", "POST"])
def mood_override(request: HttpRequest) -> JsonResponse:
    """GET or POST mood=<mood>: the playlist message for a mood the listener chose."""
    params = request.POST if request.method == "POST" else request.GET
    mood = params.get("mood", "")
    if mood not in MOODS:
        return JsonResponse(
            {"error": f"mood must be one of {', '.join(MOODS)}; got {mood!r}."}, status=400
        )
    key = listener_key(request)
    new_key = None if key else listener_key_new()
    choice = playlist_for_mood(
        mood=mood,
        age_band=params.get("age_band") or None,
        gender=params.get("gender") or None,
        session_key=key or new_key,
        manual=True,
    )
    response = JsonResponse(choice.to_message())
    if new_key:
        listener_cookie_set(response, new_key)
    return response
