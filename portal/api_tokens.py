"""API tokens: shown once at creation, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from django.utils import timezone

from portal.audit import audit_record
from portal.models import ApiToken, User


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_create(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create a token for an active staff member; returns (row, raw token to show once)."""
    if not (user.is_active and user.is_staff):
        raise ValueError("API tokens are for active staff members only.")
    raw = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, token_hash=_digest(raw), prefix=raw[:8])
    audit_record(action="api_token.created", target=token, actor=user)
    return token, raw


def api_token_authenticate(raw: str) -> User | None:
    """The staff member behind a bearer token, or None (unknown, revoked, not staff)."""
    if not raw or len(raw) > 200:
        return None
    # A unique index lookup by digest: no timing signal about other tokens.
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_digest(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active or not token.user.is_staff:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


def api_token_revoke(*, token: ApiToken, actor: User) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(action="api_token.revoked", target=token, actor=actor)
