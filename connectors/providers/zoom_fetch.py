"""Zoom access fetch: find the person by email, then fetch every object type they own.

The work is split into units: one object type, or one list call (a meeting
``type``, a month window of recordings or phone history). Units run in parallel
(``ZOOM_FETCH_CONCURRENCY`` at once, ``worker_pool``) inside the shared rate
budget; only the Zoom Phone units wait for the phone-user lookup (no Phone, no
licence: they are settled without a call). Their batches come out in a fixed order
(the user, the phone user, then the plan's), so the checkpoint after a batch is
simply "these units are complete, and this one stopped at this page token". A
resumed fetch skips the complete units and continues the one in progress. A unit's
pages reach the consumer as they are read (not when the unit ends), and the pages
already read of one object type go out as one batch, so the pipeline stores a long
phone history while the rest of it is still being read.

Why the windows: Zoom serves cloud recordings and phone history at most one month
per call (recordings default to today only, phone history to the last day or 30
days), and phone history only for the last six months (see docs/providers.md,
'Zoom: recordings' and 'Zoom: phone').
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone

from connectors.concurrency import Pending, worker_pool
from connectors.dates import add_months
from connectors.emails import email_normalize
from connectors.exceptions import (
    ApiError,
    ClientError,
    Forbidden,
    MalformedResponse,
    NotFound,
    ScopeMissing,
)
from connectors.http import Page
from connectors.providers.base import Batch, SubjectNotFound
from connectors.providers.zoom_codes import ZoomCode
from connectors.providers.zoom_scopes import SCOPE_FOR_OBJECT_TYPE

if TYPE_CHECKING:
    from connectors.http import ApiClient

logger = logging.getLogger(__name__)

PAGE_SIZE = 300  # Zoom's maximum page_size
PHONE_MONTHS = 6  # Zoom Phone history reaches back six calendar months
CHECKPOINT_VERSION = 1
MEETING_TYPES = ("scheduled", "live", "upcoming", "upcoming_meetings", "previous_meetings")
WEBINAR_TYPES = ("scheduled", "upcoming")
USER_STATUSES = ("active", "inactive", "pending")
PHONE_TYPES = ("phone_user", "phone_settings", "call_log", "voicemail", "phone_recording")

NOT_FOUND = "Zoom has no user with this email address in the connected account."
NO_PHONE = "This Zoom account does not have Zoom Phone."
NO_PHONE_LICENCE = "This person has no Zoom Phone licence, so Zoom Phone holds nothing for them."
NO_WEBINARS = "This Zoom account does not have webinars (no webinar plan)."
NO_MEETING_HOSTING = "Zoom does not let this person host or schedule meetings, so it lists none."

# The scope each object type's endpoint needs.
SCOPES = SCOPE_FOR_OBJECT_TYPE


def scope_note(object_type: str) -> str:
    """The plain-words reason shown when Zoom refuses an object type for a missing scope."""
    return f"The connection lacks the scope {SCOPES[object_type]}; reconnect with it."


# --- Units and the plan -------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One resumable piece of work: a single object, or one listing (all its pages)."""

    key: str  # "settings", "meeting:live", "recording:2025-04-01" (window start)
    object_type: str
    path: str
    items_key: str = ""  # empty: the endpoint answers with one object
    params: tuple[tuple[str, str], ...] = ()
    category: str = "medium"
    id_field: str = "id"
    phone_history: bool = False  # window must stay inside the last six months


MAX_PAGES = 1000  # per listing and window; a guard against a provider that never ends

NOTE_TRUNCATED = (
    "Zoom listed more pages than the fetch reads in one go; some objects of this type "
    "are missing. Contact support."
)


@dataclass
class Outcome:
    """How a unit ended (its pages went to ``on_page`` as they came): a note when Zoom
    said the type is empty for a known reason, and whether the listing stopped at the
    page limit with more to come."""

    note: str = ""
    truncated: bool = False


_END = object()  # put on a unit's page queue when its worker is done, however it ended


