"""The Result lifecycle: the one place that changes a Result's status.

Every change of ``Result.status`` goes through :func:`result_transition`. The table
``TRANSITIONS`` says, per target status, which columns are stamped with the current
time and which are reset; the caller adds what only it knows (the error code and
message, when to try next, progress, counters). The transition saves once, writes at
most one audit event and, when the Result has finished, moves its request to review
if every Result of the request has finished, in the caller's transaction. See
docs/architecture.md, 'Result lifecycle' for the state diagram.

An API fetch (``workflow=api``) uses every status::

    pending -> queued -> running -> succeeded | no_data | failed
                 ^  ^       |
                 |  +-------+-- waiting (rate limit), queued (time slice, backoff)
                 +--------------- paused (connection needs attention) <- skipped
    any unfinished -> skipped (connection not connected, disconnected, deleted;
                               request closed)

A Direct Contact task (``workflow=dc_access`` or ``dc_deletion``) is another kind of
Result and goes through the same function (``services/direct_contact.py``). It uses
``pending`` (created, not yet sent: no contact address yet), ``waiting`` (sent; the
contact's answer waits for staff too), ``paused`` (escalated and blocking the
request), and the finished statuses ``succeeded`` (accepted data or a confirmed
deletion, or handled by staff), ``no_data`` (the contact states there is none),
``failed`` (the contact could not delete, with the reason) and ``skipped`` (escalated
with "skip that system"). Reminder times live on its ``DirectContactTask``. It never
uses ``queued`` or ``running``: those belong to the background worker of API fetches.

When every Result has finished, an access request moves to review; a deletion
request (only Direct Contact tasks) closes and its subject is told what was deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal.audit import audit_record
from portal.models import User
from requests_app.models import PrivacyRequest, RequestType, Result
from requests_app.services.contact_mail import deletion_done_notify_on_commit

FETCHABLE_REQUEST_STATUSES = (PrivacyRequest.Status.PROCESSING, PrivacyRequest.Status.IN_REVIEW)
ERROR_MESSAGE_MAX = 500


class StaleRun(Exception):
    """Another run took over this Result; this one stops without writing."""


@dataclass(frozen=True)
class Transition:
    """What entering one status does to a Result's columns, and how it is audited."""

    # Columns set to the current time.
    stamps: tuple[str, ...] = ()
    # Columns set to None.
    resets: tuple[str, ...] = ()
    # Whether ``next_attempt_at`` takes the caller's ``at`` (None: due at once).
    schedules: bool = False
    # The audit action written by default; None writes nothing unless the caller names one.
    action: str | None = None


_FINISHED = Transition(
    stamps=("finished_at",), resets=("next_attempt_at",), action="result.finished"
)

TRANSITIONS: dict[str, Transition] = {
    # Direct Contact only: a task that cannot be sent yet (or a fetch handed to one).
    Result.Status.PENDING: Transition(resets=("next_attempt_at", "finished_at")),
    Result.Status.QUEUED: Transition(
        stamps=("queued_at",), resets=("finished_at",), schedules=True
    ),
    Result.Status.WAITING: Transition(
        stamps=("queued_at",), resets=("finished_at",), schedules=True
    ),
    Result.Status.RUNNING: Transition(stamps=("heartbeat_at",), resets=("next_attempt_at",)),
    Result.Status.PAUSED: Transition(
        resets=("next_attempt_at", "finished_at"), action="result.paused"
    ),
    Result.Status.SUCCEEDED: _FINISHED,
    Result.Status.NO_DATA: _FINISHED,
    Result.Status.FAILED: _FINISHED,
    Result.Status.SKIPPED: Transition(
        stamps=("finished_at",), resets=("next_attempt_at",), action="result.skipped"
    ),
}


