"""Direct Contact tasks: a system's contact person answers by email link instead of an API.

A task is a ``Result`` (workflow ``dc_access`` or ``dc_deletion``) with a
``DirectContactTask`` beside it; every status change goes through
``result_transition`` (see docs/architecture.md, 'Result lifecycle'):

- created ``pending``; sent (the contact gets a link) ``waiting``;
- the contact answers (amendable) and the task stays ``waiting`` until staff accept:
  then ``succeeded`` / ``no_data`` (access), ``succeeded`` / ``failed`` with the
  reason (deletion: deleted / could not delete);
- after the connection's escalation days without an answer: ``skipped`` (skip this
  system) or ``paused`` (block: the request cannot complete; staff are emailed);
- staff may remind, re-send (the old link stops working), change the contact, or
  mark the task handled with a note (``succeeded``).

The link's secret (256 bits) is checked against its SHA-256; the task also keeps the
secret encrypted so that a reminder repeats the live link the first email promised
(for ``DIRECT_CONTACT_LINK_DAYS``) instead of replacing it. A re-send or a change of
contact issues a new secret and the old link stops working; a reminder issues one
only when the old link has already expired. Accepted access answers become Records
(``direct_contact_fields``, ``direct_contact_file``) that go through review like
fetched data. The task's history is the audit trail of its Result.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from connectors.emails import email_normalize
from connectors.models import Connection
from portal import report_storage
from portal.audit import audit_record
from portal.models import AuditEvent, User
from portal.roles import require_role
from requests_app.models import (
    DirectContactFile,
    DirectContactReminder,
    DirectContactTask,
    PrivacyRequest,
    Record,
    RequestType,
    Result,
)
from requests_app.services.contact_mail import contact_mail_on_commit, staff_mail_blocked_on_commit
from requests_app.services.fetching import fetch_start
from requests_app.services.fetching.lifecycle import (
    FETCHABLE_REQUEST_STATUSES,
    privacy_request_status_set,
    result_transition,
)

FIELDS_TYPE = "direct_contact_fields"
FILE_TYPE = "direct_contact_file"
FILE_STORAGE_PREFIX = "contact-files/"
TOKEN_BYTES = 32  # 256 bits
NOTE_MAX = 2000
FIELDS_MAX = 100
LABEL_MAX = 200
VALUE_MAX = 5000
DC_WORKFLOWS = (Result.Workflow.DIRECT_CONTACT_ACCESS, Result.Workflow.DIRECT_CONTACT_DELETION)
# A task that escalated to "block" still gets reminders; one that was answered does not.
_REMINDED_STATES = (DirectContactTask.State.SENT, DirectContactTask.State.BLOCKED)
_ANSWERABLE_STATES = (
    DirectContactTask.State.SENT,
    DirectContactTask.State.ANSWERED,
    DirectContactTask.State.BLOCKED,
)


class LinkInvalid(Exception):
    """The contact link is unknown, for another task, replaced, expired or closed."""


# --- the link ------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    """SHA-256 (hex) of a link secret: what the task stores."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_issue(task: DirectContactTask, now: datetime) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    task.token_hash = token_hash(token)
    task.token_secret = token
    task.token_expires_at = now + timedelta(days=settings.DIRECT_CONTACT_LINK_DAYS)
    return token


def _token_live(task: DirectContactTask, now: datetime) -> str | None:
    """The task's current secret if its link still works, else None."""
    secret = task.token_secret or ""
    if not secret or not task.token_hash or task.token_expires_at is None:
        return None
    if task.token_expires_at <= now or not hmac.compare_digest(token_hash(secret), task.token_hash):
        return None
    return secret


def direct_contact_task_for_link(task_id: int, token: str) -> DirectContactTask:
    """The task a contact link opens, or ``LinkInvalid``.

    The secret must match this task's current one (compared in constant time), be
    unexpired, and the task must still take answers.
    """
    return direct_contact_task_for_hash(task_id, token_hash(token or ""))


