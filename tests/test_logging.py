"""What the site's log shows an operator, through the LOGGING configured in settings."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings
from django.test import Client
from django.urls import path


def _boom(request):
    raise RuntimeError("the view broke")


#: A URLconf with a failing view, for the test that other errors keep their traceback.
urlpatterns = [path("boom/", _boom)]


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[str]]]:
    """The lines the configured root logger writes, formatted as the console handler does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]))
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: stream.getvalue().splitlines()
    root.removeHandler(handler)


def test_a_request_for_a_refused_host_logs_one_line_without_a_traceback(client, log_lines):
    response = client.get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    lines = log_lines()
    assert len(lines) == 1, lines  # and nothing from django.request for the 400
    assert lines[0].endswith(
        " WARNING django.security.DisallowedHost: Refused a request for host 'evil.example' "
        "(not a host name DJANGO_ALLOWED_HOSTS allows)"
    )


def test_a_host_that_is_not_a_valid_name_is_refused_in_one_line_too(client, log_lines):
    response = client.get("/", HTTP_HOST="bad_host!")
    assert response.status_code == 400
    assert [line.split(": ", 1)[1] for line in log_lines()] == [
        "Refused a request for host 'bad_host!' (not a host name DJANGO_ALLOWED_HOSTS allows)"
    ]


def test_a_forwarded_host_is_the_one_named_when_forwarded_hosts_are_trusted(
    client, settings, log_lines
):
    settings.USE_X_FORWARDED_HOST = True
    response = client.get("/", HTTP_HOST="localhost", HTTP_X_FORWARDED_HOST="evil.example")
    assert response.status_code == 400
    assert len(log_lines()) == 1
    assert "Refused a request for host 'evil.example'" in log_lines()[0]


def test_a_very_long_host_is_cut_in_the_log(client, log_lines):
    client.get("/", HTTP_HOST="a" * 5000 + ".example")
    (line,) = log_lines()
    assert "'" + "a" * 255 + "...'" in line
    assert len(line) < 400


def test_other_errors_keep_their_traceback(settings, log_lines):
    settings.ROOT_URLCONF = __name__
    response = Client(raise_request_exception=False).get("/boom/")
    assert response.status_code == 500
    text = "\n".join(log_lines())
    assert "ERROR django.request: Internal Server Error: /boom/" in text
    assert "Traceback (most recent call last):" in text
    assert "RuntimeError: the view broke" in text
