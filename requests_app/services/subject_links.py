"""Tokens mailed to data subjects, and the rate limits of the public pages.

A token is 32 random bytes (256 bits), URL-safe; only its SHA-256 is stored
(``SubjectLink.token_hash``) and a presented token is compared with the stored hash
in constant time. Tokens travel in a query string (``?token=``) of the one URL the
email names: the access log redacts query values (``portal/log_filters.py``) and
the page immediately redirects to a token-free address, so the token appears in no
other page's URL, referrer or log line.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from django.conf import settings
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac

from portal import throttle
from requests_app.models import PrivacyRequest, Report, SubjectLink

TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_URL_NAMES = {
    SubjectLink.Purpose.VERIFY: "privacy:verify",
    SubjectLink.Purpose.STATUS: "privacy:status",
    SubjectLink.Purpose.DOWNLOAD: "privacy:download",
}


def token_hash(token: str) -> str:
    """SHA-256 hex of a token: what the database keeps."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def link_create(
    request: PrivacyRequest,
    purpose: str,
    *,
    expires_at: datetime,
    report: Report | None = None,
    max_downloads: int = 0,
) -> tuple[SubjectLink, str]:
    """A new link and its token (the caller puts the token in one email, nowhere else)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = SubjectLink.objects.create(
        request=request,
        purpose=purpose,
        token_hash=token_hash(token),
        report=report,
        expires_at=expires_at,
        max_downloads=max_downloads,
    )
    return link, token


def link_url(purpose: str, token: str) -> str:
    """The absolute address of a link, as mailed (``PORTAL_BASE_URL`` + path + token)."""
    return f"{settings.PORTAL_BASE_URL}{reverse(_URL_NAMES[purpose])}?token={token}"


def _live_filter(now: datetime) -> Q:
    return Q(revoked_at__isnull=True, expires_at__gt=now)


def link_is_live(link: SubjectLink, now: datetime | None = None) -> bool:
    """Not revoked, not expired, not used (verification), not used up (download)."""
    now = now or timezone.now()
    if link.revoked_at is not None or link.expires_at <= now:
        return False
    if link.purpose == SubjectLink.Purpose.VERIFY and link.used_at is not None:
        return False
    if link.purpose == SubjectLink.Purpose.DOWNLOAD:
        if link.download_count >= link.max_downloads:
            return False
        if link.report is None or not link.report.is_current:
            return False
    return True


def link_find(token: str | None, purpose: str) -> SubjectLink | None:
    """The live link of this purpose for ``token``, else None (whatever the reason)."""
    if not token or not _TOKEN_SHAPE.match(token):
        return None
    digest = token_hash(token)
    now = timezone.now()
    link = (
        SubjectLink.objects.select_related("request", "report")
        .filter(_live_filter(now), token_hash=digest, purpose=purpose)
        .first()
    )
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        return None
    return link if link_is_live(link, now) else None


def links_revoke(request: PrivacyRequest, purpose: str) -> int:
    """Revoke every live link of one purpose for a request (a re-issued link replaces them)."""
    return SubjectLink.objects.filter(
        request=request, purpose=purpose, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())


# --- rate limits -------------------------------------------------------------------------


def throttle_hit(scope: str, key: str, rate: str) -> bool:
    """Count one attempt for (scope, key); True once the fixed window's limit is passed.

    Keys (addresses, emails, token hashes) reach the shared counter only as a keyed
    hash (``portal.throttle``).
    """
    hashed = salted_hmac("subject-throttle", f"{scope}:{key}").hexdigest()[:40]
    return bool(throttle.throttle_hit(f"subject:{scope}:{hashed}", rate))
