"""Listening sessions live in a signed cookie: anonymous visits write no session rows."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session

from playlists.listener import (
    LISTENER_COOKIE,
    listener_key_from_cookies,
    listener_key_new,
)

pytestmark = pytest.mark.django_db


def test_a_hundred_cookie_less_visits_of_the_page_add_no_session_rows(client):
    before = Session.objects.count()
    for _ in range(100):
        client.cookies.clear()
        response = client.get("/")
        assert response.status_code == 200
        assert LISTENER_COOKIE in response.cookies
    assert Session.objects.count() == before


def test_choosing_a_mood_by_hand_adds_no_session_row_either(client):
    before = Session.objects.count()
    for _ in range(20):
        client.cookies.clear()
        assert client.get("/playlists/mood/", {"mood": "happy"}).status_code == 200
    assert Session.objects.count() == before


def test_the_page_keeps_the_listener_key_it_gave_and_the_socket_can_read_it(client):
    first = client.get("/").cookies[LISTENER_COOKIE].value
    again = client.get("/")
    assert LISTENER_COOKIE not in again.cookies  # already set: not renewed on every visit
    key = listener_key_from_cookies({LISTENER_COOKIE: first})
    assert key and len(key) >= 20


def test_a_forged_or_foreign_listener_cookie_is_ignored(client):
    assert listener_key_from_cookies({LISTENER_COOKIE: listener_key_new()}) is None
    assert listener_key_from_cookies({LISTENER_COOKIE: "abc:def"}) is None
    assert listener_key_from_cookies({}) is None
    client.cookies[LISTENER_COOKIE] = "forged"
    assert LISTENER_COOKIE in client.get("/").cookies  # replaced by a valid one
