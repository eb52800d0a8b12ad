"""Webex access fetch: the organisation's meeting instances the subject took part in.

Webex has no complete "meetings of this person" query (``hostEmail=`` covers only
meetings a user of the admin's sites hosted or was invited to, not ones they joined
through a forwarded link, nor external people), so we list every ended or in-progress
instance of the organisation (``meetingType=meeting``) in explicit time windows,
read each instance's participants, and keep the instances where a participant's
email matches the subject (case-insensitive, trimmed). ``meeting_record`` holds the
rules for what is kept; docs/providers.md ('Webex: meetings listing', 'Webex:
participants') the API facts.

Windows: ``meetingType=meeting`` lists at most 10,000 instances even with
pagination, so a window that returns the cap is halved and listed again (the
smaller span is kept for the rest of the scan). The checkpoint holds the scan's
time range, the current window's start and span, the page cursor and counters:
no tokens and no personal data.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.utils import timezone

from connectors.concurrency import pipelined
from connectors.emails import email_normalize
from connectors.exceptions import MalformedResponse, NotFound
from connectors.providers.base import Batch

if TYPE_CHECKING:
    from connectors.http import ApiClient

logger = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

MEETINGS_PATH = "/meetings"
PARTICIPANTS_PATH = "/meetingParticipants"
MEETING = "meeting"

PAGE_MAX = 100  # the largest `max` Webex accepts
INSTANCE_CAP = 10_000  # meetingType=meeting lists no more than this per query
DEFAULT_WINDOW = timedelta(days=7)
MIN_WINDOW = timedelta(minutes=1)
CHECKPOINT_VERSION = 1
# Participants: the join-time filter defaults to 7 days and may span at most 90, and
# the meeting-start filter defaults to the last month (see docs/providers.md, 'Webex:
# participants'). We
# never rely on those defaults: both ranges are given explicitly around the instance.
JOIN_LEAD = timedelta(days=1)  # joins before the recorded start (lobby, clock skew)
JOIN_SPAN = timedelta(days=89)  # inside the 90-day limit
JOIN_LEEWAY = timedelta(minutes=5)  # past "now", for an in-progress meeting's latest joins
START_MARGIN = timedelta(days=1)

# Host attributes: hostEmail, hostDisplayName, hostUserId, hostKey, hostDidJoin, ...
# (not the participant record's own boolean ``host``).
_HOST_FIELD = re.compile(r"^host[A-Z_]")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: Any) -> datetime:
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("naive timestamp")
    return moment


# --- Scan position (what the checkpoint stores) -----------------------------------------


@dataclass
class ScanState:
    """Where the scan is; ``checkpoint()`` is enough to continue after a crash."""

    range_from: datetime
    range_to: datetime
    window_from: datetime
    span_seconds: int
    windows_done: int = 0
    cursor: str | None = None
    window_items: int = 0
    pages: int = 0
    meetings_unreadable: int = 0
    windows_truncated: int = 0
    # Meeting instances whose participants were looked at: progress staff can read.
    meetings_checked: int = 0

    @classmethod
    def start(cls, *, now: datetime, lookback_days: int, window: timedelta) -> ScanState:
        range_to = now.astimezone(UTC).replace(microsecond=0)
        range_from = range_to - timedelta(days=lookback_days)
        return cls(
            range_from=range_from,
            range_to=range_to,
            window_from=range_from,
            span_seconds=max(int(window.total_seconds()), int(MIN_WINDOW.total_seconds())),
        )

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any] | None) -> ScanState | None:
        """The saved position, or None when there is none we understand (start over)."""
        if not checkpoint or checkpoint.get("webex_scan") != CHECKPOINT_VERSION:
            return None
        try:
            cursor = checkpoint.get("cursor")
            return cls(
                range_from=_parse(checkpoint["range_from"]),
                range_to=_parse(checkpoint["range_to"]),
                window_from=_parse(checkpoint["window_from"]),
                span_seconds=int(checkpoint["span_seconds"]),
                windows_done=int(checkpoint.get("window", 0)),
                cursor=cursor if isinstance(cursor, str) and cursor else None,
                window_items=int(checkpoint.get("window_items", 0)),
                pages=int(checkpoint.get("pages", 0)),
                meetings_unreadable=int(checkpoint.get("meetings_unreadable", 0)),
                windows_truncated=int(checkpoint.get("windows_truncated", 0)),
                meetings_checked=int(checkpoint.get("meetings_checked", 0)),
            )
        except (KeyError, TypeError, ValueError):
            logger.warning("unreadable webex checkpoint ignored; the scan starts over")
            return None

    @property
    def span(self) -> timedelta:
        return timedelta(seconds=self.span_seconds)

    @property
    def window_to(self) -> datetime:
        return min(self.window_from + self.span, self.range_to)

    @property
    def finished(self) -> bool:
        return self.window_from >= self.range_to

    def checkpoint(self) -> dict[str, Any]:
        return {
            "webex_scan": CHECKPOINT_VERSION,
            "range_from": _iso(self.range_from),
            "range_to": _iso(self.range_to),
            "window": self.windows_done,
            "window_from": _iso(self.window_from),
            "span_seconds": self.span_seconds,
            "cursor": self.cursor,
            "window_items": self.window_items,
            "pages": self.pages,
            "meetings_unreadable": self.meetings_unreadable,
            "windows_truncated": self.windows_truncated,
            "meetings_checked": self.meetings_checked,
        }

    def progress(self) -> dict[str, Any]:
        remaining = 0
        if not self.finished:
            left = (self.range_to - self.window_from).total_seconds()
            remaining = math.ceil(left / self.span_seconds)
        return {
            "windows_done": self.windows_done,
            "windows_total": self.windows_done + remaining,
            "pages": self.pages,
            "meetings_checked": self.meetings_checked,
        }

    def meetings_params(self) -> dict[str, Any]:
        return {
            "meetingType": "meeting",
            "from": _iso(self.window_from),
            "to": _iso(self.window_to),
            "max": PAGE_MAX,
        }

    def end_window(self, cap: int) -> bool:
        """Close the current window after its last page; True when it must be listed again.

        A window that returned the cap is incomplete: halve the span and list its
        first half again. At the minimum span, it is counted as truncated instead.
        """
        capped = self.window_items >= cap
        self.cursor = None
        self.window_items = 0
        if capped and self.span_seconds > MIN_WINDOW.total_seconds():
            self.span_seconds = max(self.span_seconds // 2, int(MIN_WINDOW.total_seconds()))
            return True
        if capped:
            self.windows_truncated += 1
        self.window_from = self.window_to
        self.windows_done += 1
        return False

    def meeting_note(self) -> str:
        notes = []
        if self.meetings_unreadable:
            notes.append(
                f"{self.meetings_unreadable} meeting(s) had no readable participant list "
                "(deleted or not yet available) and were skipped."
            )
        if self.windows_truncated:
            notes.append(
                f"{self.windows_truncated} time window(s) held more meetings than Webex "
                "lists in one query; some meetings in them may be missing."
            )
        return " ".join(notes)


# --- Attendance and the stored meeting --------------------------------------------------


class Attendance:
    """What we keep from a participant list: the subject's records and the head count.

    People are counted once however often they rejoined (by trimmed, lower-cased
    email; participants without an email, e.g. phone call-ins, once per record id).
    Other participants' records are reduced to that count and never kept.
    """

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.subject_records: list[dict[str, Any]] = []
        self._people: set[str] = set()

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            email = email_normalize(record.get("email"))
            key = f"email:{email}" if email else f"id:{record.get('id') or len(self._people)}"
            self._people.add(key)
            if email == self.subject:
                self.subject_records.append(record)

    @property
    def total(self) -> int:
        return len(self._people)


def subject_is_host(meeting: dict[str, Any], attendance: Attendance, subject: str) -> bool:
    """hostEmail matches (case-insensitively), or the subject's own
    participant record says they were the host."""
    if email_normalize(meeting.get("hostEmail")) == subject:
        return True
    return any(record.get("host") is True for record in attendance.subject_records)


def _without_host_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if not _HOST_FIELD.match(key)}


def _only_subject_interpreters(data: dict[str, Any], subject: str) -> dict[str, Any]:
    """Simultaneous interpreters are other people unless one of them is the subject."""
    interpretation = data.get("simultaneousInterpretation")
    if not isinstance(interpretation, dict):
        return data
    interpreters = interpretation.get("interpreters")
    if not isinstance(interpreters, list):
        return data
    kept = [
        item
        for item in interpreters
        if isinstance(item, dict) and email_normalize(item.get("email")) == subject
    ]
    return {**data, "simultaneousInterpretation": {**interpretation, "interpreters": kept}}


def meeting_record(meeting: dict[str, Any], attendance: Attendance, subject: str) -> dict[str, Any]:
    """The stored meeting: every field, minus host attributes when the host is someone else,
    plus the subject's own participant record(s) and the counts: never another
    participant's data."""
    is_host = subject_is_host(meeting, attendance, subject)
    data = dict(meeting) if is_host else _without_host_fields(meeting)
    data = _only_subject_interpreters(data, subject)
    own = (
        attendance.subject_records
        if is_host
        else map(_without_host_fields, attendance.subject_records)
    )
    data["subject_participants"] = list(own)
    data["total_participants"] = attendance.total
    data["is_1_on_1_conversation"] = attendance.total == 2
    return data


