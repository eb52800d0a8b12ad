"""Webex access fetch through the participant index: a request costs its own meetings.

The full scan (``webex_fetch.fetch_access``) reads the participants of every meeting
instance of the organisation for every request. The index keeps, per connection,
the ended instances of the lookback and keyed hashes of their participants'
normalised emails (never an email or a name), so a request:

1. tops the index up: the windowed org-wide listing from the watermark minus a
   trailing margin (instances appear in the listing late), reading participants only
   of instances that are new or not yet settled (Webex adds participants minutes
   after an instance ends; see docs/providers.md, 'Webex: participants');
2. looks up the instances whose hashes match the subject and reads, for each, the
   meeting (a one-minute listing around its start) and its participants, and keeps
   it under exactly the full scan's rules (``meeting_record``).

Single flight: one lease per connection (``IndexStore.acquire``); whoever holds it
scans, the others wait and then find the index fresh. The holder saves the scan's
position with every page, so an interrupted top-up resumes where it stopped.

The index is rebuilt from scratch when it cannot be trusted: another format
version, another hashing key, another Webex organisation, other granted scopes, or a
gap (the lookback reaches before what it covers, or a saved position that does not
continue the watermark). This module is pure: the store (``connectors/
participant_index.py``) keeps the rows, the lease and the key.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.utils import timezone

from connectors.concurrency import bounded_map
from connectors.emails import email_normalize
from connectors.providers.base import Batch
from connectors.providers.webex_fetch import (
    DEFAULT_WINDOW,
    INSTANCE_CAP,
    MEETING,
    MEETINGS_PATH,
    MIN_WINDOW,
    PAGE_MAX,
    Attendance,
    ListedPage,
    ScanState,
    _iso,
    _parse,
    meeting_id,
    meeting_record,
    read_attendance,
    walk_listing,
)

if TYPE_CHECKING:
    from connectors.http import ApiClient

logger = logging.getLogger(__name__)

INDEX_VERSION = 1  # bump when what an entry means changes: every index is rebuilt
CHECKPOINT_KEY = "webex_index"
# Entries a little older than the lookback stay, so a request resumed a few days
# later still finds its whole range instead of forcing a rebuild.
PURGE_GRACE = timedelta(days=7)
MATCH_BATCH = 20  # matching instances read and stored per batch
HEARTBEAT = timedelta(seconds=5)  # while waiting for another scan: a batch this often


class LeaseLost(Exception):
    """Another worker took the index over (our lease expired): stop writing, wait."""


@dataclass(frozen=True)
class IndexedInstance:
    """One instance as the index keeps it: ids, start, settled or not, hashes."""

    instance_id: str
    start: datetime
    settled: bool
    hashes: frozenset[str]


@dataclass
class IndexState:
    """The index-state row, as read."""

    version: int = 0
    org_id: str = ""
    scopes: tuple[str, ...] = ()
    key_id: str = ""
    covered_from: datetime | None = None
    watermark: datetime | None = None
    scan: dict[str, Any] | None = None


class IndexStore(Protocol):
    """Where one connection's index lives; implemented on the database in connectors."""

    key_id: str  # names the hashing key; another key means another index
    scopes: tuple[str, ...]  # the connection's granted scopes, sorted
    lease_seconds: float

    def email_hash(self, email: str) -> str:
        """Keyed hash of a normalised email."""

    def peek(self) -> IndexState:
        """The state without taking the lease."""

    def acquire(self, token: str) -> IndexState | None:
        """Take the lease (free or expired) and return the state; None when held."""

    def renew(self, token: str) -> None:
        """Extend the lease; raises LeaseLost when it is no longer ours."""

    def release(self, token: str) -> None: ...

    def wait(self) -> None:
        """Pause before asking for the lease again (real time: another worker scans)."""

    def reset(self, token: str, state: IndexState) -> None:
        """Drop every entry and store ``state`` (a rebuild starts)."""

    def save(
        self, token: str, scan: dict[str, Any] | None, entries: Sequence[IndexedInstance] = ()
    ) -> None:
        """Replace these instances' entries and save the scan position, in one transaction."""

    def forget(self, token: str, instance_ids: Sequence[str]) -> None: ...

    def finish(self, token: str, *, watermark: datetime, purge_before: datetime) -> None:
        """The scan is complete: advance the watermark, drop entries older than purge_before."""

    def settled_ids(self, instance_ids: Sequence[str]) -> set[str]: ...

    def unsettled(self, start_from: datetime, start_to: datetime) -> list[tuple[str, datetime]]:
        """(instance id, start) of unsettled entries starting in [start_from, start_to)."""

    def matches(
        self, email_hash: str, start_from: datetime, start_to: datetime
    ) -> list[tuple[str, datetime]]:
        """(instance id, start) of entries with this hash starting in [from, to), by start."""


