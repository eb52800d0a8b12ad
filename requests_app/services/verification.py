"""Email verification of data subjects, staff identity checks, and the purge of the unconfirmed.

A request from the public form waits in "awaiting verification" and nothing is
fetched until the subject opens the link mailed to them (single use, expires after
``SUBJECT_VERIFY_LINK_HOURS``). Confirming moves it to processing and starts the
fetch of an access request. Staff may instead record that they verified the
person's identity (and how), or mail the verification link for a request that came
in by staff or API. Requests never confirmed are cancelled and purged after
``SUBJECT_UNVERIFIED_PURGE_DAYS`` by the retention purge (``services/retention.py``),
the one path that removes a request's personal data.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from portal.audit import audit_record
from portal.models import AuditEvent, User
from portal.roles import require_role
from requests_app.models import (
    OutboundEmail,
    PrivacyRequest,
    SubjectLink,
)
from requests_app.services import notifications
from requests_app.services.direct_contact import privacy_request_work_start
from requests_app.services.fetching import privacy_request_status_set
from requests_app.services.subject_links import link_create, link_find, link_url, links_revoke

METHOD_MAX = 500
EMAIL_LINK_METHOD = "Confirmed the email address through the verification link"


def verification_send(
    privacy_request: PrivacyRequest, *, actor: User | None = None
) -> OutboundEmail:
    """Mail a new verification link (earlier unused ones stop working); audited."""
    if actor is not None:
        require_role(actor, "review")
    with transaction.atomic():
        locked = PrivacyRequest.objects.select_for_update(no_key=True).get(pk=privacy_request.pk)
        if not locked.is_open:
            raise ValidationError("Only an open request can be verified.")
        if locked.verified_at is not None:
            raise ValidationError("This request is already verified.")
        links_revoke(locked, SubjectLink.Purpose.VERIFY)
        expires_at = timezone.now() + timedelta(hours=settings.SUBJECT_VERIFY_LINK_HOURS)
        link, token = link_create(locked, SubjectLink.Purpose.VERIFY, expires_at=expires_at)
        audit_record(
            action="request.verification_sent",
            target=locked,
            actor=actor,
            actor_type=None if actor else AuditEvent.ActorType.SYSTEM,
            details={"link_id": link.pk, "expires_at": expires_at.isoformat()},
        )
        return notifications.notify_verify(
            locked, verify_url=link_url(SubjectLink.Purpose.VERIFY, token), expires_at=expires_at
        )


def privacy_request_verify(
    privacy_request: PrivacyRequest, *, method: str, actor: User | None = None
) -> PrivacyRequest:
    """Record that the subject is verified (how); a waiting request starts processing.

    ``actor`` None means the subject confirmed through the link. An access request
    that was awaiting verification starts its fetch; one already processing (staff
    or API requests) only gains the verification record. The "received" email goes
    to public-form subjects once the transaction commits.
    """
    if actor is not None:
        require_role(actor, "review")
    method = (method or "").strip()
    if not method:
        raise ValidationError({"method": "Say how the identity was verified."})
    if len(method) > METHOD_MAX:
        raise ValidationError({"method": f"Use at most {METHOD_MAX} characters."})
    with transaction.atomic():
        locked = PrivacyRequest.objects.select_for_update(no_key=True).get(pk=privacy_request.pk)
        if locked.verified_at is not None:
            raise ValidationError("This request is already verified.")
        if not locked.is_open:
            raise ValidationError("Only an open request can be verified.")
        locked.verified_at = timezone.now()
        locked.save(update_fields=["verified_at"])
        links_revoke(locked, SubjectLink.Purpose.VERIFY)
        audit_record(
            action="request.verified",
            target=locked,
            actor=actor,
            actor_type=AuditEvent.ActorType.SUBJECT if actor is None else None,
            reason=method,
        )
        if locked.status == PrivacyRequest.Status.AWAITING_VERIFICATION:
            privacy_request_status_set(locked, PrivacyRequest.Status.PROCESSING, actor=actor)
            privacy_request_work_start(privacy_request=locked, actor=actor)
            if locked.source == PrivacyRequest.Source.PUBLIC_FORM:
                notifications.notify_after_commit(notifications.notify_received, locked.pk)
    locked.refresh_from_db()
    return locked


def verification_confirm(token: str | None) -> PrivacyRequest | None:
    """The subject opened a live verification link: verify (single use); else None."""
    link = link_find(token, SubjectLink.Purpose.VERIFY)
    if link is None:
        return None
    return verification_confirm_link(link.pk)


def verification_confirm_link(link_id: int) -> PrivacyRequest | None:
    """Use one verification link by id (the page keeps the id, never the token)."""
    with transaction.atomic():
        link = (
            SubjectLink.objects.select_for_update()
            .filter(pk=link_id, purpose=SubjectLink.Purpose.VERIFY)
            .first()
        )
        now = timezone.now()
        if link is None or link.used_at or link.revoked_at or link.expires_at <= now:
            return None
        link.used_at = now
        link.save(update_fields=["used_at"])
        try:
            return privacy_request_verify(link.request, method=EMAIL_LINK_METHOD)
        except ValidationError:
            return None
