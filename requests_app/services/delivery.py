"""Delivering the approved report: the download link, the one-time code, the downloads.

Approval (on commit) issues a link to the current report and mails it (valid
``SUBJECT_DOWNLOAD_LINK_DAYS``, ``SUBJECT_DOWNLOAD_MAX`` downloads). Opening the
link mails a six-digit code (valid ``SUBJECT_CODE_MINUTES``, ``SUBJECT_CODE_TRIES``
wrong tries, then a new one must be asked for), stored as an HMAC with a server
key. The right code lets that browser download; the first download marks the
request delivered. Staff may re-issue the link: the old one stops working. Every
step is audited with ids and counts only (never the token, the code or the address).
"""

from __future__ import annotations

import enum
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from portal import report_storage
from portal.audit import audit_record
from portal.models import AuditEvent, User
from portal.report_storage import DecryptedBlob
from portal.roles import require_role
from requests_app.models import PrivacyRequest, Report, SubjectLink
from requests_app.services import notifications
from requests_app.services.fetching import privacy_request_status_set
from requests_app.services.subject_links import (
    link_create,
    link_is_live,
    link_url,
    links_revoke,
    throttle_hit,
)

logger = logging.getLogger(__name__)
CODE_DIGITS = 6
REISSUABLE_STATUSES = (PrivacyRequest.Status.APPROVED, PrivacyRequest.Status.DELIVERED)
_SUBJECT = AuditEvent.ActorType.SUBJECT


class CodeCheck(enum.Enum):
    """How a code entry went; only ACCEPTED lets the browser download."""

    ACCEPTED = "accepted"
    WRONG = "wrong"
    NEW_CODE_NEEDED = "new_code_needed"


@dataclass(frozen=True)
class CodeOutcome:
    result: CodeCheck
    tries_left: int = 0


def _code_hash(link_id: int, code: str) -> str:
    """HMAC of the code with the server key, bound to its link."""
    return salted_hmac("subject-download-code", f"{link_id}:{code}").hexdigest()


def download_link_issue(report: Report, *, actor: User | None) -> SubjectLink:
    """A new download link to ``report`` mailed to the subject; earlier links stop working."""
    with transaction.atomic():
        request = PrivacyRequest.objects.select_for_update(no_key=True).get(pk=report.request_id)
        revoked = links_revoke(request, SubjectLink.Purpose.DOWNLOAD)
        link, token = link_create(
            request,
            SubjectLink.Purpose.DOWNLOAD,
            expires_at=timezone.now() + timedelta(days=settings.SUBJECT_DOWNLOAD_LINK_DAYS),
            report=report,
            max_downloads=settings.SUBJECT_DOWNLOAD_MAX,
        )
        audit_record(
            action="delivery.link_issued",
            target=request,
            actor=actor,
            details={
                "link_id": link.pk,
                "report_id": report.pk,
                "expires_at": link.expires_at.isoformat(),
                "max_downloads": link.max_downloads,
                "revoked_links": revoked,
            },
        )
        notifications.notify_report_ready(
            request, download_url=link_url(SubjectLink.Purpose.DOWNLOAD, token), link=link
        )
    return link


def download_link_after_approval(report_id: int, actor_id: int | None) -> None:
    """Approval's on-commit hook: issue and mail the link; a failure never undoes approval."""

    def run() -> None:
        try:
            report = Report.objects.get(pk=report_id)
            actor = User.objects.filter(pk=actor_id).first() if actor_id else None
            download_link_issue(report, actor=actor)
        except Exception:
            logger.exception(
                "download link for report %s not issued; staff can re-issue it", report_id
            )

    transaction.on_commit(run, robust=True)


def download_link_reissue(privacy_request: PrivacyRequest, *, actor: User) -> SubjectLink:
    """Staff: mail a fresh link to the current report (the old one stops working)."""
    require_role(actor, "approve")
    if privacy_request.status not in REISSUABLE_STATUSES:
        raise ValidationError("Only an approved or delivered request has a report to send.")
    report = privacy_request.reports.filter(superseded_at__isnull=True).order_by("-round").first()
    if report is None:
        raise ValidationError("This request has no current report.")
    return download_link_issue(report, actor=actor)