@dataclass(frozen=True)
class Options:
    """The knobs of one indexed fetch (settings by default)."""

    lookback: timedelta
    margin: timedelta
    settle: timedelta
    window: timedelta = DEFAULT_WINDOW
    cap: int = INSTANCE_CAP
    workers: int = 1

    @classmethod
    def from_settings(cls, **overrides: Any) -> Options:
        values: dict[str, Any] = {
            "lookback": timedelta(days=settings.FETCH_LOOKBACK_DAYS),
            "margin": settings.WEBEX_PARTICIPANT_INDEX_MARGIN,
            "settle": settings.WEBEX_PARTICIPANT_INDEX_SETTLE,
            "workers": settings.FETCH_PARTICIPANT_CONCURRENCY,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# --- The request's own position (what the Result's checkpoint stores) ------------------


@dataclass
class RequestState:
    """The request's time range and the instances it already answered.

    ``need`` is when the request started: it needs the index at least that fresh and
    answers instances starting in ``[need - lookback, need)``, as a full scan started
    then would. ``done`` holds the instances already stored for it, so a resumed
    request does not read them again.
    """

    need: datetime
    done: list[str] = field(default_factory=list)
    shown: dict[str, Any] = field(default_factory=dict)  # where the shared scan stood

    @classmethod
    def start(cls) -> RequestState:
        return cls(need=timezone.now().replace(microsecond=0))

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any] | None) -> RequestState | None:
        if not checkpoint or checkpoint.get(CHECKPOINT_KEY) != INDEX_VERSION:
            return None
        try:
            done = checkpoint.get("done") or []
            return cls(need=_parse(checkpoint["need"]), done=[str(d) for d in done])
        except (KeyError, TypeError, ValueError):
            logger.warning("unreadable webex index checkpoint ignored; the request starts over")
            return None

    def checkpoint(self) -> dict[str, Any]:
        # The shared scan's position is shown for staff and tests; the store holds the
        # real one. "webex_scan" is left out so a full scan never resumes from it.
        return {
            **self.shown,
            CHECKPOINT_KEY: INDEX_VERSION,
            "need": _iso(self.need),
            "done": list(self.done),
        }


class _Reading(Attendance):
    """The subject's attendance plus every participant's normalised email, for hashing."""

    def __init__(self, subject: str | None) -> None:
        super().__init__(subject or "")
        self.emails: set[str] = set()

    def add(self, records: Any) -> None:
        records = list(records)
        super().add(records)
        self.emails.update(e for e in (email_normalize(r.get("email")) for r in records) if e)


# --- The fetch --------------------------------------------------------------------------


def fetch_access_indexed(
    client: ApiClient,
    email: str,
    store: IndexStore,
    *,
    checkpoint: dict[str, Any] | None = None,
    lookback_days: int | None = None,
    window: timedelta | None = None,
    instance_cap: int | None = None,
    concurrency: int | None = None,
) -> Iterator[Batch]:
    """Yield "meeting" batches exactly as the full scan's, costing the top-up and the
    subject's own instances instead of the whole organisation."""
    subject = email_normalize(email)
    if not subject:
        raise ValueError("an email address is required")
    options = Options.from_settings(
        lookback=timedelta(days=lookback_days) if lookback_days is not None else None,
        window=window,
        cap=instance_cap,
        workers=concurrency,
    )
    request = RequestState.from_checkpoint(checkpoint) or RequestState.start()
    refresher = _Refresher(client, store, options, subject=subject, request=request)
    yield from refresher.make_fresh()
    yield from _answer(client, store, options, subject, request)


