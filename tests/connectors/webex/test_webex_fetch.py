"""The Webex access fetch against the simulator, over real HTTP.

One full 400-day scan (module fixture) is checked against the simulator's
independently computed truth and its request log; the other tests use short
lookbacks and go through ``api_client_for`` (real token source, refresh, budget)
or the whole fetch pipeline (stored Records, checkpoints, retries).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from connectors.emails import email_normalize
from connectors.http import ApiClient
from connectors.models import Connection
from connectors.providers import get_provider
from connectors.providers.base import Batch
from connectors.providers.webex_fetch import (
    MEETING,
    fetch_access,
)
from connectors.simulator import start_in_thread
from connectors.simulator.seed import (
    SUBJECT_EMAIL,
    SUBJECT_SHOUTED_EMAIL,
    SUBJECT_STORED_EMAIL,
    UNKNOWN_EMAIL,
)
from requests_app.models import PrivacyRequest, Record, Result
from requests_app.services import fetching
from tests.connectors.doubles import StaticToken
from tests.factories import (
    PrivacyRequestFactory,
    ResultFactory,
    simulator_connection,
)

# Every wait here is fake time, and backoff waits are the top of their range.
pytestmark = pytest.mark.usefixtures("max_jitter_clock")

MEETINGS_PATH = "/webex/v1/meetings"
PARTICIPANTS_PATH = "/webex/v1/meetingParticipants"
FULL_LOOKBACK = 400  # 13 months and more: reaches the 395-day-old instance
SHORT_LOOKBACK = 25  # four 7-day windows; includes the 162-person "All hands"
# How the request names the subject in the full scan: other case, stray spaces.
ASKED_AS = "  DANA.kowalski@Acme.EXAMPLE "
UNLIMITED = {"webex": {"default": (100_000, 60.0)}}


# --- helpers --------------------------------------------------------------------------


def stored(batches: list[Batch]) -> dict[tuple[str, str], dict[str, Any]]:
    """What the pipeline's upsert keeps: the last data per (object type, external id)."""
    return {(b.object_type, ext): data for b in batches for ext, data in b.records}


