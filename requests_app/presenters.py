"""What the request page says, in a privacy analyst's words: the wording lives here.

Templates show what these functions return; they do not decide wording. Each
fetch (a ``Result``) becomes a ``ResultRow`` that states its situation once: what
is happening or how it ended, why it waits and until when, progress in meetings
or periods checked and items found, and the technical counters (time windows,
pages, API calls) kept apart for a detail toggle. The timeline turns audit events
into sentences that say what changed, who did it and when.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format

from portal.audit_labels import audit_action_label, audit_change_text, status_words
from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Result

PROVIDER_NAMES = {"webex": "Webex", "zoom": "Zoom"}

# Why a fetch did not (or no longer does) run, by error code, when no message says it.
_ERROR_WORDS = {
    "needs_reauth": "The connection needs to be reconnected.",
    "not_connected": "The connection was not connected when fetching started.",
    "disconnected": "The connection was disconnected.",
    "connection_deleted": "The connection was deleted.",
    "request_closed": "The request was closed.",
    "worker_lost": "The background worker stopped too often.",
    "worker_crashed": "The background worker stopped too often.",
    "internal_error": "An unexpected error stopped this fetch.",
}


@dataclass(frozen=True)
class ResultRow:
    """One connection's fetch for a request, as the results table shows it."""

    result: Result
    status: str
    status_label: str
    # The one sentence about where this fetch stands (the reason included).
    summary: str
    # Why it waits and until when ("Webex asked us to slow down; resuming at 14:32").
    waiting: str = ""
    # Progress in the analyst's terms ("Meetings checked: 1,240 of about 2,000; 67 found").
    progress: str = ""
    bar_done: int | None = None
    bar_total: int | None = None
    # Time windows, pages, API calls, attempts: for the detail toggle.
    technical: list[str] = field(default_factory=list)
    # (kind of data, count) pairs found so far.
    objects: list[tuple[str, int]] = field(default_factory=list)
    # Per kind of data, why it is empty or incomplete.
    notes: list[str] = field(default_factory=list)
    problem: bool = False
    can_retry: bool = False


def provider_name(slug: str) -> str:
    return PROVIDER_NAMES.get(slug, slug.capitalize())


def when_text(moment: datetime, *, now: datetime | None = None) -> str:
    """``14:32`` today, ``3 May, 14:32`` on another day, in the portal's time zone."""
    now = timezone.localtime(now or timezone.now())
    local = timezone.localtime(moment)
    if local.date() == now.date():
        return date_format(local, "H:i")
    return date_format(local, "j M, H:i")


def _count(n: int) -> str:
    return f"{n:,}"


def _kind(object_type: str) -> str:
    return str(object_type).replace("_", " ").capitalize()


