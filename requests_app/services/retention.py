"""The retention purge: personal data goes a set time after delivery or closure.

``RETENTION_DAYS`` after a request was delivered or closed (denied, cancelled,
closed), and ``SUBJECT_UNVERIFIED_PURGE_DAYS`` after a request whose email address
was never confirmed arrived (it is cancelled first), the scheduled purge removes
what the request gathered: fetched records with their edits and selections,
uploaded files and reports (the encrypted blobs too), Direct Contact answers and
links, the subject's links, codes, message and emails. The request row stays as a non-personal stub
(reference, type, regulation, dates, systems, outcome) with the subject's email
and name blanked and its free text (status, extension and denial reasons) replaced,
and the audit trail stays: who did what and when, without any reason or note typed
into it.

The purge is a list of steps (``PURGE_STEPS``), each idempotent and each in its
own transaction; a blob is deleted before the row that names it, so a crash never
leaves a blob nobody knows about. ``RequestPurge`` marks the start; the stub and
``purged_at`` are written last, together. A purge interrupted midway is finished
by the next run, and running it again on a purged request does nothing. Add a
step (``purge_step_register``) for any new model that holds a request's personal
data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from portal import report_storage
from portal.audit import audit_record
from portal.models import AuditEvent
from requests_app.models import (
    DirectContactFile,
    DirectContactReminder,
    DirectContactTask,
    IdempotencyKey,
    ObjectTypeSelection,
    OutboundEmail,
    PrivacyRequest,
    Record,
    Report,
    RequestPurge,
    Result,
    SubjectLink,
    SubjectMessage,
)
from requests_app.services.fetching.lifecycle import privacy_request_status_set

logger = logging.getLogger(__name__)
CHUNK = 2000
PURGED_REASON = "Personal data purged under the retention policy."
# Statuses after which the retention clock runs (from closed_at, else the status change).
FINISHED_REQUEST_STATUSES = (
    PrivacyRequest.Status.DELIVERED,
    PrivacyRequest.Status.CLOSED,
    PrivacyRequest.Status.DENIED,
    PrivacyRequest.Status.CANCELLED,
)


@dataclass(frozen=True)
class PurgeStep:
    """One idempotent part of the purge; ``run`` returns how many things it removed."""

    name: str
    run: Callable[[PrivacyRequest], int]


def _delete_blobs_then_rows(queryset, name_field: str) -> int:
    """Delete each row's blob, then the rows, chunk by chunk (safe to repeat)."""
    removed = 0
    while True:
        rows = list(queryset.order_by("pk").values_list("pk", name_field)[:CHUNK])
        if not rows:
            return removed
        for _, name in rows:
            if name:
                report_storage.delete(name)
        with transaction.atomic():
            queryset.model.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
        removed += len(rows)


def _purge_reports(privacy_request: PrivacyRequest) -> int:
    return _delete_blobs_then_rows(Report.objects.filter(request=privacy_request), "storage_name")


def _purge_contact_files(privacy_request: PrivacyRequest) -> int:
    return _delete_blobs_then_rows(
        DirectContactFile.objects.filter(task__result__request=privacy_request), "storage_name"
    )


def _purge_records(privacy_request: PrivacyRequest) -> int:
    """Records (their edits go with them) and the review's selections."""
    removed = 0
    records = Record.objects.filter(result__request=privacy_request)
    while True:
        ids = list(records.order_by("pk").values_list("pk", flat=True)[:CHUNK])
        if not ids:
            break
        with transaction.atomic():
            Record.objects.filter(pk__in=ids).delete()
        removed += len(ids)
    removed += ObjectTypeSelection.objects.filter(result__request=privacy_request).delete()[0]
    return removed


def _purge_direct_contact(privacy_request: PrivacyRequest) -> int:
    """Answers, notes, links and reminder rows; the task's state and dates stay."""
    tasks = DirectContactTask.objects.filter(result__request=privacy_request)
    with transaction.atomic():
        DirectContactReminder.objects.filter(task__in=tasks).delete()
        return tasks.update(
            token_hash="",
            token_secret="",
            token_expires_at=None,
            next_reminder_at=None,
            answer_note="",
            answer_fields=[],
            staff_note="",
            mail_pending="",
            mail_error="",
            mail_failed_at=None,
        )


