"""When a privacy request is due, and its one permitted extension.

Deadlines are whole days in the configured time zone (``TIME_ZONE``): a request
due on 28 February may be answered until the end of 28 February there. GDPR
counts calendar months (Art. 12(3): one month, extendable by two more), clamping
to the last day of a shorter month; CCPA counts 45 days, extendable once by 45.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from connectors.dates import add_months
from portal.audit import audit_record
from portal.models import User
from requests_app.models import PrivacyRequest, Regulation
from requests_app.services.notifications import notify_after_commit, notify_extension

CCPA_DUE_DAYS = 45
CCPA_EXTENSION_DAYS = 45
GDPR_DUE_MONTHS = 1
GDPR_EXTENSION_MONTHS = 2


@dataclass(frozen=True)
class DueRule:
    """How long a regulation allows, as calendar months or as days."""

    months: int = 0
    days: int = 0

    def apply(self, start: date) -> date:
        return add_months(start, self.months) + timedelta(days=self.days)


def due_rule(regulation: str) -> DueRule:
    if regulation == Regulation.GDPR:
        return DueRule(months=GDPR_DUE_MONTHS)
    if regulation == Regulation.CCPA:
        return DueRule(days=CCPA_DUE_DAYS)
    if regulation == Regulation.OTHER:
        return DueRule(days=settings.OTHER_REGULATION_DUE_DAYS)
    raise ValidationError({"regulation": f"Unknown regulation {regulation!r}."})


def extension_rule(regulation: str) -> DueRule:
    if regulation == Regulation.GDPR:
        return DueRule(months=GDPR_EXTENSION_MONTHS)
    if regulation == Regulation.CCPA:
        return DueRule(days=CCPA_EXTENSION_DAYS)
    if regulation == Regulation.OTHER:
        return DueRule(days=settings.OTHER_REGULATION_EXTENSION_DAYS)
    raise ValidationError({"regulation": f"Unknown regulation {regulation!r}."})


def local_date(value: datetime) -> date:
    """The calendar date of ``value`` in the configured time zone."""
    return timezone.localtime(value, timezone.get_default_timezone()).date()


def end_of_local_day(day: date) -> datetime:
    """The last instant of ``day`` in the configured time zone."""
    return timezone.make_aware(datetime.combine(day, time.max), timezone.get_default_timezone())


def due_at_compute(*, regulation: str, received_at: datetime) -> datetime:
    """The deadline for a request received at ``received_at`` (end of the due day)."""
    return end_of_local_day(due_rule(regulation).apply(local_date(received_at)))


def extended_due_at_compute(*, regulation: str, original_due_at: datetime) -> datetime:
    """The deadline after the one extension, counted from the original due date."""
    return end_of_local_day(extension_rule(regulation).apply(local_date(original_due_at)))


def days_left(*, due_at: datetime, now: datetime | None = None) -> int:
    """Whole days until the due date in the configured time zone; negative when overdue."""
    return (local_date(due_at) - local_date(now or timezone.now())).days


def is_overdue(*, due_at: datetime, now: datetime | None = None) -> bool:
    return due_at < (now or timezone.now())


def due_soon_cutoff(*, now: datetime | None = None) -> datetime:
    """Requests due before this instant count as "due soon" (``DUE_SOON_DAYS``)."""
    today = local_date(now or timezone.now())
    return end_of_local_day(today + timedelta(days=settings.DUE_SOON_DAYS))


def privacy_request_extend(
    *, privacy_request: PrivacyRequest, reason: str, actor: User | None
) -> PrivacyRequest:
    """Extend the deadline once, with a reason, and audit it.

    The subject's extension notice (new due date and reason) is mailed once the
    transaction commits; a failed email never undoes the extension.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason for the extension."})
    with transaction.atomic():
        locked = PrivacyRequest.objects.select_for_update(no_key=True).get(pk=privacy_request.pk)
        if locked.extended_at is not None:
            raise ValidationError(
                "This request was already extended once; a second extension is not allowed."
            )
        if not locked.is_open:
            raise ValidationError("Only open requests can be extended.")
        previous_due_at = locked.due_at
        locked.due_at = extended_due_at_compute(
            regulation=locked.regulation, original_due_at=locked.original_due_at
        )
        locked.extended_at = timezone.now()
        locked.extension_reason = reason
        locked.full_clean()
        locked.save(update_fields=["due_at", "extended_at", "extension_reason"])
        audit_record(
            action="request.extended",
            target=locked,
            actor=actor,
            reason=reason,
            details={
                "previous_due_at": previous_due_at.isoformat(),
                "due_at": locked.due_at.isoformat(),
            },
        )
        notify_after_commit(notify_extension, locked.pk)
    return locked