def meetings_of(records: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {ext: data for (kind, ext), data in records.items() if kind == MEETING}


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def host_fields(data: dict[str, Any]) -> set[str]:
    return {k for k in data if k.startswith("host") and k != "host"}


def strings_in(value: Any) -> Iterator[str]:
    """Every key and string value in a JSON document, at any depth."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str):
        yield value


def check_against_truth(meetings: dict[str, dict[str, Any]], truth: list[dict[str, Any]]) -> None:
    """Same instances, and for each: counts, 1-on-1 flag, subject records, host attributes."""
    assert set(meetings) == {t["id"] for t in truth}
    for expected in truth:
        data = meetings[expected["id"]]
        assert data["total_participants"] == expected["distinct_participants"], expected["title"]
        assert data["is_1_on_1_conversation"] is expected["is_1_on_1"], expected["title"]
        assert len(data["subject_participants"]) == expected["subject_records"], expected["title"]
        if expected["subject_is_host"]:
            assert data["hostEmail"] == expected["host_email"]
            assert {"hostDisplayName", "hostUserId", "hostKey"} <= host_fields(data)
        else:
            assert host_fields(data) == set(), expected["title"]
            for record in data["subject_participants"]:
                assert host_fields(record) == set()
                assert record["host"] is False


def window_requests(sim, provider_log=None) -> list[tuple[datetime, datetime]]:
    log = provider_log if provider_log is not None else sim.requests("webex", MEETINGS_PATH)
    return [(parse(r.query["from"][0]), parse(r.query["to"][0])) for r in log if "from" in r.query]


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def webex(simulator, settings):
    """The simulator with rate limits out of the way (they have their own tests)."""
    settings.CONNECTOR_RATE_LIMITS = UNLIMITED
    settings.FETCH_PARTICIPANT_CONCURRENCY = 8
    settings.FETCH_LOOKBACK_DAYS = SHORT_LOOKBACK
    simulator.configure(webex_rate_per_minute=100_000)
    return simulator


@pytest.fixture(scope="module")
def full_scan():
    """One complete 400-day scan with 7-day windows, shared by the read-only checks below."""
    handle = start_in_thread(port=0)
    try:
        handle.state.configure(webex_rate_per_minute=100_000)
        token = handle.state.mint_token(provider="webex")["access_token"]
        client = ApiClient(
            provider=get_provider("webex"),
            base_url=handle.webex_base_url,
            token_source=StaticToken(token),
        )
        started = timezone.now()
        batches = list(fetch_access(client, ASKED_AS, lookback_days=FULL_LOOKBACK, concurrency=8))
        state = handle.state
        truth = state.expected_webex_meetings(
            SUBJECT_EMAIL, started - timedelta(days=FULL_LOOKBACK), started
        )
        yield {
            "batches": batches,
            "records": stored(batches),
            "truth": truth,
            "log": state.requests("webex"),
            "org": state.org.webex,
            "token": token,
            "started": started,
        }
    finally:
        handle.stop()


# --- the full scan: rules, hard cases, truth ------------------------------------------


def test_full_scan_finds_exactly_the_simulators_truth(full_scan):
    meetings = meetings_of(full_scan["records"])
    truth = full_scan["truth"]
    assert len(truth) > 60
    check_against_truth(meetings, truth)
    # Far older than the API's 7-day default window, and older than 12 months.
    oldest = min(parse(m["start"]) for m in meetings.values())
    assert full_scan["started"] - oldest > timedelta(days=390)


def test_hard_cases(full_scan):
    by_title: dict[str, list[dict[str, Any]]] = {}
    for data in meetings_of(full_scan["records"]).values():
        by_title.setdefault(data["title"], []).append(data)

    def one(title: str) -> dict[str, Any]:
        assert len(by_title[title]) == 1, title
        return by_title[title][0]

    # Subject hosts and joins; the provider stores the email in mixed case.
    planning = one("Dana's planning <b>Q3</b>")
    assert planning["hostEmail"] == SUBJECT_STORED_EMAIL
    assert planning["hostKey"] and planning["hostDisplayName"] == "Dana Kowalski"
    assert planning["total_participants"] == 5 and not planning["is_1_on_1_conversation"]
    assert [p["host"] for p in planning["subject_participants"]] == [True]
    # Hosting but absent: not a participant, so not the subject's meeting.
    assert "Dana hosts, Dana absent" not in by_title
    # Participant only: host attributes gone, from the meeting and from her own record.
    partner = one("Partner update")
    assert host_fields(partner) == set()
    assert host_fields(partner["subject_participants"][0]) == set()
    assert partner["total_participants"] == 5
    # Rejoined: two records of hers kept, counted once.
    rejoined = one("Dropped and rejoined")
    assert len(rejoined["subject_participants"]) == 2
    assert rejoined["total_participants"] == 3
    # Alone: one participant, not a conversation.
    alone = one("Dana alone")
    assert alone["total_participants"] == 1 and alone["is_1_on_1_conversation"] is False
    assert alone["hostEmail"] == SUBJECT_STORED_EMAIL
    # 1-on-1s with her (as guest and as host); two-person meetings without her are absent.
    with_zoe = one("1:1 Dana / Zoë")
    assert with_zoe["is_1_on_1_conversation"] is True and host_fields(with_zoe) == set()
    with_bjorn = one("1:1 Dana / Björn")
    assert with_bjorn["is_1_on_1_conversation"] is True and "hostEmail" in with_bjorn
    assert "1:1 Björn / Li" not in by_title
    assert "1:1 Nina / José" not in by_title
    assert "Nina's team sync" not in by_title
    # 150+ participants over several pages; the 231-person one stores her email shouted.
    assert one("All hands")["total_participants"] == 162
    town_hall = one("Town hall \u2013 全员大会")
    assert town_hall["total_participants"] == 232
    assert town_hall["subject_participants"][0]["email"] == SUBJECT_SHOUTED_EMAIL
    # Older than 13 months minus a bit, in progress, and a weekly series she hosts.
    assert one("Old kickoff (13 months ago)")["total_participants"] == 3
    bridge = one("Incident bridge (all day)")
    assert bridge["state"] == "inProgress"
    assert "leftTime" not in bridge["subject_participants"][0]
    assert len(by_title["Dana's weekly <i>stand-up</i>"]) >= 20
    # Every other field of the meeting is kept, credentials included (review deselects them).
    for field in ("password", "telephony", "webLink", "sipAddress", "siteUrl", "scheduledType"):
        assert field in with_zoe, field


def test_no_other_persons_email_or_name_is_stored(full_scan):
    subject = email_normalize(SUBJECT_EMAIL)
    others = [p for p in full_scan["org"].people.values() if email_normalize(p.email) != subject]
    assert len(others) > 200
    emails = {email_normalize(p.email) for p in others}
    names = {p.display_name.lower() for p in others}
    ids = {p.id for p in others}
    texts = [s.lower() for data in full_scan["records"].values() for s in strings_in(data)]
    blob = "\n".join(texts)
    assert not [e for e in emails if e in blob]
    assert not [n for n in names if n in blob]
    assert not [i for i in ids if i.lower() in blob]
    for data in meetings_of(full_scan["records"]).values():
        for record in data["subject_participants"]:
            assert email_normalize(record["email"]) == subject


def test_requests_use_explicit_small_windows_and_max_100(full_scan):
    log = full_scan["log"]
    listings = [r for r in log if r.path == MEETINGS_PATH]
    first_pages = [r for r in listings if "cursor" not in r.query]
    assert all(r.query["meetingType"] == ["meeting"] for r in listings)
    assert all(r.query["max"] == ["100"] for r in log if r.path.startswith(MEETINGS_PATH))
    windows = [(parse(r.query["from"][0]), parse(r.query["to"][0])) for r in first_pages]
    assert all(timedelta(0) < end - start <= timedelta(days=7) for start, end in windows)
    # Contiguous, no gaps or overlaps, from the lookback start to the start of the fetch.
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert windows[-1][1] - windows[0][0] == timedelta(days=FULL_LOOKBACK)
    assert abs(windows[-1][1] - full_scan["started"]) < timedelta(seconds=5)


def test_participants_of_every_instance_read_on_every_page(full_scan):
    log = [r for r in full_scan["log"] if r.path == PARTICIPANTS_PATH]
    assert all(r.query["max"] == ["100"] and r.status == 200 for r in log)
    per_meeting = Counter(r.query["meetingId"][0] for r in log)
    org = full_scan["org"]
    start = full_scan["started"] - timedelta(days=FULL_LOOKBACK)
    listed = {i.id for i in org.instances if start <= i.start < full_scan["started"]}
    assert set(per_meeting) == listed
    # Explicit join and start ranges around each instance, never the API's defaults.
    starts = {i.id: i.start for i in org.instances}
    ends = {i.id: i.end for i in org.instances}
    for request in log:
        if "cursor" in request.query:
            continue
        q = {k: parse(v[0]) for k, v in request.query.items() if k not in ("meetingId", "max")}
        start = starts[request.query["meetingId"][0]]
        assert q["meetingStartTimeFrom"] < start < q["meetingStartTimeTo"]
        if ends[request.query["meetingId"][0]] > full_scan["started"]:
            assert "joinTimeFrom" not in q  # in progress: live join times can read 1970
            continue
        assert q["joinTimeFrom"] < start < q["joinTimeTo"]
        assert q["joinTimeTo"] - q["joinTimeFrom"] <= timedelta(days=90)
    titles = {i.id: i.title for i in org.instances}
    pages = {titles[m]: n for m, n in per_meeting.items() if n > 1}
    assert pages == {"All hands": 2, "Town hall \u2013 全员大会": 3}


def test_batches_carry_checkpoints_and_progress_without_personal_data(full_scan):
    batches = full_scan["batches"]
    meeting_batches = batches
    assert {b.object_type for b in meeting_batches} == {MEETING}
    listing_pages = [r for r in full_scan["log"] if r.path == MEETINGS_PATH]
    assert len(meeting_batches) == len(listing_pages)  # one batch per page, even empty ones
    last = meeting_batches[-1]
    assert last.progress["windows_done"] == last.progress["windows_total"] >= 57
    assert last.progress["pages"] == len(listing_pages)
    # Every listed meeting instance counts once as checked, for the analyst's progress.
    checked = [b.progress["meetings_checked"] for b in meeting_batches]
    assert checked == sorted(checked) and checked[-1] >= len(full_scan["org"].instances) > 0
    assert last.checkpoint["cursor"] is None
    dumped = json.dumps([b.checkpoint for b in batches]).lower()
    assert "@" not in dumped and full_scan["token"].lower() not in dumped
    windows_done = [b.progress["windows_done"] for b in meeting_batches]
    assert windows_done == sorted(windows_done)


# --- windows, cursors and the 10,000 cap ----------------------------------------------


def _direct_client(sim) -> ApiClient:
    token = sim.mint_token("webex")["access_token"]
    return ApiClient(
        provider=get_provider("webex"), base_url=sim.webex_base_url, token_source=StaticToken(token)
    )


def test_a_window_that_returns_the_cap_is_split_and_listed_again(webex):
    webex.configure(webex_instance_cap=12)
    client = _direct_client(webex)
    started = timezone.now()
    batches = list(
        fetch_access(
            client,
            SUBJECT_EMAIL,
            lookback_days=60,
            window=timedelta(days=30),
            instance_cap=12,
            concurrency=4,
        )
    )
    truth = webex.state.expected_webex_meetings(
        SUBJECT_EMAIL, started - timedelta(days=60), started
    )
    check_against_truth(meetings_of(stored(batches)), truth)
    spans = {end - start for start, end in window_requests(webex)}
    assert timedelta(days=30) in spans and min(spans) < timedelta(days=4)
    # Meetings already examined are not read again when their window is re-listed.
    first_pages = Counter(
        r.query["meetingId"][0]
        for r in webex.requests("webex", PARTICIPANTS_PATH)
        if "cursor" not in r.query
    )
    assert first_pages and set(first_pages.values()) == {1}
    assert batches[-1].checkpoint["windows_truncated"] == 0
    assert batches[-1].note == ""


def test_resume_inside_a_window_continues_from_the_page_cursor(webex):
    client = _direct_client(webex)
    started = timezone.now()
    options = {"lookback_days": 120, "window": timedelta(days=120), "concurrency": 8}
    first = fetch_access(client, SUBJECT_EMAIL, **options)
    taken = [next(first)]  # the first page of meetings
    first.close()
    checkpoint = taken[-1].checkpoint
    assert checkpoint["cursor"] and checkpoint["window"] == 0
    webex.state.clear_log()

    rest = list(fetch_access(client, SUBJECT_EMAIL, checkpoint=checkpoint, **options))

    listings = webex.requests("webex", MEETINGS_PATH)
    assert "cursor" in listings[0].query  # went on from the saved page, not from the start
    assert not webex.requests("webex", "/webex/v1/meetingPreferences")
    truth = webex.state.expected_webex_meetings(
        SUBJECT_EMAIL, started - timedelta(days=120), started
    )
    check_against_truth(meetings_of(stored(taken + rest)), truth)
    first_page_ids = {ext for ext, _ in taken[-1].records}
    resumed_ids = {r.query["meetingId"][0] for r in webex.requests("webex", PARTICIPANTS_PATH)}
    assert first_page_ids and not first_page_ids & resumed_ids


def test_link_header_defects_lose_nothing(webex):
    webex.configure(webex_link_defects=True)
    client = _direct_client(webex)
    started = timezone.now()
    batches = list(fetch_access(client, SUBJECT_EMAIL, lookback_days=10, concurrency=4))
    truth = webex.state.expected_webex_meetings(
        SUBJECT_EMAIL, started - timedelta(days=10), started
    )
    meetings = meetings_of(stored(batches))
    check_against_truth(meetings, truth)
    assert any(m["total_participants"] == 162 for m in meetings.values())


# --- people who are not in the data -----------------------------------------------------


def test_unknown_person_has_no_meetings_but_the_whole_range_is_scanned(webex):
    client = _direct_client(webex)
    batches = list(fetch_access(client, UNKNOWN_EMAIL, lookback_days=7, concurrency=4))
    assert stored(batches) == {}
    last = batches[-1].checkpoint
    assert batches and last["window_from"] == last["range_to"]  # scanned to the end


def test_meeting_preferences_are_never_requested(webex):
    """Without the admin scope Webex would answer with the caller's own preferences."""
    client = _direct_client(webex)
    list(fetch_access(client, SUBJECT_EMAIL, lookback_days=7, concurrency=4))
    assert not webex.requests("webex", "/webex/v1/meetingPreferences")


# --- through the fetch pipeline ---------------------------------------------------------


def pipeline_result(connection: Connection) -> Result:
    request = PrivacyRequestFactory(
        subject_email=SUBJECT_EMAIL, status=PrivacyRequest.Status.PROCESSING
    )
    return ResultFactory(request=request, connection=connection, status=Result.Status.QUEUED)


@pytest.fixture
def pipeline(monkeypatch):
    """Run fetches inline, without the task queue."""
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: None)