def direct_contact_task_for_hash(task_id: int, presented: str) -> DirectContactTask:
    """``direct_contact_task_for_link`` given the secret's hash (what the page's session keeps).

    A replaced link (re-send, contact change) changes the stored hash, so a browser
    that opened the old link loses the task too.
    """
    task = DirectContactTask.objects.select_related("result__request").filter(pk=task_id).first()
    presented = presented if isinstance(presented, str) else ""
    stored = task.token_hash if task is not None and task.token_hash else "0" * 64
    if not hmac.compare_digest(stored, presented) or task is None or not task.token_hash:
        raise LinkInvalid("This link is not valid.")
    if task.token_expires_at is None or task.token_expires_at <= timezone.now():
        raise LinkInvalid("This link has expired.")
    if task.state not in _ANSWERABLE_STATES:
        raise LinkInvalid("This task is closed.")
    return task


# --- creating tasks ------------------------------------------------------------------------


def _workflow_for(privacy_request: PrivacyRequest) -> str:
    if privacy_request.request_type == RequestType.DELETION:
        return Result.Workflow.DIRECT_CONTACT_DELETION
    return Result.Workflow.DIRECT_CONTACT_ACCESS


def _task_create(
    privacy_request: PrivacyRequest, connection: Connection, result: Result | None, actor
) -> Result:
    """A new task (or an API Result handed over to one), sent at once if possible."""
    workflow = _workflow_for(privacy_request)
    if result is None:
        result = Result.objects.create(
            request=privacy_request,
            connection=connection,
            provider=connection.provider,
            connection_name=connection.name,
            workflow=workflow,
        )
    else:
        previous = result.workflow
        result.workflow = workflow
        result.save(update_fields=["workflow"])
        audit_record(
            action="direct_contact.replaces_fetch",
            target=result,
            actor=actor,
            details={"from_workflow": previous, "status": result.status},
        )
    task = DirectContactTask.objects.create(
        result=result, contact_email=email_normalize(connection.contact_email or "")
    )
    audit_record(
        action="direct_contact.created",
        target=result,
        actor=actor,
        details={"workflow": workflow, "connection_id": connection.pk},
    )
    if task.contact_email:
        _send(task, actor=actor, now=timezone.now())
    else:
        result_transition(
            result,
            Result.Status.PENDING,
            code="no_contact",
            message="The connection has no Direct Contact address: set one to send the task.",
            check_request=False,
        )
    return result


def direct_contact_tasks_create(
    *, privacy_request: PrivacyRequest, actor: User | None = None
) -> list[Result]:
    """The Direct Contact tasks a request needs; existing ones are kept (idempotent).

    A deletion request gets one per connection; an access request one per connection
    set to Direct Contact. Call inside the request's transaction.
    """
    connections = Connection.objects.order_by("name", "pk")
    if privacy_request.request_type == RequestType.ACCESS:
        connections = connections.filter(access_mode=Connection.AccessMode.DIRECT_CONTACT)
    created = []
    with transaction.atomic():
        existing = set(
            Result.objects.filter(request=privacy_request).values_list("connection_id", flat=True)
        )
        for connection in connections:
            if connection.pk not in existing:
                created.append(_task_create(privacy_request, connection, None, actor))
    return created


def privacy_request_work_start(
    *, privacy_request: PrivacyRequest, actor: User | None = None
) -> None:
    """Start whatever a new (verified) request needs: Direct Contact tasks, then API fetches.

    The tasks come first, so an access request with no API connection does not reach
    review before its Direct Contact tasks exist. A deletion request that has no
    connection at all stays processing (staff can add tasks).
    """
    with transaction.atomic():
        direct_contact_tasks_create(privacy_request=privacy_request, actor=actor)
        if privacy_request.request_type == RequestType.ACCESS:
            fetch_start(privacy_request=privacy_request, actor=actor)


def direct_contact_task_add(
    *, privacy_request: PrivacyRequest, connection: Connection, actor: User
) -> Result:
    """Staff add a task for one connection, e.g. because its API fetch failed.

    A finished-but-unsuccessful or paused API Result of that connection is handed
    over (records it already stored stay); a request in review goes back to
    processing until the task is finished.
    """
    require_role(actor, "review")
    with transaction.atomic():
        result = (
            Result.objects.select_for_update(no_key=True)
            .filter(request_id=privacy_request.pk, connection=connection)
            .first()
        )
        locked = PrivacyRequest.objects.select_for_update(no_key=True).get(pk=privacy_request.pk)
        if locked.status not in FETCHABLE_REQUEST_STATUSES:
            raise ValidationError(
                f"The request is {locked.get_status_display().lower()}: no task can be added."
            )
        if result is not None:
            if result.workflow in DC_WORKFLOWS:
                raise ValidationError(f"{connection.name} already has a Direct Contact task.")
            handover = (Result.Status.FAILED, Result.Status.PAUSED, Result.Status.SKIPPED)
            if result.status not in handover:
                raise ValidationError(
                    f"The fetch from {connection.name} is {result.get_status_display().lower()}: "
                    "only a failed, paused or skipped fetch can be handed to Direct Contact."
                )
        result = _task_create(locked, connection, result, actor)
        if not Result.objects.get(pk=result.pk).is_finished:
            privacy_request_status_set(locked, PrivacyRequest.Status.PROCESSING, actor=actor)
    return result


