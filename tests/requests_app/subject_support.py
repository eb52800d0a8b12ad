"""Helpers for the data subject tests: mailed links and codes, committed callbacks."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core import mail

LINK = re.compile(r"https?://[^\s\"'<>]+/privacy/(verify|status|download)/\?token=([A-Za-z0-9_-]+)")
CODE = re.compile(r"\b(\d{6})\b")


def mailed_links(message=None) -> dict[str, str]:
    """purpose -> local URL (path and query) of the links in a message (default: the last)."""
    message = message or mail.outbox[-1]
    found = {}
    for match in LINK.finditer(message.body):
        parts = urlsplit(match.group(0))
        found[match.group(1)] = f"{parts.path}?{parts.query}"
    return found


def mailed_code(message=None) -> str:
    message = message or mail.outbox[-1]
    return CODE.search(message.body).group(1)


def tokens_in_outbox() -> list[str]:
    return [m.group(2) for msg in mail.outbox for m in LINK.finditer(msg.body)]


def form_data(**overrides) -> dict:
    return {
        "request_type": "access",
        "email": "subject@example.com",
        "name": "Sam Subject",
        "regulation": "gdpr",
        "message": "",
        "website": "",
        **overrides,
    }