def index_rebuild(
    client: ApiClient, store: IndexStore, *, lookback_days: int | None = None
) -> Iterator[Batch]:
    """Rebuild the index from scratch (the management command); yields empty batches
    with the scan's progress."""
    options = Options.from_settings(
        lookback=timedelta(days=lookback_days) if lookback_days is not None else None
    )
    refresher = _Refresher(client, store, options, subject=None, request=RequestState.start())
    yield from refresher.make_fresh(force_rebuild=True)


def _org_id(client: ApiClient) -> str:
    """The organisation the grant belongs to: a reconnect elsewhere invalidates the index."""
    me = client.get("/people/me").json()
    value = me.get("orgId") if isinstance(me, dict) else None
    return value if isinstance(value, str) else ""


class _Refresher:
    """Brings the index up to the request's ``need``, sharing the work with other workers."""

    def __init__(
        self,
        client: ApiClient,
        store: IndexStore,
        options: Options,
        *,
        subject: str | None,
        request: RequestState,
    ) -> None:
        self.client, self.store, self.options = client, store, options
        self.subject, self.request = subject, request
        self.need_from = request.need - options.lookback
        self.token = uuid.uuid4().hex
        self.renewed_at = timezone.now()
        self.org_id = ""
        self.scan: ScanState | None = None  # the scan in progress, while listing

    def make_fresh(self, *, force_rebuild: bool = False) -> Iterator[Batch]:
        self.org_id = _org_id(self.client)
        rebuild = force_rebuild
        last_beat = timezone.now()
        while True:
            if not rebuild and self._fresh(self.store.peek()):
                return
            state = self.store.acquire(self.token)
            if state is None:
                self.store.wait()
                if timezone.now() - last_beat >= HEARTBEAT:
                    last_beat = timezone.now()
                    yield self._progress_batch(self.store.peek())
                continue
            try:
                self.renewed_at = timezone.now()
                reason = "requested" if rebuild else self._distrust(state)
                if reason is None and self._fresh(state):
                    return
                if reason is not None:
                    logger.info("webex participant index rebuilt", extra={"reason": reason})
                    state = IndexState(
                        version=INDEX_VERSION,
                        org_id=self.org_id,
                        scopes=self.store.scopes,
                        key_id=self.store.key_id,
                        covered_from=self.need_from,
                    )
                    self.store.reset(self.token, state)
                    rebuild = False
                yield from self._scan(state)
            except LeaseLost:
                logger.info("webex participant index: lease lost, waiting for the new holder")
            finally:
                self.store.release(self.token)

    def _fresh(self, state: IndexState) -> bool:
        return (
            self._distrust(state) is None
            and state.scan is None
            and state.watermark is not None
            and state.watermark >= self.request.need
        )

    def _distrust(self, state: IndexState) -> str | None:
        """Why the index cannot be used as it is (a rebuild), or None."""
        if state.version != INDEX_VERSION:
            return "version"
        if state.key_id != self.store.key_id:
            return "key"
        if state.org_id != self.org_id:
            return "organisation"
        if tuple(state.scopes) != tuple(self.store.scopes):
            return "scopes"
        if state.covered_from is None or state.covered_from > self.need_from:
            return "gap"  # the lookback reaches before what the index covers
        if state.scan is not None:
            scan = ScanState.from_checkpoint(state.scan)
            if scan is None:
                return "gap"
            end = state.watermark or state.covered_from
            if scan.range_from > end:
                return "gap"  # a saved top-up that does not continue the watermark
        return None

    def _scan_state(self, state: IndexState) -> tuple[ScanState, dict[str, Any]]:
        if state.scan is not None:
            scan = ScanState.from_checkpoint(state.scan)
            assert scan is not None  # _distrust refused anything else
            return scan, state.scan
        now = timezone.now()
        start = self.need_from if state.watermark is None else state.watermark - self.options.margin
        assert state.covered_from is not None
        start = max(start, state.covered_from)
        span = max(int(self.options.window.total_seconds()), int(MIN_WINDOW.total_seconds()))
        scan = ScanState(
            range_from=start,
            range_to=now.replace(microsecond=0),
            window_from=start,
            span_seconds=span,
        )
        return scan, scan.checkpoint()

    def _scan(self, state: IndexState) -> Iterator[Batch]:
        scan, saved = self._scan_state(state)
        self.scan = scan
        if state.scan is None:
            self.store.save(self.token, saved)
        for entries, records in walk_listing(
            self.client,
            scan,
            cap=self.options.cap,
            read=self._read,
            finish=self._page,
            workers=self.options.workers,
            select=self._unsettled,
            on_read=self._keep_lease,
        ):
            self.store.save(self.token, scan.checkpoint(), entries)
            yield self._batch(records, scan)
        # Unsettled instances older than the listed range (long meetings): read one by one.
        assert state.covered_from is not None
        stale = self.store.unsettled(state.covered_from, scan.range_from)
        if stale:
            entries, records, gone = self._reread(stale)
            self.store.forget(self.token, gone)
            self.store.save(self.token, scan.checkpoint(), entries)
            yield self._batch(records, scan)
        self.store.finish(
            self.token,
            watermark=scan.range_to,
            purge_before=self.need_from - PURGE_GRACE,
        )

    def _unsettled(self, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The page's instances whose participants are read: new or not yet settled."""
        settled = self.store.settled_ids([meeting_id(m) for m in fresh])
        return [m for m in fresh if meeting_id(m) not in settled]

    def _page(
        self, page: ListedPage, readings: list[_Reading | None]
    ) -> tuple[list[IndexedInstance], list[tuple[str, dict[str, Any]]]]:
        """The entries and the request's records of one listing page, all reads done."""
        if self.scan is not None:
            self.scan.meetings_unreadable += sum(1 for reading in readings if reading is None)
        return self._results(list(zip(page.todo, readings, strict=True)), page.listed_at)

    def _reread(
        self, instances: list[tuple[str, datetime]]
    ) -> tuple[list[IndexedInstance], list[tuple[str, dict[str, Any]]], list[str]]:
        """Read single instances again (meeting, then participants); returns the entries,
        the request's records and the instances that are gone."""
        read_at = timezone.now()

        def one(item: tuple[str, datetime]) -> tuple[dict[str, Any] | None, _Reading | None]:
            meeting = read_meeting(self.client, *item)
            return meeting, (self._read(meeting) if meeting is not None else None)

        found = []
        for result in bounded_map(one, instances, max_workers=self.options.workers):
            found.append(result)
            self._keep_lease()
        gone = [i for (i, _), (meeting, _) in zip(instances, found, strict=True) if meeting is None]
        entries, records = self._results([(m, r) for m, r in found if m is not None], read_at)
        return entries, records, gone

    def _read(self, meeting: dict[str, Any]) -> _Reading | None:
        return read_attendance(self.client, meeting, self.subject or "", _Reading(self.subject))

    def _results(
        self, read: list[tuple[dict[str, Any], _Reading | None]], read_at: datetime
    ) -> tuple[list[IndexedInstance], list[tuple[str, dict[str, Any]]]]:
        entries, records = [], []
        for meeting, reading in read:
            entries.append(self._entry(meeting, reading, read_at))
            if reading is not None and self._answers(meeting, reading):
                records.append(
                    (meeting_id(meeting), meeting_record(meeting, reading, self.subject))
                )
        self._mark_done(records)
        return entries, records

    def _entry(
        self, meeting: dict[str, Any], reading: _Reading | None, read_at: datetime
    ) -> IndexedInstance:
        """Settled once ended for longer than the settle time when read; a later read of
        an unsettled instance replaces it."""
        try:
            ended = meeting.get("state") == "ended" and (
                _parse(meeting.get("end")) <= read_at - self.options.settle
            )
        except ValueError:
            ended = False
        hashes = frozenset(self.store.email_hash(e) for e in (reading.emails if reading else ()))
        return IndexedInstance(
            instance_id=meeting_id(meeting),
            start=_start(meeting) or read_at,
            settled=ended,
            hashes=hashes,
        )

    def _answers(self, meeting: dict[str, Any], reading: _Reading) -> bool:
        """Whether this read instance belongs in the request's own answer."""
        if self.subject is None or meeting_id(meeting) in self.request.done:
            return False
        start = _start(meeting)
        in_range = start is not None and self.need_from <= start < self.request.need
        return in_range and bool(reading.subject_records)

    def _mark_done(self, records: list[tuple[str, dict[str, Any]]]) -> None:
        self.request.done.extend(ext for ext, _ in records if ext not in self.request.done)

    def _keep_lease(self) -> None:
        now = timezone.now()
        if (now - self.renewed_at).total_seconds() >= self.store.lease_seconds / 3:
            self.store.renew(self.token)
            self.renewed_at = now

    def _batch(self, records: list[tuple[str, dict[str, Any]]], scan: ScanState) -> Batch:
        self.request.shown = {k: v for k, v in scan.checkpoint().items() if k != "webex_scan"}
        return Batch(
            MEETING,
            records,
            checkpoint=self.request.checkpoint(),
            progress=scan.progress(),
            note=scan.meeting_note(),
        )

    def _progress_batch(self, state: IndexState) -> Batch:
        """While another worker scans: no records, its progress, our heartbeat."""
        scan = ScanState.from_checkpoint(state.scan)
        return Batch(
            MEETING,
            [],
            checkpoint=self.request.checkpoint(),
            progress=scan.progress() if scan else {},
        )


def _answer(
    client: ApiClient,
    store: IndexStore,
    options: Options,
    subject: str,
    request: RequestState,
) -> Iterator[Batch]:
    """Read the instances whose hashes match the subject, under the full scan's rules."""
    matches = store.matches(
        store.email_hash(subject), request.need - options.lookback, request.need
    )
    todo = [item for item in matches if item[0] not in request.done]
    unreadable = 0
    for offset in range(0, len(todo), MATCH_BATCH):
        chunk = todo[offset : offset + MATCH_BATCH]
        found = list(
            bounded_map(
                lambda item: _read_match(client, subject, *item),
                chunk,
                max_workers=options.workers,
            )
        )
        records = []
        for (instance_id, _), (meeting, attendance) in zip(chunk, found, strict=True):
            if meeting is not None and attendance is None:
                unreadable += 1
            elif meeting is not None and attendance is not None and attendance.subject_records:
                records.append((instance_id, meeting_record(meeting, attendance, subject)))
        request.done.extend(instance_id for instance_id, _ in chunk)
        note = (
            f"{unreadable} meeting(s) had no readable participant list "
            "(deleted or not yet available) and were skipped."
            if unreadable
            else ""
        )
        yield Batch(
            MEETING,
            records,
            checkpoint=request.checkpoint(),
            progress={"matches_done": offset + len(chunk), "matches_total": len(todo)},
            note=note,
        )


def _read_match(
    client: ApiClient, subject: str, instance_id: str, start: datetime
) -> tuple[dict[str, Any] | None, Attendance | None]:
    meeting = read_meeting(client, instance_id, start)
    if meeting is None:
        return None, None
    return meeting, read_attendance(client, meeting, subject)


def read_meeting(client: ApiClient, instance_id: str, start: datetime) -> dict[str, Any] | None:
    """One instance as the org-wide listing shows it (the same object a full scan keeps),
    from a one-minute window at its start; None when it is no longer listed."""
    params = {
        "meetingType": "meeting",
        "from": _iso(start),
        "to": _iso(start + MIN_WINDOW),
        "max": PAGE_MAX,
    }
    for page in client.paginate(MEETINGS_PATH, params=params):
        for meeting in page.items:
            if isinstance(meeting, dict) and meeting.get("id") == instance_id:
                return meeting
    return None


def _start(meeting: dict[str, Any]) -> datetime | None:
    try:
        return _parse(meeting.get("start"))
    except ValueError:
        return None