# --- sending, reminding, escalating --------------------------------------------------------


def _reminder_due(connection_days: int, now: datetime) -> datetime:
    return now + timedelta(days=max(1, connection_days))


def _connection_days(result: Result) -> tuple[int, int, str]:
    """(reminder days, escalation days, policy) of the task's connection, or the defaults."""
    connection = result.connection
    if connection is None:
        return 5, 14, Connection.EscalationPolicy.BLOCK
    return connection.reminder_days, connection.escalation_days, connection.escalation_policy


def _send(
    task: DirectContactTask, *, actor, now: datetime, kind: str = "request", new_link: bool = True
) -> None:
    """Mail the task's link after commit.

    ``new_link`` issues a new secret (the old link stops working: a re-send, a new
    contact). Otherwise (a reminder, a retried email) the live link is repeated, and
    a new one issued only if it has expired.
    """
    result = task.result
    reminder_days, _, _ = _connection_days(result)
    token = None if new_link else _token_live(task, now)
    replaced = token is None
    token = token or _token_issue(task, now)
    task.first_sent_at = task.first_sent_at or now
    task.clock_started_at = task.clock_started_at or now
    task.last_sent_at = now
    task.next_reminder_at = _reminder_due(reminder_days, now)
    if task.state == DirectContactTask.State.NOT_SENT:
        task.state = DirectContactTask.State.SENT
    task.save()
    if result.status == Result.Status.PENDING:
        result_transition(result, Result.Status.WAITING, code="", message="", check_request=False)
    contact_mail_on_commit(task.pk, kind, token, new_link=replaced)


def _locked_task(result: Result) -> tuple[Result, DirectContactTask]:
    result = Result.objects.select_for_update(no_key=True).get(pk=result.pk)
    if result.workflow not in DC_WORKFLOWS:
        raise ValidationError("That result is not a Direct Contact task.")
    task = DirectContactTask.objects.select_for_update().get(result=result)
    task.result = result
    return result, task


def direct_contact_send(*, result: Result, actor: User | None) -> DirectContactTask:
    """Send the task again with a new link; the previous link stops working."""
    if actor is not None:
        require_role(actor, "review")
    with transaction.atomic():
        result, task = _locked_task(result)
        if not task.is_open:
            raise ValidationError("This task is closed.")
        if not task.contact_email:
            raise ValidationError("Set the contact's address first.")
        resend = task.first_sent_at is not None
        _send(task, actor=actor, now=timezone.now())
        audit_record(
            action="direct_contact.resent" if resend else "direct_contact.sent",
            target=result,
            actor=actor,
        )
    return task


def direct_contact_contact_change(*, result: Result, email: str, actor: User) -> DirectContactTask:
    """Send the task to another person; reminders and escalation count from now."""
    require_role(actor, "review")
    email = email_normalize(email or "")
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError("Enter a valid email address.") from None
    with transaction.atomic():
        result, task = _locked_task(result)
        if not task.is_open:
            raise ValidationError("This task is closed.")
        task.contact_email = email
        task.clock_started_at = timezone.now()
        task.escalated_at = None
        task.save(update_fields=["contact_email", "clock_started_at", "escalated_at"])
        audit_record(action="direct_contact.contact_changed", target=result, actor=actor)
        _send(task, actor=actor, now=timezone.now())
    return task


def _remind(task: DirectContactTask, *, actor, now: datetime) -> bool:
    """Claim today's reminder row and send; False if one already went out today.

    The unique (task, day) row is the claim: a second worker (or a second click)
    fails to insert it and sends nothing.
    """
    try:
        with transaction.atomic():
            DirectContactReminder.objects.create(
                task=task, day=timezone.localdate(now), sent_at=now
            )
    except IntegrityError:
        return False
    task.reminder_count += 1
    _send(task, actor=actor, now=now, kind="reminder", new_link=False)
    audit_record(
        action="direct_contact.reminded",
        target=task.result,
        actor=actor,
        details={"reminder": task.reminder_count},
    )
    return True


