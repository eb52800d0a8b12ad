"""Approve, deny and reopen a reviewed request; open its approved report.

Approval freezes the review: the request leaves "in review", so no selection or
edit can change, and the report is built exactly once from ``report_sections``
(the same input as the preview), streamed into an encrypted blob in the report
storage, with its SHA-256 recorded on an immutable ``Report``. Reopening the
review (before delivery) supersedes that report; the next approval makes a new
one (the next round), and the old row, blob and audit stay.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from portal import report_storage
from portal.audit import audit_record
from portal.models import User
from portal.report_storage import DecryptedBlob
from portal.roles import require_role, user_can
from requests_app.models import PrivacyRequest, Regulation, Report, Result
from requests_app.reports import (
    render_report_html_string,
    stream_report_html,
    write_report_zip,
)
from requests_app.services.delivery import download_link_after_approval
from requests_app.services.fetching.lifecycle import privacy_request_status_set
from requests_app.services.notifications import notify_after_commit, notify_denied
from requests_app.services.review import (
    REASON_MAX,
    ReviewLocked,
    approval_in_progress,
    report_files,
    report_meta,
    report_sections,
    selection_snapshot,
)

# What the subject is told besides the reason, per regulation (kept on the request
# for the notice a later step sends).
DENIAL_NOTICES: dict[str, str] = {
    Regulation.GDPR: (
        "We cannot act on your request under the General Data Protection Regulation "
        "(Article 12(4)). Reason: {reason}\n"
        "You may lodge a complaint with a supervisory authority and seek a judicial remedy."
    ),
    Regulation.CCPA: (
        "We cannot comply with your request under the California Consumer Privacy Act "
        "(Cal. Civ. Code section 1798.100 et seq.). Reason: {reason}\n"
        "If you believe this is wrong, you may contact us again or contact the California "
        "Privacy Protection Agency or the California Attorney General."
    ),
    Regulation.OTHER: "We cannot act on your request. Reason: {reason}",
}
DENIABLE_STATUSES = (PrivacyRequest.Status.IN_REVIEW, PrivacyRequest.Status.APPROVED)


class FourEyesViolation(PermissionDenied):
    """The approver made the last review change (REVIEW_FOUR_EYES is on)."""


def _now() -> datetime:
    return timezone.now().replace(microsecond=0)


def _reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(f"Give a reason for the {what}.")
    if len(reason) > REASON_MAX:
        raise ValidationError(f"The reason is longer than {REASON_MAX} characters.")
    return reason


def denial_notice_text(regulation: str, reason: str) -> str:
    """The regulation-specific wording of a denial, with the staff's reason."""
    template = DENIAL_NOTICES.get(regulation, DENIAL_NOTICES[Regulation.OTHER])
    return template.format(reason=reason)


def report_current(request: PrivacyRequest) -> Report | None:
    """The approved report in force (not superseded), if any."""
    return request.reports.filter(superseded_at__isnull=True).order_by("-round").first()


def review_preview_html(request: PrivacyRequest, generated_at: datetime | None = None) -> str:
    """report.html for the current selection, exactly as approval would write it."""
    generated_at = generated_at or _now()
    return render_report_html_string(report_meta(request, generated_at), report_sections(request))


def review_preview_stream(
    request: PrivacyRequest, generated_at: datetime | None = None
) -> Iterator[bytes]:
    """report.html for the current selection as UTF-8 chunks, byte-equal to what approval
    writes; records are read while streaming, so a large report never sits in memory.

    The selection (which types and columns) is read now, before the response starts.
    """
    generated_at = generated_at or _now()
    return stream_report_html(report_meta(request, generated_at), report_sections(request))


