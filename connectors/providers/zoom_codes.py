"""Zoom's numeric error codes the code relies on.

See docs/providers.md, 'Zoom: errors and codes'.
"""

from __future__ import annotations

from enum import IntEnum


class ZoomCode(IntEnum):
    """The ``code`` field of a Zoom error body."""

    NO_PERMISSION = 200  # e.g. listing webinars on an account without a webinar plan
    INVALID_TOKEN = 124  # 401: invalid or expired access token
    USER_NOT_FOUND = 1001  # 404: no such user (or, on /phone/users, no Phone licence)
    INVITATION_NOT_FOUND = 1120  # 400: only a pending or expired invitation
    PHONE_NOT_ENABLED = 2031  # 403: the account has no Zoom Phone
    MEETING_HOSTING_NOT_ALLOWED = 3161  # 400: the user may not host or schedule meetings
    SCOPE_MISSING = 4711  # 400: the token lacks a scope the endpoint needs