def result_transition(
    result: Result,
    to: str,
    *,
    code: str | None = None,
    message: str | None = None,
    at: datetime | None = None,
    changes: dict[str, Any] | None = None,
    action: str | None = None,
    actor: User | None = None,
    check_request: bool = True,
) -> Result:
    """Move a (locked) Result to status ``to``: one save, one audit event at most.

    ``code`` and ``message`` replace the error shown to staff (None keeps it; "" clears
    it). ``at`` is when a queued or waiting Result is due. ``changes`` holds other
    columns the caller sets (progress, failures, run token). ``action`` names the audit
    event where the table has none or the cause is more specific (retried, resumed,
    recovered). ``check_request=False`` is for callers that look at each request once
    after changing many Results.
    """
    rule = TRANSITIONS[to]
    now = timezone.now()
    values: dict[str, Any] = {"status": to, **(changes or {})}
    for column in rule.stamps:
        values[column] = now
    for column in rule.resets:
        values[column] = None
    if rule.schedules:
        values["next_attempt_at"] = at
    if to == Result.Status.RUNNING:
        values["started_at"] = result.started_at or now
    if code is not None:
        values["error_code"] = code
    if message is not None:
        values["error_message"] = message[:ERROR_MESSAGE_MAX]
    for column, value in values.items():
        setattr(result, column, value)
    result.save(update_fields=list(values))

    action = action or rule.action
    if action:
        audit_record(
            action=action, target=result, actor=actor, details=_audit_details(result, action)
        )
    if result.is_finished and check_request:
        privacy_request_check_fetched(request_id=result.request_id)
    return result


def _audit_details(result: Result, action: str) -> dict[str, Any]:
    """Identifiers and counts only: the error message may quote the provider.

    Every event names its request and connection, so the request's timeline and the
    audit log's filters find it.
    """
    where = {"request_id": result.request_id, "connection_id": result.connection_id}
    if action == "result.finished":
        return {
            **where,
            "status": result.status,
            "error_code": result.error_code,
            "records": result.progress.get("records", 0),
        }
    if action in ("result.skipped", "result.paused"):
        return {**where, "error_code": result.error_code}
    return where


# --- The request the Results belong to ------------------------------------------------


def privacy_request_check_fetched(*, request_id: int) -> bool:
    """Move the request on once every Result has finished.

    An access request goes to review. A deletion request (its Results are Direct
    Contact deletion tasks, confirmed, refused with a reason, or skipped) closes, and
    the subject is sent the "deletion done" notice after commit.
    """
    with transaction.atomic():
        privacy_request = PrivacyRequest.objects.select_for_update(no_key=True).get(pk=request_id)
        if privacy_request.status != PrivacyRequest.Status.PROCESSING:
            return False
        results = privacy_request.results.all()
        if not results.exists():
            return False  # nothing was fetched from anywhere: not ready for review
        if results.exclude(status__in=Result.FINISHED_STATUSES).exists():
            return False
        if privacy_request.request_type == RequestType.DELETION:
            privacy_request.closed_at = timezone.now()
            privacy_request.save(update_fields=["closed_at"])
            privacy_request_status_set(privacy_request, PrivacyRequest.Status.CLOSED)
            audit_record(
                action="request.deletion_completed",
                target=privacy_request,
                details={"results": results.count()},
            )
            deletion_done_notify_on_commit(privacy_request.pk)
            return True
        privacy_request_status_set(privacy_request, PrivacyRequest.Status.IN_REVIEW)
        return True


def privacy_request_status_set(
    privacy_request: PrivacyRequest, status: str, *, actor: User | None = None
) -> None:
    """Change a (locked) request's status, audited; nothing happens if it is already so."""
    if privacy_request.status == status:
        return
    previous = privacy_request.status
    privacy_request.status = status
    privacy_request.status_changed_at = timezone.now()
    privacy_request.save(update_fields=["status", "status_changed_at"])
    audit_record(
        action="request.status_changed",
        target=privacy_request,
        actor=actor,
        details={"from": previous, "to": status},
    )
