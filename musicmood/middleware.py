"""Content-Security-Policy on HTML responses: Django 5.2 has no built-in CSP.

The policies are settings (``CSP_POLICY`` for the site, ``CSP_ADMIN_POLICY`` for the Django
admin, ``CSP_REPORT_ONLY``); see ``musicmood/settings.py`` for what each allows and why.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

ENFORCE_HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"
#: The URL ``app_name`` of every Django admin site, whatever the site's own name.
ADMIN_APP_NAME = "admin"


def policy_for(request: HttpRequest) -> str:
    """The policy for ``request``'s page: the admin's for admin views, else the site's."""
    match = getattr(request, "resolver_match", None)
    if match is not None and ADMIN_APP_NAME in match.app_names:
        return settings.CSP_ADMIN_POLICY
    return settings.CSP_POLICY


def policy_header_set(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """Add the policy header to an HTML ``response``; one that has a policy keeps its own.

    An empty policy sends nothing, and with ``DEBUG`` on error pages go without one.
    """
    if not response.get("Content-Type", "").lower().startswith("text/html"):
        return response
    if ENFORCE_HEADER in response or REPORT_ONLY_HEADER in response:
        return response  # a view that chose its own policy keeps it
    if settings.DEBUG and response.status_code >= 400:
        return response  # Django's DEBUG error pages are built of inline styles and scripts
    policy = policy_for(request)
    if policy:
        response[REPORT_ONLY_HEADER if settings.CSP_REPORT_ONLY else ENFORCE_HEADER] = policy
    return response


@sync_and_async_middleware
def content_security_policy_middleware(get_response):
    """Send ``CSP_POLICY`` (or ``CSP_ADMIN_POLICY`` in the admin) with every HTML response."""
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponseBase:
            return policy_header_set(request, await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponseBase:
            return policy_header_set(request, get_response(request))

    return middleware