def direct_contact_remind(*, result: Result, actor: User | None) -> bool:
    """Remind now (staff); at most one reminder per task and day."""
    if actor is not None:
        require_role(actor, "review")
    with transaction.atomic():
        result, task = _locked_task(result)
        if task.state not in _REMINDED_STATES or not task.contact_email:
            raise ValidationError("Only a sent task that waits for its contact can be reminded.")
        return _remind(task, actor=actor, now=timezone.now())


def _escalate(task: DirectContactTask, now: datetime) -> str:
    result = task.result
    _, days, policy = _connection_days(result)
    task.escalated_at = now
    if policy == Connection.EscalationPolicy.SKIP:
        task.state = DirectContactTask.State.SKIPPED
        task.token_hash = ""
        task.token_secret = ""
        task.next_reminder_at = None
        task.save()
        result_transition(
            result,
            Result.Status.SKIPPED,
            code="escalated_skip",
            message=f"No answer from the contact within {days} days: this system was skipped "
            "(the connection's escalation setting).",
            action="direct_contact.escalated",
        )
        audit_record(
            action="request.system_skipped",
            target=result.request,
            details={"result_id": result.pk, "days": days},
        )
        return "skipped"
    task.state = DirectContactTask.State.BLOCKED
    task.save()
    result_transition(
        result,
        Result.Status.PAUSED,
        code="escalated_block",
        message=f"No answer from the contact within {days} days: the request cannot complete "
        "until this task is answered and accepted, or handled by staff.",
        action="direct_contact.escalated",
    )
    staff_mail_blocked_on_commit(result.pk)
    return "blocked"


@dataclass
class TickReport:
    """What one scheduled tick did (counts)."""

    escalated: int = 0
    reminded: int = 0
    mail_retried: int = 0


def direct_contact_tick(now: datetime | None = None) -> TickReport:
    """Scheduled: escalate overdue tasks, send due reminders, retry failed emails.

    Safe to run on several workers at once: each task is handled under its row lock
    and a reminder is claimed by its (task, day) row.
    """
    now = now or timezone.now()
    report = TickReport()
    open_tasks = DirectContactTask.objects.filter(
        result__request__status__in=FETCHABLE_REQUEST_STATUSES
    )
    for task_id in open_tasks.filter(
        state=DirectContactTask.State.SENT,
        escalated_at__isnull=True,
        clock_started_at__isnull=False,
    ).values_list("pk", flat=True):
        with transaction.atomic():
            task = DirectContactTask.objects.select_for_update().filter(pk=task_id).first()
            if task is None or task.state != DirectContactTask.State.SENT or task.escalated_at:
                continue
            result = Result.objects.select_for_update(no_key=True).get(pk=task.result_id)
            task.result = result
            _, days, _ = _connection_days(result)
            if task.clock_started_at + timedelta(days=days) <= now:
                _escalate(task, now)
                report.escalated += 1
    for task_id in open_tasks.filter(
        state__in=_REMINDED_STATES, next_reminder_at__lte=now
    ).values_list("pk", flat=True):
        with transaction.atomic():
            task = DirectContactTask.objects.select_for_update().filter(pk=task_id).first()
            if (
                task is None
                or task.state not in _REMINDED_STATES
                or task.next_reminder_at is None
                or task.next_reminder_at > now
                or not task.contact_email
            ):
                continue
            task.result = Result.objects.select_for_update(no_key=True).get(pk=task.result_id)
            if _remind(task, actor=None, now=now):
                report.reminded += 1
    for task_id, failed_at in open_tasks.filter(
        mail_failed_at__isnull=False, state__in=_REMINDED_STATES
    ).values_list("pk", "mail_failed_at"):
        with transaction.atomic():
            # A conditional update is the claim: only one worker retries this failure.
            claimed = DirectContactTask.objects.filter(pk=task_id, mail_failed_at=failed_at).update(
                mail_failed_at=None
            )
            if not claimed:
                continue
            task = DirectContactTask.objects.select_for_update().get(pk=task_id)
            task.result = Result.objects.select_for_update(no_key=True).get(pk=task.result_id)
            _send(task, actor=None, now=now, kind=task.mail_pending or "request", new_link=False)
            audit_record(action="direct_contact.mail_retried", target=task.result)
            report.mail_retried += 1
    return report