class _PageStream:
    """A unit's pages, handed from its worker to the consumer as they arrive, so the
    pipeline stores a long listing while the rest of it is still being read."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()

    def run(self, fn: Callable[[Callable[[Page], None]], Outcome]) -> Callable[[], Outcome]:
        def work() -> Outcome:
            try:
                return fn(self._queue.put)
            finally:
                self._queue.put(_END)

        return work

    def next(self, *, wait: bool) -> object:
        """The next page, ``_END`` once the unit is done, or ``_NOT_YET`` (``wait=False``
        and nothing has arrived)."""
        try:
            return self._queue.get(block=wait)
        except queue.Empty:
            return _NOT_YET


_NOT_YET = object()
# Pages gathered into one batch at most: already-read pages of one object type are
# stored together (one transaction instead of one per page) while the rest is read.
MAX_BATCH_RECORDS = 3000


def month_windows(first: date, last: date) -> list[tuple[date, date]]:
    """Consecutive inclusive date ranges covering first..last, each shorter than a month."""
    windows = []
    start = first
    while start <= last:
        end = min(add_months(start, 1) - timedelta(days=1), last)
        windows.append((start, end))
        start = end + timedelta(days=1)
    return windows


def build_plan(user_id: str, anchor: date, lookback_days: int) -> list[Unit]:
    """Every unit after the lookup and the phone profile, in the order batches come out."""
    users = f"/users/{quote(user_id, safe='')}"
    phone = f"/phone/users/{quote(user_id, safe='')}"
    units = [Unit("settings", "settings", f"{users}/settings")]
    units += [
        Unit(f"meeting:{kind}", "meeting", f"{users}/meetings", "meetings", (("type", kind),))
        for kind in MEETING_TYPES
    ]
    units += [
        Unit(f"webinar:{kind}", "webinar", f"{users}/webinars", "webinars", (("type", kind),))
        for kind in WEBINAR_TYPES
    ]
    units += [
        Unit(
            f"recording:{start}",
            "recording",
            f"{users}/recordings",
            "meetings",
            (("from", start.isoformat()), ("to", end.isoformat())),
            id_field="uuid",
        )
        for start, end in month_windows(anchor - timedelta(days=lookback_days), anchor)
    ]
    units.append(Unit("phone_settings", "phone_settings", f"{phone}/settings", category="light"))
    phone_windows = month_windows(add_months(anchor, -PHONE_MONTHS), anchor)
    for object_type, endpoint, extra in (
        ("call_log", "call_logs", (("type", "all"),)),
        ("voicemail", "voice_mails", (("status", "all"),)),
        ("phone_recording", "recordings", ()),
    ):
        units += [
            Unit(
                f"{object_type}:{start}",
                object_type,
                f"{phone}/{endpoint}",
                endpoint,  # the list's key in the response is named like the endpoint
                (("from", start.isoformat()), ("to", end.isoformat()), *extra),
                phone_history=True,
            )
            for start, end in phone_windows
        ]
    return units


def phone_user_unit(user_id: str) -> Unit:
    return Unit(
        "phone_user", "phone_user", f"/phone/users/{quote(user_id, safe='')}", category="light"
    )


# --- Checkpoint -----------------------------------------------------------------------


@dataclass
class Progress:
    """Where a fetch stands; its JSON form is the pipeline's checkpoint.

    ``{"v": 1, "anchor": "2026-03-31", "user_id": "<zoom id>", "done": ["meeting",
    "recording:2025-03-31", ...], "cursor": {"unit": "call_log:2025-10-30",
    "next_page_token": "..."}, "pages": 17}``: ids, dates, unit keys and one Zoom
    page token; never an access token or personal data. ``anchor`` is the day the
    fetch started; windows are computed from it, so a resume on a later day meets
    the same unit keys. Object types whose units are all done collapse to the
    type's name, which keeps the checkpoint small.
    """

    anchor: date
    user_id: str | None = None
    done: set[str] = field(default_factory=set)
    cursor: dict[str, str] | None = None
    pages: int = 0

    @classmethod
    def load(cls, checkpoint: dict[str, Any] | None, today: date) -> Progress:
        """Continue from ``checkpoint``; anything unreadable starts a fresh fetch."""
        data = checkpoint or {}
        try:
            if data.get("v") != CHECKPOINT_VERSION:
                raise ValueError("no checkpoint of this version")
            cursor = data.get("cursor")
            return cls(
                anchor=date.fromisoformat(data["anchor"]),
                user_id=str(data["user_id"]) if data.get("user_id") else None,
                done={str(key) for key in data.get("done", [])},
                cursor=dict(cursor) if isinstance(cursor, dict) else None,
                pages=int(data.get("pages", 0)),
            )
        except (KeyError, TypeError, ValueError):
            return cls(anchor=today)

    def expand(self, universe: list[Unit]) -> None:
        """Turn collapsed object types ("recording") back into their unit keys."""
        for unit in universe:
            if unit.object_type in self.done:
                self.done.add(unit.key)

    def is_done(self, unit: Unit) -> bool:
        return unit.key in self.done or unit.object_type in self.done

    def dump(self, universe: list[Unit]) -> dict[str, Any]:
        """JSON for the pipeline; fully finished object types collapse to their name."""
        done = set(self.done)
        for object_type in {u.object_type for u in universe}:
            keys = {u.key for u in universe if u.object_type == object_type}
            if keys <= done:
                done = (done - keys) | {object_type}
        checkpoint: dict[str, Any] = {
            "v": CHECKPOINT_VERSION,
            "anchor": self.anchor.isoformat(),
            "user_id": self.user_id,
            "done": sorted(done),
            "pages": self.pages,
        }
        if self.cursor:
            checkpoint["cursor"] = dict(self.cursor)
        return checkpoint

    def counters(self, universe: list[Unit]) -> dict[str, int]:
        finished = sum(1 for unit in universe if self.is_done(unit))
        return {"windows_done": finished, "windows_total": len(universe), "pages": self.pages}


# --- The fetch --------------------------------------------------------------------------


def fetch_access(
    client: ApiClient,
    email: str,
    *,
    checkpoint: dict[str, Any] | None = None,
    lookback_days: int | None = None,
    page_size: int | None = None,
    max_workers: int | None = None,
    max_pages: int = MAX_PAGES,
    gather: bool = True,
) -> Iterator[Batch]:
    """Yield the subject's Zoom objects as batches, resuming from ``checkpoint``.

    A batch holds the pages already read of one object type, up to
    ``MAX_BATCH_RECORDS`` records (``gather=False``: every page is a batch of its own).

    Raises ``SubjectNotFound`` when the account has no such user. Object types
    Zoom refuses for a known reason (no Phone, no licence, no webinars, a missing
    scope) come back empty with a ``note``; other API errors propagate.
    """
    lookback_days = settings.FETCH_LOOKBACK_DAYS if lookback_days is None else lookback_days
    page_size = page_size or PAGE_SIZE
    # Units fetched at once (``ZOOM_FETCH_CONCURRENCY``): enough for every unit of one
    # subject to overlap, so the wall time is close to the slowest chain; the shared
    # per-category budget still paces every call.
    max_workers = max_workers or settings.ZOOM_FETCH_CONCURRENCY
    progress = Progress.load(checkpoint, timezone.now().date())

    user: dict[str, Any] | None = None
    if progress.user_id is None:
        user = find_user(client, email)
        progress.user_id = _user_id(user)
    user_id = progress.user_id
    head = [Unit("user", "user", ""), phone_user_unit(user_id)]
    plan = build_plan(user_id, progress.anchor, lookback_days)
    universe = head + plan
    progress.expand(universe)

    def batch(object_type: str, records: list, note: str = "") -> Batch:
        return Batch(
            object_type,
            records,
            checkpoint=progress.dump(universe),
            progress=progress.counters(universe),
            note=note,
        )

    if user is not None:
        progress.done.add("user")
        progress.pages += 1
        yield batch("user", [(user_id, user)])

    phone_unit = head[1]
    cursor = progress.cursor or {}
    serial = max_workers <= 1  # the serial pool runs a unit only when its result is asked
    streams: dict[str, tuple[_PageStream, Pending[Outcome]]] = {}
    seen: dict[str, set[str]] = {}

    with worker_pool(max_workers) as submit:

        def start(unit: Unit) -> None:
            token = cursor.get("next_page_token") if cursor.get("unit") == unit.key else None
            stream = _PageStream()
            work = stream.run(
                lambda on_page: run_unit(
                    client,
                    unit,
                    page_size=page_size,
                    start_cursor=token,
                    max_pages=max_pages,
                    on_page=on_page,
                )
            )
            streams[unit.key] = (stream, submit(work))

        # The phone-user lookup says whether Zoom Phone holds anything for the person;
        # only the phone units wait for it, the others start with it.
        if not progress.is_done(phone_unit):
            start(phone_unit)
        for unit in plan:
            if unit.object_type not in PHONE_TYPES and not progress.is_done(unit):
                start(unit)
        phone_batches: list[Batch] = []
        if phone_unit.key in streams:
            pages = list(_pages(*streams[phone_unit.key], serial=serial))
            note = streams[phone_unit.key][1].result().note
            progress.done.add(phone_unit.key)
            progress.pages += len(pages)
            if note in (NO_PHONE, NO_PHONE_LICENCE):
                # Nothing else in Zoom Phone can exist for this person: settle every
                # phone type.
                progress.done.update(u.key for u in plan if u.object_type in PHONE_TYPES)
            records = [(user_id, item) for page in pages for item in page.items]
            phone_batches.append(batch("phone_user", records, note))
            if note in (NO_PHONE, NO_PHONE_LICENCE):
                phone_batches += [batch(t, [], note) for t in PHONE_TYPES[1:]]
        for unit in plan:
            if unit.object_type in PHONE_TYPES and not progress.is_done(unit):
                start(unit)
        yield from phone_batches

        # The plan's units in order. Pages already read (of one object type, across its
        # units) go out together; whatever is gathered goes out before waiting for more,
        # so the pipeline stores it while the rest is read. A page with nothing new
        # rides along with the next batch (the checkpoint covers every page read).
        out = _Gathered(batch, limit=MAX_BATCH_RECORDS if gather else 0)
        for unit in plan:
            if unit.key not in streams:
                continue
            yield from out.switch_to(unit.object_type)
            stream, pending = streams[unit.key]
            if serial:  # the serial pool runs the unit here: a wait like any other
                yield from out.flush()
                pending.result()
            unit_seen = seen.setdefault(unit.object_type, set())
            while True:
                page = stream.next(wait=False)
                if page is _NOT_YET:
                    yield from out.flush()
                    page = stream.next(wait=True)
                if page is _END:
                    break
                page = cast(Page, page)
                if page.next_cursor:
                    progress.cursor = {"unit": unit.key, "next_page_token": page.next_cursor}
                else:
                    progress.done.add(unit.key)
                    progress.cursor = None
                progress.pages += 1
                yield from out.add(_records(unit, page, user_id, unit_seen))
            outcome = pending.result()
            if unit.key in progress.done and not outcome.note:
                continue
            # No page (a known "nothing here" answer), or the listing stopped at the page
            # limit with more to come: say so, never drop the rest silently.
            if outcome.truncated:
                logger.warning("zoom listing truncated at the page limit", extra={"unit": unit.key})
            progress.done.add(unit.key)
            progress.cursor = None
            yield from out.add([], note=NOTE_TRUNCATED if outcome.truncated else outcome.note)
        yield from out.flush()


class _Gathered:
    """Records of one object type waiting to go out as one batch, and whether the
    progress moved since the last batch."""

    def __init__(self, make: Callable[[str, list, str], Batch], *, limit: int) -> None:
        self._make, self._limit = make, limit
        self.kind, self.note = "", ""
        self.records: list[tuple[str, dict[str, Any]]] = []
        self.moved = False

    def switch_to(self, kind: str) -> Iterator[Batch]:
        if kind != self.kind and (self.records or self.note):
            yield from self.flush()
        self.kind = kind

    def add(self, records: list[tuple[str, dict[str, Any]]], note: str = "") -> Iterator[Batch]:
        self.records += records
        self.note = note or self.note
        self.moved = True
        if len(self.records) >= self._limit or note:
            yield from self.flush()

    def flush(self) -> Iterator[Batch]:
        if self.moved or self.records or self.note:
            yield self._make(self.kind, self.records, self.note)
            self.records, self.note, self.moved = [], "", False


def _pages(stream: _PageStream, pending: Pending[Outcome], *, serial: bool) -> Iterator[Page]:
    """One unit's pages in order, waiting for each."""
    if serial:
        pending.result()  # the serial pool runs the unit only when its result is asked
    while (page := stream.next(wait=True)) is not _END:
        yield page  # type: ignore[misc]


