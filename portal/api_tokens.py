"""API tokens: shown once at creation, stored only as SHA-256, expiring, revocable.

A token belongs to an active staff member, expires (90 days unless chosen
otherwise), may be read-only (for integrations that must not start fetches) and
has its own request budget per fixed window (``API_TOKEN_RATE_LIMIT``), counted
in the default cache, which never evicts a live counter (``portal/cache.py``).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from portal.audit import audit_record
from portal.models import API_TOKEN_DEFAULT_DAYS, ApiToken, User
from portal.throttle import throttle_hit

API_TOKEN_MAX_DAYS = 366


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_create(
    *,
    user: User,
    name: str = "",
    days: int = API_TOKEN_DEFAULT_DAYS,
    read_only: bool = False,
) -> tuple[ApiToken, str]:
    """Create a token for an active staff member; returns (row, raw token to show once)."""
    if not (user.is_active and user.is_staff):
        raise ValueError("API tokens are for active staff members only.")
    if not 1 <= days <= API_TOKEN_MAX_DAYS:
        raise ValueError(f"A token lasts between 1 and {API_TOKEN_MAX_DAYS} days.")
    raw = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        token_hash=_digest(raw),
        prefix=raw[:8],
        expires_at=timezone.now() + timedelta(days=days),
        read_only=read_only,
    )
    audit_record(
        action="api_token.created",
        target=token,
        actor=user,
        details={"days": days, "read_only": read_only},
    )
    return token, raw


def api_token_resolve(raw: str) -> ApiToken | None:
    """The usable token for a bearer value (its ``user`` loaded), or None.

    None for unknown, revoked or expired tokens and for tokens whose owner is no
    longer active staff. Callers check ``read_only`` before writing.
    """
    if not raw or len(raw) > 200:
        return None
    now = timezone.now()
    # A unique index lookup by digest: no timing signal about other tokens.
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_digest(raw), revoked_at__isnull=True, expires_at__gt=now)
        .first()
    )
    if token is None or not token.user.is_active or not token.user.is_staff:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    token.last_used_at = now
    return token


def api_token_authenticate(raw: str) -> User | None:
    """The staff member behind a bearer token, or None (see ``api_token_resolve``)."""
    token = api_token_resolve(raw)
    return token.user if token is not None else None


def api_token_revoke(*, token: ApiToken, actor: User) -> bool:
    """Revoke ``token`` for good; False (and nothing recorded) if it already was."""
    now = timezone.now()
    if not ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now):
        token.refresh_from_db(fields=["revoked_at"])
        return False
    token.revoked_at = now
    audit_record(action="api_token.revoked", target=token, actor=actor)
    return True


def api_token_throttle(token: ApiToken) -> int:
    """Count one API call for ``token``: 0 if it may proceed, else seconds to wait.

    ``settings.API_TOKEN_RATE_LIMIT`` calls per fixed window (e.g. ``"120/m"``),
    shared by every process (``portal.throttle``). Answer a non-zero result with 429
    and ``Retry-After``.
    """
    return throttle_hit(f"api-token:{token.pk}", getattr(settings, "API_TOKEN_RATE_LIMIT", ""))