def code_send(link: SubjectLink) -> bool:
    """Mail a new one-time code for a live download link; False if refused (rate limit)."""
    if throttle_hit("code-send", str(link.pk), settings.SUBJECT_CODE_SEND_RATE_LIMIT):
        return False
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    with transaction.atomic():
        locked = (
            SubjectLink.objects.select_for_update(of=("self",))
            .select_related("report")
            .get(pk=link.pk)
        )
        if not link_is_live(locked):
            return False
        locked.code_hash = _code_hash(locked.pk, code)
        locked.code_expires_at = timezone.now() + timedelta(minutes=settings.SUBJECT_CODE_MINUTES)
        locked.code_attempts = 0
        locked.save(update_fields=["code_hash", "code_expires_at", "code_attempts"])
        audit_record(
            action="delivery.code_sent",
            target=locked.request,
            actor_type=AuditEvent.ActorType.SYSTEM,
            details={"link_id": locked.pk},
        )
        notifications.notify_download_code(locked.request, code=code)
    return True


def code_is_pending(link: SubjectLink) -> bool:
    """Whether the link has a code that can still be entered."""
    return bool(
        link.code_hash
        and link.code_expires_at
        and link.code_expires_at > timezone.now()
        and link.code_attempts < settings.SUBJECT_CODE_TRIES
    )


def code_check(link_id: int, code: str) -> CodeOutcome:
    """Check an entered code (constant time); three wrong tries or expiry need a new code."""
    code = "".join((code or "").split())
    with transaction.atomic():
        link = (
            SubjectLink.objects.select_for_update(of=("self",))
            .select_related("report")
            .get(pk=link_id)
        )
        if not link_is_live(link) or not code_is_pending(link):
            return CodeOutcome(CodeCheck.NEW_CODE_NEEDED)
        if code.isdigit() and hmac.compare_digest(link.code_hash, _code_hash(link.pk, code)):
            link.code_hash = ""
            link.code_expires_at = None
            link.code_attempts = 0
            link.save(update_fields=["code_hash", "code_expires_at", "code_attempts"])
            audit_record(
                action="delivery.code_accepted",
                target=link.request,
                actor_type=_SUBJECT,
                details={"link_id": link.pk},
            )
            return CodeOutcome(CodeCheck.ACCEPTED)
        link.code_attempts += 1
        tries_left = max(settings.SUBJECT_CODE_TRIES - link.code_attempts, 0)
        if not tries_left:
            link.code_hash = ""
            link.code_expires_at = None
        link.save(update_fields=["code_hash", "code_expires_at", "code_attempts"])
        audit_record(
            action="delivery.code_rejected",
            target=link.request,
            actor_type=_SUBJECT,
            details={"link_id": link.pk, "attempts": link.code_attempts},
        )
    if not tries_left:
        return CodeOutcome(CodeCheck.NEW_CODE_NEEDED)
    return CodeOutcome(CodeCheck.WRONG, tries_left)


def download_open(link_id: int) -> tuple[Report, DecryptedBlob] | None:
    """Count one download and open the zip; None if the link is no longer live.

    The first download marks the request delivered. The blob is opened before the
    count is taken, so a missing key or file costs the subject no download.
    """
    link = SubjectLink.objects.select_related("report").filter(pk=link_id).first()
    if link is None or not link_is_live(link):
        return None
    blob = report_storage.open_decrypted(link.report.storage_name)
    try:
        with transaction.atomic():
            locked = (
                SubjectLink.objects.select_for_update(of=("self",))
                .select_related("report")
                .get(pk=link_id)
            )
            if not link_is_live(locked):
                blob.close()
                return None
            locked.download_count += 1
            locked.save(update_fields=["download_count"])
            request = PrivacyRequest.objects.select_for_update(no_key=True).get(
                pk=locked.request_id
            )
            audit_record(
                action="report.downloaded",
                target=request,
                actor_type=_SUBJECT,
                details={
                    "report_id": locked.report_id,
                    "link_id": locked.pk,
                    "download": locked.download_count,
                    "sha256": locked.report.sha256,
                },
            )
            if request.status == PrivacyRequest.Status.APPROVED:
                privacy_request_status_set(request, PrivacyRequest.Status.DELIVERED)
    except BaseException:
        blob.close()
        raise
    return locked.report, blob


def download_link_state(privacy_request: PrivacyRequest) -> SubjectLink | None:
    """The newest download link of a request (for the staff page)."""
    return (
        privacy_request.subject_links.filter(purpose=SubjectLink.Purpose.DOWNLOAD)
        .select_related("report")
        .first()
    )
