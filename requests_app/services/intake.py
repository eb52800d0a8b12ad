"""Creating privacy requests, from whichever door they came in by."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.audit import audit_record
from portal.models import AuditEvent, User
from requests_app.models import PrivacyRequest
from requests_app.services.due_dates import due_at_compute

_ACTOR_TYPES = {
    PrivacyRequest.Source.STAFF: AuditEvent.ActorType.STAFF,
    PrivacyRequest.Source.PUBLIC_FORM: AuditEvent.ActorType.SUBJECT,
    PrivacyRequest.Source.API: AuditEvent.ActorType.API,
}


def email_normalise(email: str) -> str:
    """Trimmed and lower-cased, so duplicates and look-ups match however it was typed."""
    return (email or "").strip().lower()


def duplicate_find(*, email: str, exclude_pk: int | None = None) -> PrivacyRequest | None:
    """The oldest other open request for the same subject email, if any."""
    qs = PrivacyRequest.objects.filter(
        subject_email=email, status__in=PrivacyRequest.OPEN_STATUSES
    ).order_by("received_at", "id")
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.first()


def request_create(
    *,
    request_type: str,
    email: str,
    name: str,
    regulation: str,
    source: str,
    received_at: datetime | None = None,
    created_by: User | None = None,
) -> PrivacyRequest:
    """Validate and store a new request with its deadline; flag a likely duplicate.

    Fetching is not started here: the caller decides when, by calling
    ``requests_app.services.fetching.fetch_start`` (at once for staff and API
    access requests; after email verification for the public form).
    """
    received_at = received_at or timezone.now()
    email = email_normalise(email)
    name = (name or "").strip()
    if received_at > timezone.now():
        raise ValidationError({"received_at": "The receipt time cannot be in the future."})
    try:
        due_at = due_at_compute(regulation=regulation, received_at=received_at)
    except ValidationError:
        # Let full_clean report the bad choice alongside any other problems.
        due_at = received_at
    with transaction.atomic():
        privacy_request = PrivacyRequest(
            request_type=request_type,
            subject_email=email,
            subject_name=name,
            regulation=regulation,
            source=source,
            received_at=received_at,
            original_due_at=due_at,
            due_at=due_at,
            created_by=created_by,
            possible_duplicate_of=duplicate_find(email=email) if email else None,
        )
        privacy_request.full_clean()
        privacy_request.save()
        audit_record(
            action="request.created",
            target=privacy_request,
            actor=created_by,
            actor_type=_ACTOR_TYPES.get(source),
            details={
                "request_type": privacy_request.request_type,
                "regulation": privacy_request.regulation,
                "source": privacy_request.source,
                "possible_duplicate_of": privacy_request.possible_duplicate_of_id,
            },
        )
    return privacy_request
