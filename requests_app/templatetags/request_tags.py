"""Template tags about privacy requests: deadline badges.

Fetch progress is worded in ``requests_app/presenters.py``.

Load with ``{% load request_tags %}``; the shared badge template comes from ``portal``.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from requests_app.services.due_dates import days_left

register = template.Library()


def days_left_info(privacy_request: Any) -> dict[str, Any]:
    """Label, style and urgency of a request's deadline, for badges and row highlights."""
    if not privacy_request.is_open:
        return {"label": "Closed", "css": "text-bg-light border", "state": "closed"}
    left = days_left(due_at=privacy_request.due_at)
    if left < 0:
        overdue = -left
        label = f"Overdue by {overdue} day{'s' if overdue != 1 else ''}"
        return {"label": label, "css": "text-bg-danger", "state": "overdue", "days": left}
    if left == 0:
        return {"label": "Due today", "css": "text-bg-warning", "state": "at_risk", "days": 0}
    label = f"{left} day{'s' if left != 1 else ''} left"
    if left <= settings.DUE_SOON_DAYS:
        return {"label": label, "css": "text-bg-warning", "state": "at_risk", "days": left}
    return {"label": label, "css": "text-bg-light border", "state": "ok", "days": left}


@register.inclusion_tag("portal/_badge.html")
def days_left_badge(privacy_request: Any) -> dict[str, str]:
    return days_left_info(privacy_request)


@register.filter
def due_state(privacy_request: Any) -> str:
    """``overdue``, ``at_risk``, ``ok`` or ``closed``: for row highlighting."""
    return days_left_info(privacy_request)["state"]
