"""Security headers a browser receives: Content-Security-Policy, HSTS and the https redirect."""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser

import pytest

from musicmood.middleware import ENFORCE_HEADER, REPORT_ONLY_HEADER
from tests.probe import python_probe


def directives(policy: str) -> dict[str, list[str]]:
    """A policy header as {directive: [sources]}."""
    parsed = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


class InlineCode(HTMLParser):
    """Collects what a strict policy would block in a page: inline scripts, styles, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src"):
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style> element")
        self.found += [f'<{tag} {name}="...">' for name in names if name == "style"]
        self.found += [f"<{tag} {name}=...> handler" for name in names if name.startswith("on")]
        self.found += [
            f"<{tag} {name}> javascript: URL"
            for name, value in attrs
            if (value or "").strip().lower().startswith("javascript:")
        ]


def test_the_page_sends_a_strict_content_security_policy(client):
    response = client.get("/")
    assert response.status_code == 200
    policy = directives(response[ENFORCE_HEADER])
    assert policy["default-src"] == ["'self'"]
    # Its own scripts, and compiling WebAssembly (on-device analysis); never JavaScript eval.
    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]  # fetch and the /ws/mood/ socket, same host
    assert policy["img-src"] == ["'self'", "blob:", "https://i.scdn.co"]
    assert policy["media-src"] == ["'self'", "blob:"]
    assert policy["frame-src"] == ["https://open.spotify.com"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in response[ENFORCE_HEADER].replace("'wasm-unsafe-eval'", "")


def test_the_page_has_nothing_inline_that_its_policy_would_block(client):
    parser = InlineCode()
    parser.feed(client.get("/").content.decode())
    assert parser.found == []


@pytest.mark.django_db
def test_the_admin_login_page_renders_under_the_admin_policy(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b'value="Log in"' in response.content
    policy = directives(response[ENFORCE_HEADER])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_the_mood_mapping_admin_pages_render_under_the_admin_policy(admin_client):
    for url in ("/admin/", "/admin/playlists/moodmapping/", "/admin/playlists/moodmapping/add/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        policy = directives(response[ENFORCE_HEADER])
        assert policy["script-src"] == ["'self'"], url
        assert policy["frame-src"] == ["https://open.spotify.com"], url  # mapping previews
        assert policy["img-src"] == ["'self'", "https://i.scdn.co"], url


def test_a_static_file_is_sent_without_a_policy(client):
    response = client.get("/static/js/app.js")
    assert response.status_code == 200
    assert ENFORCE_HEADER not in response


def test_an_empty_policy_sends_no_policy_header(client, settings):
    settings.CSP_POLICY = ""
    response = client.get("/")
    assert ENFORCE_HEADER not in response
    assert REPORT_ONLY_HEADER not in response


def test_report_only_mode_sends_the_policy_under_the_report_only_header(client, settings):
    settings.CSP_REPORT_ONLY = True
    response = client.get("/")
    assert ENFORCE_HEADER not in response
    assert response[REPORT_ONLY_HEADER] == settings.CSP_POLICY


def test_a_secure_request_gets_hsts_when_hsts_seconds_is_set(client, settings):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    response = client.get("/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_no_hsts_is_sent_by_default_or_over_plain_http(client, settings):
    assert "Strict-Transport-Security" not in client.get("/", secure=True)
    settings.SECURE_HSTS_SECONDS = 31536000
    assert "Strict-Transport-Security" not in client.get("/")


def test_ssl_redirect_sends_plain_http_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/?from=mail")
    assert response.status_code == 301
    assert response["Location"] == "https://testserver/?from=mail"


def test_the_page_says_nosniff_and_same_origin_referrer(client):
    response = client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


SECURITY_SETTINGS = (
    "SECURE_HSTS_SECONDS SECURE_HSTS_INCLUDE_SUBDOMAINS SECURE_HSTS_PRELOAD SECURE_SSL_REDIRECT "
    "CSP_POLICY CSP_ADMIN_POLICY CSP_REPORT_ONLY"
).split()


def settings_with(**environ: str) -> dict[str, object]:
    """The security settings that ``musicmood.settings`` reads with ``environ`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(MUSICMOOD_DEV="1", **environ)
    code = (
        "import json, musicmood.settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {SECURITY_SETTINGS!r}}}))"
    )
    return json.loads(python_probe(code, env=env))


def test_the_security_settings_are_off_by_default_and_read_from_the_environment():
    default = settings_with()
    assert default["SECURE_HSTS_SECONDS"] == 0
    assert not default["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and not default["SECURE_HSTS_PRELOAD"]
    assert not default["SECURE_SSL_REDIRECT"] and not default["CSP_REPORT_ONLY"]
    assert "script-src 'self'" in default["CSP_POLICY"]
    assert "'unsafe-inline'" in default["CSP_ADMIN_POLICY"]

    configured = settings_with(
        DJANGO_HSTS_SECONDS="3600",
        DJANGO_HSTS_INCLUDE_SUBDOMAINS="1",
        DJANGO_HSTS_PRELOAD="true",
        DJANGO_SSL_REDIRECT="yes",
        DJANGO_CSP="default-src 'self'; report-uri /csp/",
        DJANGO_CSP_REPORT_ONLY="1",
    )
    expected = {
        "SECURE_HSTS_SECONDS": 3600,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_SSL_REDIRECT": True,
        "CSP_POLICY": "default-src 'self'; report-uri /csp/",
        "CSP_ADMIN_POLICY": default["CSP_ADMIN_POLICY"],
        "CSP_REPORT_ONLY": True,
    }
    assert {name: configured[name] for name in expected} == expected


def test_an_empty_django_csp_switches_off_both_policies():
    switched_off = settings_with(DJANGO_CSP="")
    assert switched_off["CSP_POLICY"] == ""
    assert switched_off["CSP_ADMIN_POLICY"] == ""


def test_a_debug_error_page_is_sent_without_a_policy_so_it_stays_readable(client, settings):
    settings.DEBUG = True
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"<style" in response.content  # Django's technical 404 page
    assert ENFORCE_HEADER not in response
    settings.DEBUG = False
    assert ENFORCE_HEADER in client.get("/no-such-page/")