def stored_records(result: Result) -> dict[tuple[str, str], dict[str, Any]]:
    rows = Record.objects.filter(result=result)
    return {(r.object_type, r.external_id): r.data for r in rows}


def short_truth(sim, started: datetime) -> list[dict[str, Any]]:
    return sim.state.expected_webex_meetings(
        SUBJECT_EMAIL, started - timedelta(days=SHORT_LOOKBACK), started
    )


def interrupt_after(monkeypatch, batches: int, action) -> None:
    """Run ``action`` once, after the fetch has yielded ``batches`` batches."""
    provider = get_provider("webex")
    real = provider.fetch_access

    def wrapped(*args, **kwargs):
        for index, batch in enumerate(real(*args, **kwargs), start=1):
            yield batch
            if index == batches:
                action()

    monkeypatch.setattr(provider, "fetch_access", wrapped)


@pytest.mark.django_db
def test_pipeline_rerun_stores_the_same_rows_without_duplicates(webex, pipeline):
    result = pipeline_result(simulator_connection(webex, "webex"))
    started = timezone.now()
    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED
    first = stored_records(result)
    check_against_truth(meetings_of(first), short_truth(webex, started))
    result.refresh_from_db()
    assert result.progress["windows_done"] == result.progress["windows_total"] == 4

    Result.objects.filter(pk=result.pk).update(
        status=Result.Status.QUEUED, checkpoint={}, finished_at=None
    )
    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    assert stored_records(result) == first
    assert Record.objects.filter(result=result).count() == len(first)


