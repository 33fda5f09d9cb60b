"""Websocket routes of the emotion app."""

from django.urls import path

from emotion.consumers import MoodConsumer

websocket_urlpatterns = [path("ws/mood/", MoodConsumer.as_asgi())]