def _purge_results(privacy_request: PrivacyRequest) -> int:
    """Keep each Result's outcome (status, error code, counts); drop messages and cursors."""
    removed = 0
    for result in Result.objects.filter(request=privacy_request).order_by("pk"):
        progress = {"records": (result.progress or {}).get("records", 0)}
        if result.error_message or result.checkpoint or result.progress != progress:
            Result.objects.filter(pk=result.pk).update(
                error_message="", checkpoint={}, progress=progress
            )
            removed += 1
    return removed


def _audit_targets(privacy_request: PrivacyRequest) -> Q:
    """Events about the request, its Results, Direct Contact tasks and files, reports, links."""
    results = Result.objects.filter(request=privacy_request)
    targets = {
        "requests_app.privacyrequest": [privacy_request.pk],
        "requests_app.result": results.values_list("pk", flat=True),
        "requests_app.directcontacttask": DirectContactTask.objects.filter(
            result__in=results
        ).values_list("pk", flat=True),
        "requests_app.directcontactfile": DirectContactFile.objects.filter(
            task__result__in=results
        ).values_list("pk", flat=True),
        "requests_app.report": Report.objects.filter(request=privacy_request).values_list(
            "pk", flat=True
        ),
        "requests_app.subjectlink": SubjectLink.objects.filter(request=privacy_request).values_list(
            "pk", flat=True
        ),
    }
    query = Q(pk__in=[])
    for target_type, ids in targets.items():
        query |= Q(target_type=target_type, target_id__in=[str(pk) for pk in ids])
    return query


def _purge_subject_side(privacy_request: PrivacyRequest) -> int:
    """The subject's links and codes, the form's message, the emails sent to them
    (encrypted, but theirs), and idempotency keys that point at the request."""
    with transaction.atomic():
        removed = SubjectLink.objects.filter(request=privacy_request).delete()[0]
        removed += SubjectMessage.objects.filter(request=privacy_request).delete()[0]
        removed += OutboundEmail.objects.filter(request=privacy_request).delete()[0]
        removed += IdempotencyKey.objects.filter(privacy_request=privacy_request).delete()[0]
    return removed


# Detail keys that may hold words somebody typed (identifiers and counts stay).
FREE_TEXT_DETAILS = frozenset({"reason", "note", "message", "method", "comment", "text"})


def _purge_audit_text(privacy_request: PrivacyRequest) -> int:
    """Every reason and free-text detail on the request's audit events is blanked.

    Staff and contacts write names, variants of names ("D. KOWALSKI") and other
    addresses into reasons and notes, so nothing typed is kept, whatever it says;
    the events stay with their action, actor, time and identifiers. Runs first,
    while the reports, links and tasks it looks up still exist.
    """
    events = AuditEvent.objects.filter(_audit_targets(privacy_request))
    with transaction.atomic():
        changed = events.exclude(reason="").update(reason="")
        typed = events.filter(details__has_any_keys=sorted(FREE_TEXT_DETAILS))
        for event in typed.only("pk", "details"):
            details = {k: v for k, v in event.details.items() if k not in FREE_TEXT_DETAILS}
            AuditEvent.objects.filter(pk=event.pk).update(details=details)
            changed += 1
    return changed


PURGE_STEPS: list[PurgeStep] = [
    PurgeStep("audit_text", _purge_audit_text),
    PurgeStep("reports", _purge_reports),
    PurgeStep("contact_files", _purge_contact_files),
    PurgeStep("records", _purge_records),
    PurgeStep("direct_contact", _purge_direct_contact),
    PurgeStep("subject_side", _purge_subject_side),
    PurgeStep("results", _purge_results),
]