@pytest.mark.django_db
def test_pipeline_resumes_after_a_failure_without_refetching_finished_windows(
    webex, pipeline, monkeypatch, settings, max_jitter_clock
):
    settings.HTTP_MAX_ATTEMPTS = 2
    # One read at a time: the listing then stays level with the batches (no pages listed
    # ahead), so the fault below lands on the third window's listing.
    settings.FETCH_PARTICIPANT_CONCURRENCY = 1
    result = pipeline_result(simulator_connection(webex, "webex"))
    started = timezone.now()
    # After two windows, the meetings listing fails past every retry.
    interrupt_after(
        monkeypatch,
        2,
        lambda: webex.fault(provider="webex", path_prefix=MEETINGS_PATH, status=503, count=2),
    )
    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.QUEUED
    result.refresh_from_db()
    assert result.error_code == "http_503"
    assert result.checkpoint["window"] == 2 and result.checkpoint["cursor"] is None
    resume_from = parse(result.checkpoint["window_from"])
    kept = stored_records(result)
    assert kept

    webex.state.clear_log()
    monkeypatch.undo()  # the real fetcher, no more interruptions
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: None)
    Result.objects.filter(pk=result.pk).update(next_attempt_at=None)
    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    windows = window_requests(webex)
    assert windows[0][0] == resume_from
    assert all(start >= resume_from for start, _ in windows)
    assert not webex.requests("webex", "/webex/v1/meetingPreferences")
    starts = {i.id: i.start for i in webex.state.org.webex.instances}
    reread = {r.query["meetingId"][0] for r in webex.requests("webex", PARTICIPANTS_PATH)}
    assert reread and all(starts[m] >= resume_from for m in reread)
    final = stored_records(result)
    assert all(final[key] == data for key, data in kept.items())
    check_against_truth(meetings_of(final), short_truth(webex, started))


