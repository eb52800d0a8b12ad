"""Creating privacy requests, from whichever door they came in by.

``privacy_request_create`` is the one way in: it validates the input (the staff form
and the JSON API only parse and show its errors), stores the request with its
deadline, flags a likely duplicate, audits, and starts the request's work, all in
one transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from connectors.emails import email_normalize
from portal.audit import audit_record
from portal.models import AuditEvent, User
from requests_app.models import PrivacyRequest, Regulation, RequestType
from requests_app.services.direct_contact import privacy_request_work_start
from requests_app.services.due_dates import due_at_compute

EMAIL_MAX_LENGTH = PrivacyRequest._meta.get_field("subject_email").max_length
NAME_MAX_LENGTH = PrivacyRequest._meta.get_field("subject_name").max_length

_ACTOR_TYPES = {
    PrivacyRequest.Source.STAFF: AuditEvent.ActorType.STAFF,
    PrivacyRequest.Source.PUBLIC_FORM: AuditEvent.ActorType.SUBJECT,
    PrivacyRequest.Source.API: AuditEvent.ActorType.API,
}


def privacy_request_duplicate_find(
    *, email: str, exclude_pk: int | None = None
) -> PrivacyRequest | None:
    """The oldest other open request for the same (normalised) subject email, if any."""
    qs = PrivacyRequest.objects.filter(
        subject_email=email, status__in=PrivacyRequest.OPEN_STATUSES
    ).order_by("received_at", "id")
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.first()


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _choice_error(choices: list[str]) -> str:
    return f"Select a valid choice. One of: {', '.join(choices)}."


def privacy_request_input_clean(
    *,
    request_type: Any,
    email: Any,
    name: Any,
    regulation: Any,
    source: Any,
    received_at: datetime | None,
) -> dict[str, Any]:
    """The one validator of a new request's input; errors are keyed by these names.

    Returns the cleaned values (normalised email, trimmed name, receipt time defaulting
    to now) or raises ``ValidationError`` naming every field that is wrong.
    """
    problems: dict[str, str] = {}
    if request_type not in RequestType.values:
        problems["request_type"] = _choice_error(RequestType.values)
    if regulation not in Regulation.values:
        problems["regulation"] = _choice_error(Regulation.values)
    if source not in PrivacyRequest.Source.values:
        problems["source"] = _choice_error(PrivacyRequest.Source.values)
    email = email_normalize(email)
    if not email:
        problems["email"] = "An email address is required."
    elif len(email) > EMAIL_MAX_LENGTH or not _is_email(email):
        problems["email"] = "Enter a valid email address."
    if name is None:
        name = ""
    if not isinstance(name, str):
        problems["name"] = "Must be a string."
    elif len(name.strip()) > NAME_MAX_LENGTH:
        problems["name"] = f"Use at most {NAME_MAX_LENGTH} characters."
    now = timezone.now()
    if received_at is not None and received_at > now:
        problems["received_at"] = "The receipt time cannot be in the future."
    if problems:
        raise ValidationError(problems)
    return {
        "request_type": request_type,
        "email": email,
        "name": name.strip(),
        "regulation": regulation,
        "source": source,
        "received_at": received_at or now,
    }


def privacy_request_create(
    *,
    request_type: str,
    email: str,
    name: str,
    regulation: str,
    source: str,
    received_at: datetime | None = None,
    created_by: User | None = None,
) -> PrivacyRequest:
    """Validate and store a new request, flag a likely duplicate, audit, start its work.

    An access request starts fetching from every API connection and asks every Direct
    Contact connection; a deletion request asks every connection's contact. Tasks and
    emails go out when the transaction commits, so a failure leaves no half-made request.
    (A public form's request will wait for the subject to confirm the address first.)
    """
    data = privacy_request_input_clean(
        request_type=request_type,
        email=email,
        name=name,
        regulation=regulation,
        source=source,
        received_at=received_at,
    )
    due_at = due_at_compute(regulation=data["regulation"], received_at=data["received_at"])
    with transaction.atomic():
        privacy_request = PrivacyRequest.objects.create(
            request_type=data["request_type"],
            subject_email=data["email"],
            subject_name=data["name"],
            regulation=data["regulation"],
            source=data["source"],
            received_at=data["received_at"],
            original_due_at=due_at,
            due_at=due_at,
            created_by=created_by,
            possible_duplicate_of=privacy_request_duplicate_find(email=data["email"]),
        )
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
        privacy_request_work_start(privacy_request=privacy_request, actor=created_by)
    return privacy_request