# --- the contact's answers -----------------------------------------------------------------


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_files: int
    extensions: frozenset[str]

    @classmethod
    def from_settings(cls) -> UploadLimits:
        return cls(
            max_bytes=settings.DIRECT_CONTACT_UPLOAD_MAX_BYTES,
            max_files=settings.DIRECT_CONTACT_UPLOAD_MAX_FILES,
            extensions=frozenset(
                e.lower().lstrip(".") for e in settings.DIRECT_CONTACT_UPLOAD_EXTENSIONS
            ),
        )


def _clean_file_name(name: str) -> str:
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*')
    return base[:200] or "file"


def uploads_check(
    files: Sequence[UploadedFile], *, already: int = 0, limits: UploadLimits | None = None
) -> None:
    """Refuse the whole upload (``ValidationError`` naming each bad file) before storing any."""
    limits = limits or UploadLimits.from_settings()
    problems = []
    if already + len(files) > limits.max_files:
        problems.append(f"At most {limits.max_files} files can be sent for one task.")
    allowed = ", ".join(sorted(limits.extensions))
    for upload in files:
        name = _clean_file_name(upload.name)
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension not in limits.extensions:
            problems.append(f"“{name}” is not an allowed type of file (allowed: {allowed}).")
        if upload.size is None or upload.size > limits.max_bytes:
            problems.append(
                f"“{name}” is larger than {limits.max_bytes // 2**20 or limits.max_bytes} "
                f"{'MB' if limits.max_bytes >= 2**20 else 'bytes'}."
            )
        elif upload.size == 0:
            problems.append(f"“{name}” is empty.")
    if problems:
        raise ValidationError(problems)


def _store_upload(upload: UploadedFile) -> tuple[str, str, int]:
    """Encrypt and store one upload; returns (storage name, sha256, size)."""
    digest = hashlib.sha256()
    size = 0

    def write(dst) -> None:
        nonlocal size
        for chunk in upload.chunks():
            digest.update(chunk)
            size += len(chunk)
            dst.write(chunk)

    name, _ = report_storage.save_encrypted_from(
        write, f"{FILE_STORAGE_PREFIX}{uuid.uuid4().hex}.enc"
    )
    return name, digest.hexdigest(), size