def _records(
    unit: Unit, page: Page, user_id: str, seen: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(external id, object) pairs; an object listed again (another meeting type) is dropped."""
    if not unit.items_key:
        return [(user_id, item) for item in page.items]
    records = []
    for item in page.items:
        external_id = _external_id(item, unit.id_field)
        if external_id in seen:
            continue
        seen.add(external_id)
        records.append((external_id, item))
    return records


def _external_id(item: dict[str, Any], id_field: str) -> str:
    for name in (id_field, "id", "uuid"):
        value = item.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    # No id at all: a digest of the content is stable across re-runs.
    canonical = json.dumps(item, sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _user_id(user: dict[str, Any]) -> str:
    value = user.get("id")
    if not isinstance(value, str) or not value:
        raise MalformedResponse.without_response("Zoom user has no id", provider="zoom")
    return value


# --- Units ------------------------------------------------------------------------------


def run_unit(
    client: ApiClient,
    unit: Unit,
    *,
    page_size: int,
    on_page: Callable[[Page], None],
    start_cursor: str | None = None,
    max_pages: int = MAX_PAGES,
) -> Outcome:
    """Fetch one unit completely, handing each page to ``on_page`` as it is read;
    Zoom's known "nothing here" answers become a note."""
    params = dict(unit.params)
    if unit.phone_history:
        # A resumed fetch may run days later: keep the window inside today's reach.
        floor = add_months(timezone.now().date(), -PHONE_MONTHS).isoformat()
        if params["to"] < floor:
            return Outcome()
        params["from"] = max(params["from"], floor)
    try:
        if not unit.items_key:
            on_page(Page([client.get(unit.path, category=unit.category).json()], None))
            return Outcome()
        return _all_pages(client, unit, params, page_size, start_cursor, max_pages, on_page)
    except ApiError as exc:
        note = _note_for(unit, exc)
        if note is None:
            raise
        return Outcome(note=note)


def _all_pages(
    client: ApiClient,
    unit: Unit,
    params: dict[str, str],
    page_size: int,
    start_cursor: str | None,
    max_pages: int,
    on_page: Callable[[Page], None],
) -> Outcome:
    def pages(cursor: str | None) -> Outcome:
        last = None
        for last in client.paginate(
            unit.path,
            params=params,
            items_key=unit.items_key,
            page_size=page_size,
            start_cursor=cursor,
            category=unit.category,
            max_pages=max_pages,
        ):
            on_page(last)
        return Outcome(truncated=bool(last and last.next_cursor))

    if not start_cursor:
        return pages(None)
    try:
        return pages(start_cursor)
    except ClientError as exc:
        if exc.status != 400:
            raise
        # Page tokens live 15 minutes: an old one is refused (on its first call, before
        # any page), so list the window again.
        logger.info("zoom page token refused on resume; listing the window again")
        return pages(None)


def _note_for(unit: Unit, exc: ApiError) -> str | None:
    """Plain words for an answer that means "this object type is empty", else None."""
    if isinstance(exc, ScopeMissing):
        return scope_note(unit.object_type)
    if exc.provider_code == ZoomCode.PHONE_NOT_ENABLED and unit.object_type in PHONE_TYPES:
        return NO_PHONE
    if (
        isinstance(exc, NotFound)
        and exc.provider_code == ZoomCode.USER_NOT_FOUND
        and unit.object_type in PHONE_TYPES
    ):
        return NO_PHONE_LICENCE
    if unit.object_type == "webinar" and (
        isinstance(exc, Forbidden)
        or (isinstance(exc, ClientError) and exc.provider_code == ZoomCode.NO_PERMISSION)
    ):
        return NO_WEBINARS
    if unit.object_type == "meeting" and exc.provider_code == ZoomCode.MEETING_HOSTING_NOT_ALLOWED:
        return NO_MEETING_HOSTING
    return None


# --- Finding the person -------------------------------------------------------------------


def find_user(client: ApiClient, email: str) -> dict[str, Any]:
    """The Zoom user for ``email`` whatever its letter case, or ``SubjectNotFound``.

    Zoom does not document whether ``GET /users/{email}`` ignores case, so: the
    email as given, then lowercased, then a scan of every user list (active,
    inactive, pending) when the app may list users.
    """
    given = email.strip()
    for candidate in dict.fromkeys([given, given.lower()]):
        user = _get_user(client, candidate)
        if user is not None:
            return user
    listed = _scan_users(client, given.lower())
    if listed is not None:
        key = listed.get("id") or listed.get("email")  # pending users have no id
        user = _get_user(client, str(key)) if key else None
        if user is not None:
            return user
    raise SubjectNotFound(NOT_FOUND)


def _get_user(client: ApiClient, key: str) -> dict[str, Any] | None:
    try:
        return client.get(f"/users/{quote(key, safe='@')}", category="light").json()
    except NotFound as exc:
        if exc.provider_code in (ZoomCode.USER_NOT_FOUND, None):
            return None
        raise
    except ClientError as exc:
        if exc.provider_code == ZoomCode.INVITATION_NOT_FOUND:  # a pending or expired invite
            return None
        raise


def _scan_users(client: ApiClient, wanted: str) -> dict[str, Any] | None:
    for status in USER_STATUSES:
        try:
            for page in client.paginate(
                "/users",
                params={"status": status},
                items_key="users",
                page_size=PAGE_SIZE,
                category="medium",
            ):
                for item in page.items:
                    listed = item.get("email")
                    if email_normalize(listed) == wanted:
                        return item
        except ScopeMissing:
            # Granular apps often lack the list-users scope; the scan is a bonus.
            logger.info("zoom user list not allowed; email lookup without a scan")
            return None
    return None
