"""The one way to write the audit trail."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import models
from django.utils import timezone

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


# Where the request and connection of an event are: the event's own target, or the
# ``request_id`` / ``connection_id`` its details carry (a fetch names both).
_REQUEST_TARGET = "requests_app.privacyrequest"
_CONNECTION_TARGET = "connectors.connection"


def audit_event_list(
    *,
    request_id: int | None = None,
    connection_id: int | None = None,
    actor_id: int | None = None,
    action: str = "",
    since: date | None = None,
    until: date | None = None,
) -> models.QuerySet[AuditEvent]:
    """Audit events matching the audit log's filters, newest first.

    ``request_id`` and ``connection_id`` match events about that request or connection
    and events about a fetch of it; ``since`` and ``until`` are whole days, inclusive,
    in the portal's time zone.
    """
    qs = AuditEvent.objects.select_related("actor")
    if request_id is not None:
        qs = qs.filter(
            models.Q(target_type=_REQUEST_TARGET, target_id=str(request_id))
            | models.Q(details__request_id=request_id)
        )
    if connection_id is not None:
        qs = qs.filter(
            models.Q(target_type=_CONNECTION_TARGET, target_id=str(connection_id))
            | models.Q(details__connection_id=connection_id)
        )
    if actor_id is not None:
        qs = qs.filter(actor_id=actor_id)
    if action:
        qs = qs.filter(action=action)
    if since is not None:
        qs = qs.filter(created_at__gte=_day_start(since))
    if until is not None:
        qs = qs.filter(created_at__lt=_day_start(until + timedelta(days=1)))
    return qs.order_by("-created_at", "-id")


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
