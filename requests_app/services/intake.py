"""Creating privacy requests, from whichever door they came in by.

``privacy_request_create`` is the one way in: it validates the input (the staff form
and the JSON API only parse and show its errors), stores the request with its
deadline, flags a likely duplicate, audits, and starts the request's work, all in
one transaction.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from connectors.emails import email_normalize
from portal.audit import audit_record
from portal.models import AuditEvent, User
from requests_app.models import (
    IdempotencyKey,
    IntakeLock,
    PrivacyRequest,
    Regulation,
    RequestType,
)
from requests_app.services.direct_contact import privacy_request_work_start
from requests_app.services.due_dates import due_at_compute

# How long a client's Idempotency-Key (or a staff form's one-time token) replays its request.
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
# Emails hash to this many lock rows; see ``IntakeLock``.
INTAKE_LOCK_SLOTS = 1024

EMAIL_MAX_LENGTH = PrivacyRequest._meta.get_field("subject_email").max_length
NAME_MAX_LENGTH = PrivacyRequest._meta.get_field("subject_name").max_length

_ACTOR_TYPES = {
    PrivacyRequest.Source.STAFF: AuditEvent.ActorType.STAFF,
    PrivacyRequest.Source.PUBLIC_FORM: AuditEvent.ActorType.SUBJECT,
    PrivacyRequest.Source.API: AuditEvent.ActorType.API,
}


def privacy_request_duplicate_find(
    *, email: str, request_type: str, exclude_pk: int | None = None
) -> PrivacyRequest | None:
    """The oldest other open request of the same type for the same (normalised) email.

    Only the same type counts: a deletion request after an access request for the
    same person is a new request, not the same one twice.
    """
    qs = PrivacyRequest.objects.filter(
        subject_email=email, request_type=request_type, status__in=PrivacyRequest.OPEN_STATUSES
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


def _storable(text: str) -> bool:
    """Whether both databases can store ``text``: no NUL, no lone surrogate (not UTF-8)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
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
    elif not _storable(name):
        problems["name"] = "Remove the NUL or unpaired surrogate characters."
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

    The duplicate check runs under a lock on the email's ``IntakeLock`` row, so of
    several identical requests arriving at once all but the first are flagged.

    An access request starts fetching from every API connection and asks every Direct
    Contact connection; a deletion request asks every connection's contact. Tasks and
    emails go out when the transaction commits, so a failure leaves no half-made request.
    A public form's request waits for the subject to confirm the address first.
    """
    data = privacy_request_input_clean(
        request_type=request_type,
        email=email,
        name=name,
        regulation=regulation,
        source=source,
        received_at=received_at,
    )
    # The public form's subject confirms the address first (services/verification.py).
    public = data["source"] == PrivacyRequest.Source.PUBLIC_FORM
    Status = PrivacyRequest.Status
    with transaction.atomic():
        _intake_lock(data["email"])
        if received_at is None:
            # Stamped under the lock, so "received first" is also "checked first".
            data["received_at"] = timezone.now()
        due_at = due_at_compute(regulation=data["regulation"], received_at=data["received_at"])
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
            possible_duplicate_of=privacy_request_duplicate_find(
                email=data["email"], request_type=data["request_type"]
            ),
            status=Status.AWAITING_VERIFICATION if public else Status.PROCESSING,
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
        if not public:
            privacy_request_work_start(privacy_request=privacy_request, actor=created_by)
    return privacy_request


def _intake_lock(email: str) -> None:
    """Hold the email's lock row until the transaction ends.

    PostgreSQL: ``SELECT ... FOR UPDATE`` on the row (inserted first if missing;
    a concurrent insert of the same slot waits for the other transaction). SQLite:
    the insert is a write, which takes the database's single write lock (and the
    IMMEDIATE transactions set in settings take it at BEGIN already).
    """
    digest = hashlib.sha256(email.encode("utf-8", "surrogatepass")).digest()
    slot = int.from_bytes(digest[:4], "big") % INTAKE_LOCK_SLOTS
    IntakeLock.objects.bulk_create([IntakeLock(slot=slot)], ignore_conflicts=True)
    list(IntakeLock.objects.select_for_update().filter(slot=slot))


class IdempotencyKeyReused(Exception):
    """The key was already used, within its lifetime, for a different body."""


def privacy_request_create_once(
    *, key: str, fingerprint: str, created_by: User, **fields: Any
) -> tuple[PrivacyRequest, bool]:
    """``privacy_request_create`` at most once per (user, key): (request, created).

    A repeat with the same ``fingerprint`` returns the request the first call made
    (created False); one with another fingerprint raises ``IdempotencyKeyReused``.
    Concurrent calls with one key wait on its row, so exactly one creates. If the
    creation fails (``ValidationError``), the key is not kept and may be used again.
    Keys lapse after ``IDEMPOTENCY_KEY_TTL``.
    """
    now = timezone.now()
    IdempotencyKey.objects.filter(expires_at__lte=now).delete()
    with transaction.atomic():
        fresh = IdempotencyKey(
            user=created_by, key=key, fingerprint=fingerprint, expires_at=now + IDEMPOTENCY_KEY_TTL
        )
        IdempotencyKey.objects.bulk_create([fresh], ignore_conflicts=True)
        row = IdempotencyKey.objects.select_for_update().get(user=created_by, key=key)
        if row.privacy_request is not None and row.expires_at > now:
            if row.fingerprint != fingerprint:
                raise IdempotencyKeyReused(key)
            return row.privacy_request, False
        privacy_request = privacy_request_create(created_by=created_by, **fields)
        row.privacy_request = privacy_request
        row.fingerprint = fingerprint
        row.created_at = now
        row.expires_at = now + IDEMPOTENCY_KEY_TTL
        row.save()
    return privacy_request, True