# --- API calls --------------------------------------------------------------------------


def participant_params(meeting: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Query for one instance's participants, with explicit join and start ranges.

    In-progress instances get no join range: live participants may carry a
    1970-01-01 ``joinedTime`` (see docs/providers.md, 'Webex: participants'), and they
    all joined within the default 7 days anyway. Without a readable ``start`` only the
    id is sent.
    """
    params: dict[str, Any] = {"meetingId": meeting_id(meeting), "max": PAGE_MAX}
    try:
        start = _parse(meeting.get("start"))
    except ValueError:
        return params
    params.update(
        meetingStartTimeFrom=_iso(start - START_MARGIN),
        meetingStartTimeTo=_iso(start + START_MARGIN),
    )
    if meeting.get("state") != "inProgress":
        join_from = start - JOIN_LEAD
        join_to = max(min(join_from + JOIN_SPAN, now + JOIN_LEEWAY), start + JOIN_LEEWAY)
        params.update(joinTimeFrom=_iso(join_from), joinTimeTo=_iso(join_to))
    return params


def read_attendance(
    client: ApiClient,
    meeting: dict[str, Any],
    subject: str,
    attendance: Attendance | None = None,
) -> Attendance | None:
    """Every page of one instance's participants, reduced as it arrives; None when Webex
    has no participant list for it (404: deleted, or not yet available).

    ``attendance`` lets the participant index pass a subclass that also keeps hashes.
    """
    attendance = Attendance(subject) if attendance is None else attendance
    params = participant_params(meeting, timezone.now())
    try:
        for page in client.paginate(PARTICIPANTS_PATH, params=params):
            attendance.add(page.items)
    except NotFound:
        return None
    return attendance


def meeting_id(meeting: dict[str, Any]) -> str:
    value = meeting.get("id")
    if not isinstance(value, str) or not value:
        raise MalformedResponse.without_response("meeting without an id", provider="webex")
    return value


# --- The fetch --------------------------------------------------------------------------


def fetch_access(
    client: ApiClient,
    email: str,
    *,
    checkpoint: dict[str, Any] | None = None,
    lookback_days: int | None = None,
    window: timedelta = DEFAULT_WINDOW,
    instance_cap: int = INSTANCE_CAP,
    concurrency: int | None = None,
) -> Iterator[Batch]:
    """Yield one "meeting" batch per page of the organisation's meeting instances
    (possibly empty), each with its checkpoint.

    Meeting preferences are not fetched: reading another person's needs
    ``meeting:admin_preferences_read``, a scope we deliberately do not request, and
    without it Webex ignores ``userEmail`` and answers with the caller's own
    preferences, which would put the administrator's data in the subject's report.
    """
    subject = email_normalize(email)
    if not subject:
        raise ValueError("an email address is required")
    state = ScanState.from_checkpoint(checkpoint) or ScanState.start(
        now=timezone.now(),
        lookback_days=settings.FETCH_LOOKBACK_DAYS if lookback_days is None else lookback_days,
        window=window,
    )
    workers = settings.FETCH_PARTICIPANT_CONCURRENCY if concurrency is None else concurrency
    yield from _scan_meetings(client, subject, state, cap=instance_cap, workers=workers)


def _scan_meetings(
    client: ApiClient, subject: str, state: ScanState, *, cap: int, workers: int
) -> Iterator[Batch]:
    for records in walk_listing(
        client,
        state,
        cap=cap,
        read=lambda meeting: read_attendance(client, meeting, subject),
        finish=lambda page, attendances: _matching_meetings(page, attendances, subject, state),
        workers=workers,
    ):
        yield Batch(
            MEETING,
            records,
            checkpoint=state.checkpoint(),
            progress=state.progress(),
            note=state.meeting_note(),
        )


# The listing runs this many pages ahead of the page being stored, so the participant
# reads flow across page boundaries: a slow read (a 429 waiting out its Retry-After)
# holds back only its page's batch while the workers go on with the next pages.
LOOKAHEAD_PAGES = 3
# ... and further while fewer reads than this are waiting (sparse windows list quickly;
# a listing call waiting out a 429 leaves the workers this much to do meanwhile).
LOOKAHEAD_READS = 200
# What the listing moves; the counters of examined meetings move when a page is stored.
_POSITION = (
    "window_from",
    "span_seconds",
    "windows_done",
    "cursor",
    "window_items",
    "pages",
    "windows_truncated",
)


@dataclass(frozen=True)
class ListedPage:
    """One listing page as ``walk_listing`` hands it over: its new instances, those whose
    participants are read (``todo``, in that order), when it was listed (before any of
    its reads) and the scan position after it."""

    fresh: list[dict[str, Any]]
    todo: list[dict[str, Any]]
    listed_at: datetime
    position: dict[str, Any]


def walk_listing(
    client: ApiClient,
    state: ScanState,
    *,
    cap: int,
    read: Callable[[dict[str, Any]], R],
    finish: Callable[[ListedPage, list[R]], T],
    workers: int,
    select: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    on_read: Callable[[], None] | None = None,
) -> Iterator[T]:
    """List the scan's windows page by page and ``read`` each page's new instances
    (those ``select`` keeps; all by default) in one pool of ``workers``; for each page in
    listing order, once all its reads are done, ``state`` is moved to stand after that
    page and ``finish(page, results)`` is yielded.

    The listing runs ahead (``LOOKAHEAD_PAGES``, ``LOOKAHEAD_READS``) on a copy of the position, so
    ``state`` (what the checkpoint saves) never passes an instance whose participants
    are not all read. Shared by the full scan and the participant index
    (connectors/providers/webex_index.py).
    """
    pages = _listed_pages(client, replace(state), cap=cap, select=select)
    for page, results in pipelined(
        ((page, page.todo) for page in pages),
        read,
        max_workers=workers,
        lookahead=LOOKAHEAD_PAGES,
        lookahead_items=LOOKAHEAD_READS,
        on_result=on_read,
    ):
        for name, value in page.position.items():
            setattr(state, name, value)
        state.meetings_checked += len(page.fresh)
        yield finish(page, results)


def _listed_pages(
    client: ApiClient,
    lister: ScanState,
    *,
    cap: int,
    select: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None,
) -> Iterator[ListedPage]:
    # Meetings already examined in this run, kept while a capped window is listed again
    # in smaller pieces, so their participants are not read twice.
    seen: set[str] = set()
    relist_until: datetime | None = None
    while not lister.finished:
        if lister.cursor and not lister.cursor.startswith(f"{client.base_url}/"):
            # Saved against another API host (settings changed): list the window again.
            lister.cursor, lister.window_items = None, 0
        listing = client.paginate(
            MEETINGS_PATH, params=lister.meetings_params(), start_cursor=lister.cursor
        )
        for page in listing:
            listed_at = timezone.now()
            fresh = [m for m in page.items if meeting_id(m) not in seen]
            seen.update(meeting_id(m) for m in fresh)
            todo = select(fresh) if select is not None else fresh
            lister.pages += 1
            lister.window_items += len(page.items)
            lister.cursor = page.next_cursor
            if page.next_cursor is None:
                window_to = lister.window_to
                if lister.end_window(cap):
                    relist_until = max(relist_until or window_to, window_to)
                elif relist_until is None or lister.window_from >= relist_until:
                    seen.clear()
                    relist_until = None
            position = {name: getattr(lister, name) for name in _POSITION}
            yield ListedPage(fresh, todo, listed_at, position)
        # The pager can stop early (max_pages) with lister.cursor still set: the loop
        # continues the same window from that cursor.


def _matching_meetings(
    page: ListedPage,
    attendances: list[Attendance | None],
    subject: str,
    state: ScanState,
) -> list[tuple[str, dict[str, Any]]]:
    records = []
    for meeting, attendance in zip(page.todo, attendances, strict=True):
        if attendance is None:
            state.meetings_unreadable += 1
            continue
        if attendance.subject_records:
            records.append((meeting_id(meeting), meeting_record(meeting, attendance, subject)))
    return records