def _clean_fields(fields: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    cleaned = []
    for label, value in fields:
        label, value = (label or "").strip(), (value or "").strip()
        if not label and not value:
            continue
        if not label:
            raise ValidationError("Each value needs a label (what it is).")
        if len(label) > LABEL_MAX or len(value) > VALUE_MAX:
            raise ValidationError(
                f"Labels are at most {LABEL_MAX} characters and values {VALUE_MAX}."
            )
        cleaned.append({"label": label, "value": value})
    if len(cleaned) > FIELDS_MAX:
        raise ValidationError(f"At most {FIELDS_MAX} fields can be sent.")
    return cleaned


def _note(note: str | None) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationError(f"The note is longer than {NOTE_MAX} characters.")
    return note


def _answerable(task: DirectContactTask) -> tuple[Result, DirectContactTask]:
    result, locked = _locked_task(task.result)
    if locked.state not in _ANSWERABLE_STATES or locked.token_hash != task.token_hash:
        raise LinkInvalid("This task is closed or its link was replaced.")
    return result, locked


def _answered(task: DirectContactTask, now: datetime) -> None:
    if task.state == DirectContactTask.State.SENT:
        task.state = DirectContactTask.State.ANSWERED
    task.answered_at = now
    task.next_reminder_at = None


def direct_contact_answer_access(
    task: DirectContactTask,
    *,
    fields: Sequence[tuple[str, str]] = (),
    files: Sequence[UploadedFile] = (),
    no_data: bool = False,
    note: str = "",
    remove_file_ids: Sequence[int] = (),
) -> DirectContactTask:
    """Save (or amend) an access answer: fields replace the earlier ones, files add up.

    Either everything is saved or nothing is: files are checked before any is
    stored, and stored blobs are deleted again if the transaction fails.
    """
    if task.result.workflow != Result.Workflow.DIRECT_CONTACT_ACCESS:
        raise ValidationError("This task asks for a deletion, not for data.")
    cleaned = _clean_fields(fields)
    note = _note(note)
    if no_data and (cleaned or files):
        raise ValidationError("Either send data or state that there is none, not both.")
    kept = DirectContactFile.objects.filter(task=task).exclude(pk__in=list(remove_file_ids))
    uploads_check(files, already=0 if no_data else kept.count())
    if not no_data and not cleaned and not files and not kept.exists():
        raise ValidationError("Upload a file, fill in a field, or state that there is no data.")
    stored: list[str] = []
    removed: list[str] = []
    try:
        with transaction.atomic():
            result, locked = _answerable(task)
            now = timezone.now()
            rows = []
            for upload in files:
                name, sha, size = _store_upload(upload)
                stored.append(name)
                file_name = _clean_file_name(upload.name)
                rows.append(
                    DirectContactFile(
                        task=locked,
                        storage_name=name,
                        file_name=file_name,
                        content_type=mimetypes.guess_type(file_name)[0]
                        or "application/octet-stream",
                        size=size,
                        sha256=sha,
                        uploaded_at=now,
                    )
                )
            drop = DirectContactFile.objects.filter(task=locked)
            drop = drop if no_data else drop.filter(pk__in=list(remove_file_ids))
            removed = list(drop.values_list("storage_name", flat=True))
            drop.delete()
            DirectContactFile.objects.bulk_create(rows)
            locked.answer = (
                DirectContactTask.Answer.NO_DATA if no_data else DirectContactTask.Answer.DATA
            )
            locked.answer_fields = [] if no_data else cleaned
            locked.answer_note = note
            _answered(locked, now)
            locked.save()
            audit_record(
                action="direct_contact.answered",
                target=result,
                actor_type=AuditEvent.ActorType.CONTACT,
                details={
                    "answer": locked.answer,
                    "fields": len(locked.answer_fields),
                    "files_added": len(rows),
                    "files_removed": len(removed),
                },
            )
    except BaseException:
        for name in stored:
            report_storage.delete(name)
        raise
    for name in removed:
        transaction.on_commit(lambda name=name: report_storage.delete(name))
    return locked


def direct_contact_answer_deletion(
    task: DirectContactTask, *, deleted: bool, reason: str = ""
) -> DirectContactTask:
    """Save (or amend) a deletion answer: deleted, or could not delete with a reason."""
    if task.result.workflow != Result.Workflow.DIRECT_CONTACT_DELETION:
        raise ValidationError("This task asks for data, not for a deletion.")
    reason = _note(reason)
    if not deleted and not reason:
        raise ValidationError("Say why the data could not be deleted.")
    with transaction.atomic():
        result, locked = _answerable(task)
        locked.answer = (
            DirectContactTask.Answer.DELETED if deleted else DirectContactTask.Answer.NOT_DELETED
        )
        locked.answer_note = reason
        _answered(locked, timezone.now())
        locked.save()
        audit_record(
            action="direct_contact.answered",
            target=result,
            actor_type=AuditEvent.ActorType.CONTACT,
            details={"answer": locked.answer},
        )
    return locked


# --- staff decisions -----------------------------------------------------------------------


def _archive_folder(result: Result) -> str:
    """This task's folder under ``files/``: the system's slug, unique in the request.

    Two connections can slug alike ("HR Files", "HR-Files"); the second to be
    accepted gets its Result id appended. Call with the request row locked, so two
    accepts of one request cannot both pick the same folder.
    """
    used = set()
    others = Record.objects.filter(
        result__request_id=result.request_id, object_type=FILE_TYPE
    ).exclude(result=result)
    for data in others.values_list("data", flat=True):
        path = data.get("file") if isinstance(data, dict) else None
        if isinstance(path, str) and path.count("/") == 2:
            used.add(path.split("/")[1])
    base = slugify(result.connection_name) or "system"
    folder, n = base, 2
    if folder in used:
        folder = f"{base}-{result.pk}"
    while folder in used:
        folder, n = f"{base}-{result.pk}-{n}", n + 1
    return folder


def _archive_path(folder: str, file_name: str, taken: set[str]) -> str:
    stem, dot, ext = file_name.rpartition(".")
    if not dot:
        stem, ext = file_name, ""
    path, n = f"files/{folder}/{file_name}", 2
    while path in taken:
        path, n = f"files/{folder}/{stem}-{n}{'.' + ext if ext else ''}", n + 1
    taken.add(path)
    return path


def _close(task: DirectContactTask) -> None:
    task.token_hash = ""
    task.token_secret = ""
    task.token_expires_at = None
    task.next_reminder_at = None


def direct_contact_accept(*, result: Result, actor: User) -> DirectContactTask:
    """Accept the contact's answer: data becomes Records for review; the task finishes."""
    require_role(actor, "review")
    with transaction.atomic():
        result, task = _locked_task(result)
        if (
            task.state not in (DirectContactTask.State.ANSWERED, DirectContactTask.State.BLOCKED)
            or not task.answer
        ):
            raise ValidationError("There is no answer to accept.")
        now = timezone.now()
        Answer = DirectContactTask.Answer
        code, message, status = "", "", Result.Status.SUCCEEDED
        records = 0
        if task.answer == Answer.DATA:
            records = _records_from_answer(result, task)
            status = Result.Status.SUCCEEDED if records else Result.Status.NO_DATA
        elif task.answer == Answer.NO_DATA:
            status = Result.Status.NO_DATA
        elif task.answer == Answer.NOT_DELETED:
            status, code, message = Result.Status.FAILED, "could_not_delete", task.answer_note
        task.state = DirectContactTask.State.ACCEPTED
        task.accepted_at, task.accepted_by = now, actor
        _close(task)
        task.save()
        progress = dict(result.progress or {})
        progress["records"] = Record.objects.filter(result=result).count()
        result_transition(
            result,
            status,
            code=code,
            message=message,
            changes={"progress": progress},
            action="direct_contact.accepted",
            actor=actor,
        )
    return task


def _records_from_answer(result: Result, task: DirectContactTask) -> int:
    now = timezone.now()
    made = 0
    for i, pair in enumerate(task.answer_fields, start=1):
        Record.objects.update_or_create(
            result=result,
            object_type=FIELDS_TYPE,
            external_id=f"field-{i}",
            defaults={"data": {"label": pair["label"], "value": pair["value"]}, "fetched_at": now},
        )
        made += 1
    taken: set[str] = set()
    PrivacyRequest.objects.select_for_update(no_key=True).filter(pk=result.request_id).first()
    folder = _archive_folder(result)
    for upload in task.files.order_by("uploaded_at", "id"):
        Record.objects.update_or_create(
            result=result,
            object_type=FILE_TYPE,
            external_id=upload.storage_name,
            defaults={
                "data": {
                    "file": _archive_path(folder, upload.file_name, taken),
                    "name": upload.file_name,
                    "content_type": upload.content_type,
                    "size": upload.size,
                    "sha256": upload.sha256,
                },
                "fetched_at": now,
            },
        )
        made += 1
    return made


def direct_contact_mark_handled(*, result: Result, actor: User, note: str) -> DirectContactTask:
    """Staff closed the task themselves (e.g. deleted the data by hand), with a note."""
    require_role(actor, "review")
    note = _note(note)
    if not note:
        raise ValidationError("Say how the task was handled.")
    with transaction.atomic():
        result, task = _locked_task(result)
        if not task.is_open:
            raise ValidationError("This task is closed.")
        task.state = DirectContactTask.State.HANDLED
        task.staff_note = note
        _close(task)
        task.save()
        has_records = Record.objects.filter(result=result).exists()
        status = (
            Result.Status.SUCCEEDED
            if result.workflow == Result.Workflow.DIRECT_CONTACT_DELETION or has_records
            else Result.Status.NO_DATA
        )
        result_transition(
            result,
            status,
            code="handled_by_staff",
            message="Handled by staff.",
            action="direct_contact.handled",
            actor=actor,
        )
        audit_record(action="direct_contact.handled_note", target=result, actor=actor, reason=note)
    return task


def direct_contact_tasks(privacy_request: PrivacyRequest) -> list[DirectContactTask]:
    """The request's tasks with their Results and files, for the request page."""
    return list(
        DirectContactTask.objects.filter(result__request=privacy_request)
        .select_related("result", "result__connection", "accepted_by")
        .prefetch_related("files")
        .order_by("result__connection_name", "result_id")
    )


def skipped_systems(privacy_request: PrivacyRequest) -> list[str]:
    """Names of the systems skipped by escalation (the report's README says so)."""
    return list(
        privacy_request.results.filter(
            workflow__in=DC_WORKFLOWS, status=Result.Status.SKIPPED, error_code="escalated_skip"
        )
        .order_by("connection_name")
        .values_list("connection_name", flat=True)
    )
