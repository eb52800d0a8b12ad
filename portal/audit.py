"""The one way to write the audit trail."""

from __future__ import annotations

from typing import Any

from django.db import models

from portal.models import AuditEvent, User

# Keys that must never be written into an audit event's details.
_FORBIDDEN_DETAIL_KEYS = {"email", "token", "access_token", "refresh_token", "secret", "code"}


def audit_record(
    *,
    action: str,
    target: models.Model,
    actor: User | None = None,
    actor_type: str | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record an action on ``target``; details are identifiers and counts only."""
    details = dict(details or {})
    bad = _FORBIDDEN_DETAIL_KEYS.intersection(details)
    if bad:
        raise ValueError(f"Audit details must not hold {sorted(bad)}.")
    if actor_type is None:
        actor_type = AuditEvent.ActorType.STAFF if actor else AuditEvent.ActorType.SYSTEM
    return AuditEvent.objects.create(
        actor=actor,
        actor_type=actor_type,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        reason=reason,
        details=details,
    )


def audit_events_for(target: models.Model) -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        target_type=target._meta.label_lower, target_id=str(target.pk)
    ).select_related("actor")