def result_row(
    result: Result,
    counts: dict[str, int] | None = None,
    *,
    now: datetime | None = None,
) -> ResultRow:
    """The row for one Result; ``counts`` are its records per object type."""
    now = now or timezone.now()
    progress = result.progress or {}
    counts = counts or {}
    found = sum(counts.values())
    name = provider_name(result.provider)
    notes = [
        f"{_kind(kind)}: {note}"
        for kind, note in (progress.get("notes") or {}).items()
        if kind != "subject" and isinstance(note, str) and note
    ]
    subject_note = (progress.get("notes") or {}).get("subject", "")
    status = result.status
    Status = Result.Status
    waiting = ""
    problem = False
    reason = result.error_message or _ERROR_WORDS.get(result.error_code, "")

    if status == Status.SUCCEEDED:
        summary = f"Finished: {_count(found)} item{'s' if found != 1 else ''} found."
    elif status == Status.NO_DATA:
        why = subject_note or f"{name} holds nothing for this person in the period searched."
        summary = _with_reason("No data found", why)
    elif status == Status.FAILED:
        summary = _with_reason("Stopped", reason or _ERROR_WORDS["internal_error"])
        problem = True
    elif status == Status.SKIPPED:
        summary = _with_reason("Not fetched", reason or "The connection was not usable.")
    elif status == Status.PAUSED:
        summary = _with_reason("Paused", reason or _ERROR_WORDS["needs_reauth"])
        problem = True
    elif status == Status.WAITING:
        due = _waiting_until(result)
        resume = f"; resuming at {when_text(due, now=now)}" if due else ""
        summary = "Waiting on the provider."
        waiting = f"{name} asked us to slow down (rate limit){resume}."
    elif status == Status.QUEUED and result.next_attempt_at and result.next_attempt_at > now:
        at = when_text(result.next_attempt_at, now=now)
        if result.failures:
            summary = "Waiting to try again."
            waiting = (
                f"{name} had a temporary problem; trying again at {at} "
                f"(attempt {result.failures + 1})."
            )
        else:
            summary = "Waiting to continue."
            waiting = f"Continues at {at}."
    elif status == Status.QUEUED:
        summary = (
            "Waiting for a background worker; it continues where it stopped."
            if result.attempts
            else "Waiting for a background worker to start."
        )
    elif status == Status.RUNNING:
        summary = f"Fetching from {name}…"
    else:  # pending
        summary = "Not started yet."

    text, bar_done, bar_total = _progress_text(result, found)
    if status in (Status.NO_DATA, Status.SKIPPED) or (status == Status.PENDING and not progress):
        text, bar_done, bar_total = "", None, None
    return ResultRow(
        result=result,
        status=status,
        status_label=_status_label(result),
        summary=summary,
        waiting=waiting,
        progress=text,
        bar_done=bar_done,
        bar_total=bar_total,
        technical=_technical(result),
        objects=[(_kind(kind), n) for kind, n in counts.items()],
        notes=notes,
        problem=problem,
        # Only API fetches are retried; a Direct Contact task has its own actions.
        can_retry=result.workflow == result.Workflow.API
        and status in (Status.FAILED, Status.PAUSED, Status.SKIPPED),
    )


def _with_reason(headline: str, reason: str) -> str:
    """``No data found. Zoom has no user with this email address…``: one sentence each."""
    reason = reason.strip()
    if not reason:
        return f"{headline}."
    reason = reason[:1].upper() + reason[1:]
    if reason[-1] not in ".!?":
        reason += "."
    return f"{headline}. {reason}"


def _status_label(result: Result) -> str:
    if result.status == Result.Status.WAITING:
        return "Waiting"
    return result.get_status_display()


def _waiting_until(result: Result) -> datetime | None:
    raw = (result.progress or {}).get("waiting_until")
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    return parsed or result.next_attempt_at


def _progress_text(result: Result, found: int) -> tuple[str, int | None, int | None]:
    """Progress as an analyst reads it, and the bar's (done, total) when known."""
    progress = result.progress or {}
    done, total = progress.get("windows_done"), progress.get("windows_total")
    has_windows = isinstance(done, int) and isinstance(total, int) and total > 0
    found_text = f"{_count(found)} found"
    checked = progress.get("meetings_checked")
    if isinstance(checked, int):
        finished = result.is_finished or (has_windows and done >= total)
        if finished or not has_windows or not done:
            text = f"Meetings checked: {_count(checked)}; {found_text}"
        else:
            estimate = _round_estimate(checked * total / done)
            text = f"Meetings checked: {_count(checked)} of about {_count(estimate)}; {found_text}"
        return text, (done if has_windows else None), (total if has_windows else None)
    if has_windows:
        what = "Periods searched" if result.provider == "webex" else "Searches done"
        return f"{what}: {done} of {total}; {found_text}", done, total
    if found:
        return found_text.capitalize(), None, None
    return "", None, None


def _round_estimate(value: float) -> int:
    """Round an estimate so it does not look exact: to 10s, 100s or 1,000s."""
    value = max(int(value), 0)
    step = 10 if value < 1000 else 100 if value < 10000 else 1000
    return max(step, round(value / step) * step)