def privacy_request_approve(request: PrivacyRequest, *, actor: User) -> Report:
    """Freeze the review, build and store the encrypted report once, mark it approved.

    Refuses unless the request is in review, every API fetch has finished, and (with
    REVIEW_FOUR_EYES) the approver did not make the last review change.

    Three steps, so that building a large report (seconds to minutes) never holds a
    database transaction: on SQLite an open write transaction would stop every fetch
    worker for that long. (1) Under the row lock: check and freeze the review with an
    approval token. (2) Without a transaction: snapshot the frozen selection, then build
    and store the encrypted zip from it. (3) Under the row lock again: if the token is
    still ours, the freeze has not lapsed (APPROVAL_STALE_AFTER) and the request is
    still in review, record the Report and approve. Any failure removes
    the stored blob and unfreezes the review.
    """
    require_role(actor, "approve")
    token = uuid.uuid4()
    with transaction.atomic():
        locked = PrivacyRequest.objects.select_for_update().get(pk=request.pk)
        _approvable(locked, actor)
        locked.approval_token = token
        locked.approval_started_at = timezone.now()
        locked.save(update_fields=["approval_token", "approval_started_at"])
    stored_name = None
    try:
        generated_at = _now()
        frozen = PrivacyRequest.objects.get(pk=request.pk)
        sections = report_sections(frozen)
        meta = report_meta(frozen, generated_at)
        files = report_files(frozen)
        # What the zip releases, read from the frozen review before the build (the
        # review may only change again once the freeze lapses, which step 3 refuses).
        snapshot = selection_snapshot(frozen)
        stored_name, digest = report_storage.save_encrypted_from(
            lambda f: write_report_zip(meta, sections, f, files=files),
            f"request-{frozen.pk}-{uuid.uuid4().hex}.zip.enc",
        )
        with transaction.atomic():
            locked = PrivacyRequest.objects.select_for_update().get(pk=request.pk)
            if (
                locked.approval_token != token
                or locked.status != PrivacyRequest.Status.IN_REVIEW
                # A build that outlived APPROVAL_STALE_AFTER no longer froze the review:
                # its selection may have changed since, so the zip may be out of date.
                or not approval_in_progress(locked)
            ):
                raise ReviewLocked(
                    "The request changed while its report was being built; approve again."
                )
            round_ = (locked.reports.aggregate(n=Max("round"))["n"] or 0) + 1
            for old in locked.reports.filter(superseded_at__isnull=True):
                old.superseded_at = generated_at
                old.save()
            report = Report.objects.create(
                request=locked,
                round=round_,
                storage_name=stored_name,
                sha256=digest.sha256,
                size=digest.size,
                record_count=digest.record_count,
                generated_at=generated_at,
                approved_by=actor,
                approved_at=timezone.now(),
                selection_snapshot=snapshot,
            )
            locked.approval_token = None
            locked.approval_started_at = None
            locked.save(update_fields=["approval_token", "approval_started_at"])
            privacy_request_status_set(locked, PrivacyRequest.Status.APPROVED, actor=actor)
            audit_record(
                action="request.approved",
                target=locked,
                actor=actor,
                details={
                    "report_id": report.pk,
                    "round": round_,
                    "sha256": digest.sha256,
                    "size": digest.size,
                    "record_count": digest.record_count,
                },
            )
            # Once committed: mail the subject a download link (never undoes the approval).
            download_link_after_approval(report.pk, actor.pk)
    except BaseException:
        if stored_name is not None:
            report_storage.delete(stored_name)
        PrivacyRequest.objects.filter(pk=request.pk, approval_token=token).update(
            approval_token=None, approval_started_at=None
        )
        raise
    request.status = locked.status
    request.status_changed_at = locked.status_changed_at
    return report


def _approvable(locked: PrivacyRequest, actor: User) -> None:
    """Raise unless ``actor`` may approve ``locked`` now (called under its row lock)."""
    if locked.status != PrivacyRequest.Status.IN_REVIEW:
        raise ReviewLocked(
            f"The request is {locked.get_status_display().lower()}: "
            "only a request in review can be approved."
        )
    if approval_in_progress(locked):
        raise ReviewLocked("Another approval of this request is building its report.")
    if settings.REVIEW_FOUR_EYES and locked.review_last_editor_id == actor.pk:
        raise FourEyesViolation(
            "You made the last review change; another approver must approve (four eyes)."
        )
    unfinished = locked.results.filter(workflow=Result.Workflow.API).exclude(
        status__in=Result.FINISHED_STATUSES
    )
    if unfinished.exists():
        raise ValidationError(
            "A fetch is still running or paused; approve once every fetch has finished."
        )


def privacy_request_deny(request: PrivacyRequest, *, actor: User, reason: str) -> None:
    """Deny the request with a reason; keep the regulation's wording for the notice."""
    require_role(actor, "approve")
    reason = _reason(reason, "denial")
    with transaction.atomic():
        locked = PrivacyRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status not in DENIABLE_STATUSES:
            raise ReviewLocked(
                f"The request is {locked.get_status_display().lower()}: "
                "only a request in review or approved (not yet delivered) can be denied."
            )
        now = timezone.now()
        superseded = []
        for old in locked.reports.filter(superseded_at__isnull=True):
            old.superseded_at = now
            old.save()
            superseded.append(old.pk)
        locked.status_reason = reason
        locked.denial_notice = denial_notice_text(locked.regulation, reason)
        locked.closed_at = now
        locked.save(update_fields=["status_reason", "denial_notice", "closed_at"])
        privacy_request_status_set(locked, PrivacyRequest.Status.DENIED, actor=actor)
        audit_record(
            action="request.denied",
            target=locked,
            actor=actor,
            reason=reason,
            details={"superseded_report_ids": superseded},
        )
        notify_after_commit(notify_denied, locked.pk)
    for name in ("status", "status_changed_at", "status_reason", "denial_notice", "closed_at"):
        setattr(request, name, getattr(locked, name))


def privacy_request_reopen_review(request: PrivacyRequest, *, actor: User, reason: str) -> None:
    """Back to review before delivery: the approved report is superseded, not changed."""
    if not (user_can(actor, "approve") or user_can(actor, "review")):
        require_role(actor, "approve")
    reason = _reason(reason, "new review round")
    with transaction.atomic():
        locked = PrivacyRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != PrivacyRequest.Status.APPROVED:
            raise ReviewLocked(
                f"The request is {locked.get_status_display().lower()}: "
                "only an approved request that is not delivered can go back to review."
            )
        now = timezone.now()
        superseded = []
        for old in locked.reports.filter(superseded_at__isnull=True):
            old.superseded_at = now
            old.save()
            superseded.append(old.pk)
        privacy_request_status_set(locked, PrivacyRequest.Status.IN_REVIEW, actor=actor)
        audit_record(
            action="request.review_reopened",
            target=locked,
            actor=actor,
            reason=reason,
            details={"superseded_report_ids": superseded},
        )
    request.status = locked.status
    request.status_changed_at = locked.status_changed_at


def report_open(report: Report) -> DecryptedBlob:
    """The approved zip, decrypted chunk by chunk (the caller audits the download)."""
    return report_storage.open_decrypted(report.storage_name)