def purge_step_register(step: PurgeStep, *, before: str | None = None) -> None:
    """Add a step (e.g. for download links or subject emails); ``before`` names a step.

    Steps that search for the subject's email or name must run before the stub
    blanks them, which always happens last.
    """
    if any(s.name == step.name for s in PURGE_STEPS):
        return
    names = [s.name for s in PURGE_STEPS]
    PURGE_STEPS.insert(names.index(before) if before in names else len(PURGE_STEPS), step)


def _stub(privacy_request: PrivacyRequest, now: datetime) -> None:
    """What stays: reference, type, regulation, dates, systems, outcome; nothing personal."""
    privacy_request.subject_email = ""
    privacy_request.subject_name = ""
    privacy_request.status_reason = PURGED_REASON
    privacy_request.extension_reason = ""
    privacy_request.denial_notice = ""
    privacy_request.purged_at = now
    privacy_request.save(
        update_fields=[
            "subject_email",
            "subject_name",
            "status_reason",
            "extension_reason",
            "denial_notice",
            "purged_at",
        ]
    )


def _cancel_unconfirmed(privacy_request: PrivacyRequest, now: datetime) -> None:
    """A request whose address was never confirmed ends as cancelled, then is purged."""
    privacy_request.closed_at = now
    privacy_request.save(update_fields=["closed_at"])
    privacy_request_status_set(privacy_request, PrivacyRequest.Status.CANCELLED)
    audit_record(
        action="request.unconfirmed_cancelled",
        target=privacy_request,
        details={"days": settings.SUBJECT_UNVERIFIED_PURGE_DAYS},
    )


def privacy_request_purge(request_id: int, *, now: datetime | None = None) -> bool:
    """Purge one request (or finish an interrupted purge); False if already purged."""
    now = now or timezone.now()
    with transaction.atomic():
        privacy_request = PrivacyRequest.objects.select_for_update().get(pk=request_id)
        if privacy_request.purged_at is not None:
            return False
        purge, created = RequestPurge.objects.get_or_create(
            request=privacy_request, defaults={"started_at": now}
        )
        if created:
            audit_record(action="request.purge_started", target=privacy_request)
        if privacy_request.status == PrivacyRequest.Status.AWAITING_VERIFICATION:
            _cancel_unconfirmed(privacy_request, now)
    counts = dict(purge.steps or {})
    for step in PURGE_STEPS:
        counts[step.name] = counts.get(step.name, 0) + step.run(privacy_request)
        RequestPurge.objects.filter(pk=purge.pk).update(steps=counts)
    with transaction.atomic():
        privacy_request = PrivacyRequest.objects.select_for_update().get(pk=request_id)
        if privacy_request.purged_at is not None:
            return False  # another worker finished it meanwhile
        _stub(privacy_request, now)
        RequestPurge.objects.filter(pk=purge.pk).update(finished_at=now)
        audit_record(action="request.purged", target=privacy_request, details=counts)
    return True


def purge_due(now: datetime | None = None) -> list[int]:
    """Ids of requests whose retention time is over, and of purges left unfinished."""
    now = now or timezone.now()
    finished_before = now - timedelta(days=settings.RETENTION_DAYS)
    unconfirmed_before = now - timedelta(days=settings.SUBJECT_UNVERIFIED_PURGE_DAYS)
    due = (
        PrivacyRequest.objects.filter(purged_at__isnull=True)
        .annotate(ended_at=Coalesce("closed_at", "status_changed_at"))
        .filter(
            Q(status__in=FINISHED_REQUEST_STATUSES, ended_at__lte=finished_before)
            | Q(
                status=PrivacyRequest.Status.AWAITING_VERIFICATION,
                verified_at__isnull=True,
                received_at__lt=unconfirmed_before,
            )
            | Q(purge__isnull=False)
        )
    )
    return list(due.order_by("pk").values_list("pk", flat=True))


def retention_purge(now: datetime | None = None) -> int:
    """Scheduled: purge every due request; one failure does not stop the others."""
    purged = 0
    for request_id in purge_due(now):
        try:
            purged += privacy_request_purge(request_id, now=now)
        except Exception as exc:
            logger.error(
                "retention purge failed; the next run continues it",
                extra={"request_id": request_id, "error_class": type(exc).__name__},
            )
    return purged
