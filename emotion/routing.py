"""Websocket routes of the emotion app."""

from django.urls import path

from emotion.consumers import MoodConsumer

#: Where the page opens its socket (README.md, "The websocket protocol").
MOOD_SOCKET_PATH = "ws/mood/"

websocket_urlpatterns = [path(MOOD_SOCKET_PATH, MoodConsumer.as_asgi())]