@pytest.mark.django_db
def test_pipeline_rides_out_429s_and_5xx_and_loses_nothing(webex, pipeline, max_jitter_clock):
    webex.fault(
        provider="webex",
        path_prefix=PARTICIPANTS_PATH,
        status=429,
        headers={"Retry-After": "7"},
        count=3,
    )
    webex.fault(provider="webex", path_prefix=PARTICIPANTS_PATH, status=502, count=2)
    webex.fault(provider="webex", path_prefix=MEETINGS_PATH, status=500, count=1)
    result = pipeline_result(simulator_connection(webex, "webex"))
    started = timezone.now()

    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    statuses = Counter(r.status for r in webex.requests("webex"))
    assert statuses[429] == 3 and statuses[502] == 2 and statuses[500] == 1
    assert 7 in max_jitter_clock.sleeps
    records = stored_records(result)
    check_against_truth(meetings_of(records), short_truth(webex, started))


@pytest.mark.django_db(transaction=True)
def test_pipeline_refreshes_an_expired_access_token_and_continues(webex, pipeline, monkeypatch):
    connection = simulator_connection(webex, "webex", lifetime=3600)
    old_token = connection.access_token
    result = pipeline_result(connection)
    started = timezone.now()
    # The provider expires the token mid-fetch; we still believe it valid for an hour.
    # (The listing runs only three pages ahead, so calls remain after the first batch.)
    monkeypatch.setattr("connectors.providers.webex_fetch.LOOKAHEAD_READS", 0)
    interrupt_after(monkeypatch, 1, lambda: webex.expire_token(old_token))

    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    connection.refresh_from_db()
    assert connection.access_token != old_token
    log = webex.requests("webex")
    assert [r.status for r in log if r.path.endswith("/access_token")] == [200]
    rejected = [r for r in log if r.status == 401]
    assert rejected and {r.path for r in rejected} <= {MEETINGS_PATH, PARTICIPANTS_PATH}
    assert len({r.token_fingerprint for r in log if r.path != "/webex/v1/access_token"}) == 2
    check_against_truth(meetings_of(stored_records(result)), short_truth(webex, started))


def test_checkpoint_from_elsewhere_starts_the_scan_over(webex):
    client = _direct_client(webex)
    batches = list(
        fetch_access(
            client, SUBJECT_EMAIL, checkpoint={"next_page": 3}, lookback_days=7, concurrency=4
        )
    )
    assert {b.object_type for b in batches} == {MEETING}
    first_window = window_requests(webex)[0]
    assert abs(first_window[0] - (datetime.now(UTC) - timedelta(days=7))) < timedelta(minutes=1)