def _technical(result: Result) -> list[str]:
    progress = result.progress or {}
    parts = []
    done, total = progress.get("windows_done"), progress.get("windows_total")
    if isinstance(done, int) and isinstance(total, int) and total > 0:
        parts.append(f"Time windows: {done} of {total}")
    for key, singular, plural in (
        ("pages", "page", "pages"),
        ("api_calls", "API call", "API calls"),
        ("records", "record", "records"),
    ):
        value = progress.get(key)
        if isinstance(value, int):
            parts.append(f"{_count(value)} {singular if value == 1 else plural}")
    if result.attempts > 1:
        parts.append(f"{result.attempts} runs (long fetches run in slices and resume)")
    if result.error_code:
        parts.append(f"Error code: {result.error_code}")
    return parts


# --- Actions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchAction:
    """The fetch button of a request, if any: its words and how many connections it adds."""

    label: str
    new_connections: int
    help: str = ""


def fetch_action(
    privacy_request: PrivacyRequest, *, has_results: bool, new_connections: int
) -> FetchAction | None:
    """``Start fetching`` or ``Fetch from N new connections``, only when it would do something."""
    if privacy_request.request_type != "access" or privacy_request.status not in (
        PrivacyRequest.Status.PROCESSING,
        PrivacyRequest.Status.IN_REVIEW,
    ):
        return None
    if new_connections <= 0:
        return None
    plural = "s" if new_connections != 1 else ""
    if not has_results:
        return FetchAction(
            label="Start fetching",
            new_connections=new_connections,
            help=f"Fetches from {new_connections} connection{plural}.",
        )
    return FetchAction(
        label=f"Fetch from {new_connections} new connection{plural}",
        new_connections=new_connections,
        help=f"{new_connections} connection{plural} added since this request was fetched "
        f"{'has' if new_connections == 1 else 'have'} no result yet.",
    )


# --- Timeline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    when: datetime
    title: str
    change: str
    who: str
    note: str
    code: str


def timeline_entries(
    events: list[AuditEvent], *, connection_names: dict[int, str]
) -> list[TimelineEntry]:
    """Audit events of a request and its fetches as sentences, newest first.

    ``connection_names`` maps a Result id to its connection's name, so a fetch event
    says which connection it was about.
    """
    entries = []
    for event in events:
        details = event.details or {}
        title = audit_action_label(event.action)
        if event.target_type == "requests_app.result":
            name = connection_names.get(int(event.target_id), "A connection")
            title = f"{name}: {title[:1].lower()}{title[1:]}"
        change = audit_change_text(details)
        if not change and event.action == "result.finished" and details.get("status"):
            records = details.get("records")
            change = f"Outcome: {status_words(details['status'])}" + (
                f", {records} item{'s' if records != 1 else ''}" if records else ""
            )
        if event.actor:
            who = event.actor.email
        elif event.actor_type == AuditEvent.ActorType.SYSTEM:
            who = "The portal (automatic)"
        else:
            who = event.get_actor_type_display()
        entries.append(
            TimelineEntry(
                when=event.created_at,
                title=title,
                change=change,
                who=who,
                note=event.reason,
                code=event.action,
            )
        )
    return entries


def duplicate_others(
    privacy_request: PrivacyRequest, others: list[PrivacyRequest]
) -> list[PrivacyRequest]:
    """The other requests the duplicate banner names, each once: flagged one first."""
    seen: dict[int, PrivacyRequest] = {}
    flagged = privacy_request.possible_duplicate_of
    if flagged is not None and flagged.request_type == privacy_request.request_type:
        seen[flagged.pk] = flagged
    for other in others:
        seen.setdefault(other.pk, other)
    return list(seen.values())


def result_rows(
    results: list[Result], record_counts: dict[int, dict[str, int]], *, now: Any = None
) -> list[ResultRow]:
    return [result_row(r, record_counts.get(r.pk), now=now) for r in results]
