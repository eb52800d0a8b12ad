"""The subject side of a request on the staff page: verification, delivery, emails.

Load with ``{% load subject_tags %}``; ``{% subject_panel privacy_request as panel %}``.
Never exposes a token or code: only link states, dates and counts.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from requests_app.models import OutboundEmail, PrivacyRequest, SubjectLink, SubjectMessage
from requests_app.services.delivery import download_link_state
from requests_app.services.notifications import EMAILS
from requests_app.services.subject_links import link_is_live

register = template.Library()
EMAILS_SHOWN = 20


@register.simple_tag
def subject_panel(privacy_request: PrivacyRequest) -> dict[str, Any]:
    now = timezone.now()
    link = download_link_state(privacy_request)
    verify_link = (
        privacy_request.subject_links.filter(purpose=SubjectLink.Purpose.VERIFY)
        .order_by("-created_at")
        .first()
    )
    emails = list(OutboundEmail.objects.filter(request=privacy_request)[:EMAILS_SHOWN])
    message = SubjectMessage.objects.filter(request=privacy_request).first()
    return {
        "download_link": link,
        "download_live": bool(link and link_is_live(link, now)),
        "downloads_left": max(link.max_downloads - link.download_count, 0) if link else 0,
        "verify_link": verify_link,
        "verify_live": bool(verify_link and link_is_live(verify_link, now)),
        "emails": emails,
        "email_labels": {key: spec.label for key, spec in EMAILS.items()},
        "message": message,
    }


@register.filter
def email_label(key: str, labels: dict[str, str]) -> str:
    return labels.get(key, key)
