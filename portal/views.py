"""The error pages; the dashboard lives in requests_app (``views/dashboard.py``)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    """Role refusals say which action was refused; other messages are not shown."""
    message = str(exception or "")
    role_message = message if message.startswith("Your role does not allow") else ""
    return render(request, "403.html", {"role_message": role_message}, status=403)


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without context processors: whatever broke must not break this page too."""
    return HttpResponseServerError(loader.get_template("500.html").render({}))


def too_many_requests(request: HttpRequest, exception=None) -> HttpResponse:
    """allauth's rate limits answer with this (``handler429`` in the root urlconf)."""
    return render(request, "429.html", status=429)
