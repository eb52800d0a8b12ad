"""The Zoom access fetch against the simulator, over real HTTP.

Counts are compared with the simulator's independently computed truth
(``state.expected_zoom_counts``), and window rules with its request log.
"""

from __future__ import annotations

import itertools
import json
import threading
from datetime import date, timedelta

import pytest
import requests
import time_machine

from connectors.clients import api_client_for
from connectors.exceptions import ScopeMissing
from connectors.http import ApiClient
from connectors.models import Connection
from connectors.providers import zoom_fetch
from connectors.providers.base import SubjectNotFound
from connectors.simulator.seed import (
    SUBJECT_EMAIL,
    SUBJECT_STORED_EMAIL,
    UNKNOWN_EMAIL,
    ZOOM_CLASSIC_SCOPES,
    ZOOM_GRANULAR_SCOPES,
    ZOOM_NO_PHONE_EMAIL,
    ZOOM_PENDING_EMAIL,
)
from tests.connectors.zoom.support import (
    FROZEN,
    TODAY,
    UNLIMITED_QPS,
    client_for,
    collect,
    counts_of,
    demo,
    expected_counts,
    fetch_all,
    notes,
    one_month_after,
    six_months_before,
    statuses,
    window_requests,
)
from tests.factories import simulator_connection

pytestmark = pytest.mark.django_db(transaction=True)

PHONE_TYPES = ("phone_user", "phone_settings", "call_log", "voicemail", "phone_recording")


def client_token(sim) -> str:
    return Connection.objects.get(provider="zoom").access_token


def subject_user_id(sim) -> str:
    return sim.state.expected_zoom_counts(SUBJECT_STORED_EMAIL)["user_id"]


# --- Complete fetches ------------------------------------------------------------------


def test_full_account_subject_matches_truth_exactly(zoom):
    batches = fetch_all(client_for(zoom), SUBJECT_EMAIL)

    records = collect(batches)
    assert counts_of(records) == expected_counts(zoom, SUBJECT_EMAIL)
    assert notes(batches) == {}
    user_id = subject_user_id(zoom)
    assert list(records["user"]) == [user_id]
    assert records["user"][user_id]["email"] == "Dana.Kowalski@Acme.example"
    assert list(records["settings"]) == [user_id]  # one settings record keyed by user id
    assert list(records["phone_settings"]) == [user_id]
    assert records["phone_user"][user_id]["phone_user_id"]
    assert set(statuses(zoom)) == {200}
    final = batches[-1]
    assert final.progress["windows_done"] == final.progress["windows_total"]
    assert final.checkpoint["done"] == sorted(
        [
            *("user", "phone_user", "settings", "meeting", "webinar", "recording"),
            *("phone_settings", "call_log", "voicemail", "phone_recording"),
        ]
    )
    assert "cursor" not in final.checkpoint
    # Checkpoints hold ids, dates and unit keys: no email, no token, and stay small.
    connection_tokens = {client_token(zoom)}
    for batch in batches:
        text = json.dumps(batch.checkpoint)
        assert "@" not in text and len(text) < 1000
        assert not any(token in text for token in connection_tokens)


def test_batches_and_checkpoints_come_out_in_a_fixed_order(zoom):
    first = fetch_all(client_for(zoom), SUBJECT_EMAIL, page_size=7, gather=False)
    zoom.reset(zoom_qps=UNLIMITED_QPS)
    second = fetch_all(client_for(zoom), SUBJECT_EMAIL, page_size=7, max_workers=1, gather=False)

    def shape(batches):
        return [
            (b.object_type, [k for k, _ in b.records], b.checkpoint["done"], b.progress)
            for b in batches
        ]

    # Same seed, parallel versus serial: the same batches, in the same order.
    assert shape(first) == shape(second)
    order = list(dict.fromkeys(b.object_type for b in first))
    assert order == [
        "user",
        "phone_user",
        "settings",
        "meeting",
        "webinar",
        "recording",
        "phone_settings",
        "call_log",
        "voicemail",
        "phone_recording",
    ]
    pages = [b.progress["pages"] for b in first]
    assert pages == sorted(pages) and len(set(pages)) == len(pages)


def test_pages_already_read_go_out_together_in_the_same_order(zoom):
    """Gathering changes only how many batches there are: the records and their order,
    and the final checkpoint, are those of one batch per page."""
    per_page = fetch_all(client_for(zoom), SUBJECT_EMAIL, page_size=4, gather=False)
    zoom.reset(zoom_qps=UNLIMITED_QPS)
    serial = fetch_all(client_for(zoom), SUBJECT_EMAIL, page_size=4, max_workers=1)
    zoom.reset(zoom_qps=UNLIMITED_QPS)
    parallel = fetch_all(client_for(zoom), SUBJECT_EMAIL, page_size=4)

    def records(batches):
        return [(b.object_type, k) for b in batches for k, _ in b.records]

    for gathered in (serial, parallel):
        assert records(gathered) == records(per_page)
        assert gathered[-1].checkpoint == per_page[-1].checkpoint
        assert gathered[-1].progress == per_page[-1].progress
        assert notes(gathered) == notes(per_page)
        # Each batch is a resume point: what is done only grows, page counts only rise.
        pages = [b.progress["pages"] for b in gathered]
        assert pages == sorted(pages)
        for before, after in itertools.pairwise(gathered):
            done = set(after.checkpoint["done"])  # a finished type collapses to its name
            assert all(k in done or k.split(":")[0] in done for k in before.checkpoint["done"])
    # Serially a unit has been read before its pages go out: one batch, not one per page.
    assert len(serial) < len(per_page)
    assert max(len(b.records) for b in serial) > 4


def test_calls_use_zooms_rate_limit_categories(zoom):
    client = client_for(zoom)
    seen: list[tuple[str, str]] = []
    original = client.get

    def spy(path, *, params=None, category="default"):
        seen.append((path.split("?")[0], category))
        return original(path, params=params, category=category)

    client.get = spy
    fetch_all(client, SUBJECT_EMAIL)

    uid = subject_user_id(zoom)
    by_path = {}
    for path, category in seen:
        by_path.setdefault(path, set()).add(category)
    assert by_path[f"/users/{SUBJECT_EMAIL}"] == {"light"}
    assert by_path[f"/users/{uid}/settings"] == {"medium"}
    for name in ("meetings", "webinars", "recordings"):
        assert by_path[f"/users/{uid}/{name}"] == {"medium"}
    assert by_path[f"/phone/users/{uid}"] == {"light"}
    assert by_path[f"/phone/users/{uid}/settings"] == {"light"}
    for name in ("call_logs", "voice_mails", "recordings"):
        assert by_path[f"/phone/users/{uid}/{name}"] == {"medium"}


def test_meetings_are_deduplicated_across_list_types(zoom):
    batches = fetch_all(client_for(zoom), SUBJECT_EMAIL)

    uid = subject_user_id(zoom)
    meeting_calls = zoom.requests("zoom", f"/zoom/v2/users/{uid}/meetings")
    assert sorted(e.query["type"][0] for e in meeting_calls) == sorted(zoom_fetch.MEETING_TYPES)
    yielded = [key for b in batches if b.object_type == "meeting" for key, _ in b.records]
    assert len(yielded) == len(set(yielded))  # never yielded twice in one run
    assert len(yielded) == expected_counts(zoom, SUBJECT_EMAIL)["meeting"]
    # The list types overlap (scheduled includes live and upcoming): without
    # de-duplication there would be far more.
    total_listed = sum(
        len(requests_json(zoom, uid, kind)["meetings"]) for kind in zoom_fetch.MEETING_TYPES
    )
    assert total_listed > len(yielded)
    # Webinars are listed by two overlapping types, too.
    webinars = [key for b in batches if b.object_type == "webinar" for key, _ in b.records]
    assert len(webinars) == len(set(webinars)) == expected_counts(zoom, SUBJECT_EMAIL)["webinar"]


def requests_json(sim, uid: str, kind: str) -> dict:
    token = sim.mint_token("zoom")["access_token"]
    response = requests.get(
        f"{sim.zoom_api_base_url}/users/{uid}/meetings",
        params={"type": kind, "page_size": 300},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert response.status_code == 200
    return response.json()


def test_pagination_across_month_windows(zoom):
    batches = fetch_all(client_for(zoom), SUBJECT_EMAIL, page_size=4)

    assert counts_of(collect(batches)) == expected_counts(zoom, SUBJECT_EMAIL)
    uid = subject_user_id(zoom)
    follow_ups = {}
    for path in (f"/users/{uid}/recordings", f"/phone/users/{uid}/call_logs"):
        logged = zoom.requests("zoom", f"/zoom/v2{path}")
        assert all(e.query["page_size"] == ["4"] for e in logged)
        follow_ups[path] = {e.query["from"][0] for e in logged if "next_page_token" in e.query}
    # Several windows needed more than one page.
    assert len(follow_ups[f"/users/{uid}/recordings"]) >= 2
    assert len(follow_ups[f"/phone/users/{uid}/call_logs"]) >= 3
    # Between two pages of a window the checkpoint names the window and the token.
    mid = [b.checkpoint["cursor"] for b in batches if "cursor" in b.checkpoint]
    assert mid and all(
        c["unit"].split(":")[0]
        in {"meeting", "recording", "call_log", "voicemail", "phone_recording", "webinar"}
        and c["next_page_token"]
        for c in mid
    )


def test_windows_stay_within_one_month_and_six_months(zoom):
    fetch_all(client_for(zoom), SUBJECT_EMAIL, page_size=10)

    floor = six_months_before(TODAY)
    oldest = TODAY - timedelta(days=365)
    recordings = sorted(window_requests(zoom, "/users/" + subject_user_id(zoom) + "/recordings"))
    assert recordings[0][0] == oldest and max(end for _, end in recordings) == TODAY
    for suffix in (
        "/call_logs",
        "/voice_mails",
        "/phone/users/" + subject_user_id(zoom) + "/recordings",
    ):
        windows = sorted(window_requests(zoom, suffix))
        assert windows, suffix
        assert all(start >= floor for start, _ in windows), suffix
        assert windows[0][0] == floor and max(end for _, end in windows) == TODAY
        check_windows(windows)
    check_windows(recordings)


def check_windows(windows):
    """At most one month each (short of the same day next month, so at most 31 days
    inclusive), and the distinct windows tile the range without gaps or overlaps."""
    for start, end in windows:
        assert start <= end
        assert (end - start).days <= 30
        assert end < one_month_after(start)
    distinct = sorted(set(windows))
    for (_, end), (start, _) in itertools.pairwise(distinct):
        assert start == end + timedelta(days=1)


# --- Who has what ------------------------------------------------------------------------


def test_subject_without_phone_licence(zoom):
    batches = fetch_all(client_for(zoom), ZOOM_NO_PHONE_EMAIL)

    records = collect(batches)
    assert counts_of(records) == expected_counts(zoom, ZOOM_NO_PHONE_EMAIL)
    assert all(not records.get(t) for t in PHONE_TYPES)
    assert notes(batches) == {t: zoom_fetch.NO_PHONE_LICENCE for t in PHONE_TYPES}
    # One phone call told us; the history endpoints are not asked at all.
    assert [e.status for e in zoom.requests("zoom", "/zoom/v2/phone")] == [404]
    assert records["meeting"] and records["webinar"] and records["settings"]


def test_account_without_phone_and_webinars(zoom):
    # The basic account stores the subject as "dana.KOWALSKI@acme.example".
    batches = fetch_all(client_for(zoom, "basic"), SUBJECT_EMAIL)

    records = collect(batches)
    assert counts_of(records) == expected_counts(zoom, SUBJECT_EMAIL, "basic")
    expected_notes = {t: zoom_fetch.NO_PHONE for t in PHONE_TYPES}
    expected_notes["webinar"] = zoom_fetch.NO_WEBINARS
    assert notes(batches) == expected_notes
    assert records["meeting"] and records["recording"] and records["settings"]
    assert [e.status for e in zoom.requests("zoom", "/zoom/v2/phone")] == [403]


def test_missing_scope_leaves_that_type_empty_with_a_reason(zoom):
    scopes = [s for s in ZOOM_GRANULAR_SCOPES if s != "phone:read:list_call_logs:admin"]
    batches = fetch_all(client_for(zoom, scopes=scopes), SUBJECT_EMAIL)

    records = collect(batches)
    expected = expected_counts(zoom, SUBJECT_EMAIL)
    expected["call_log"] = 0
    assert counts_of(records) == expected
    assert notes(batches) == {
        "call_log": "The connection lacks the scope phone:read:list_call_logs:admin; "
        "reconnect with it."
    }


def test_credentials_inside_the_data_are_fetched_like_everything_else(zoom):
    uid = subject_user_id(zoom)
    meeting = {
        "uuid": "cred-uuid==",
        "id": 81234567890,
        "host_id": uid,
        "topic": "Board",
        "type": 2,
        "start_url": "https://acme.zoom.us/s/81234567890?zak=secret",
        "password": "pa55",
        "h323_password": "123456",
        "pstn_password": "654321",
        "encrypted_password": "enc-abc",
    }
    zoom.fault(
        provider="zoom",
        path_prefix=f"/zoom/v2/users/{uid}/meetings",
        status=200,
        body={"next_page_token": "", "page_size": 300, "total_records": 1, "meetings": [meeting]},
        count=len(zoom_fetch.MEETING_TYPES),
    )

    records = collect(fetch_all(client_for(zoom), SUBJECT_EMAIL))

    assert records["meeting"] == {"81234567890": meeting}


# --- Finding the person --------------------------------------------------------------------


def test_unknown_email_raises_subject_not_found_without_the_email(zoom):
    client = client_for(zoom, "basic")  # classic scopes: the user list is scanned too
    with pytest.raises(SubjectNotFound) as caught:
        fetch_all(client, UNKNOWN_EMAIL)

    assert "@" not in str(caught.value)
    logged = [(e.path, e.query.get("status"), e.status) for e in zoom.requests("zoom")]
    assert logged[0] == (f"/zoom/v2/users/{UNKNOWN_EMAIL}", None, 404)
    assert [s for _, s, _ in logged[1:]] == [["active"], ["inactive"], ["pending"]]


def test_mixed_case_email_is_found_directly_when_zoom_ignores_case(zoom):
    records = collect(fetch_all(client_for(zoom), "DANA.Kowalski@ACME.example"))

    assert list(records["user"]) == [subject_user_id(zoom)]
    lookups = zoom.requests("zoom", "/zoom/v2/users/")
    assert lookups[0].path == "/zoom/v2/users/DANA.Kowalski@ACME.example"
    assert lookups[0].status == 200


def test_case_sensitive_lookup_falls_back_to_lowercase_then_the_user_list(zoom):
    zoom.configure(zoom_email_case_sensitive=True)
    client = client_for(zoom, scopes=list(ZOOM_CLASSIC_SCOPES))  # may list users

    batches = fetch_all(client, "DANA.Kowalski@ACME.example")

    records = collect(batches)
    # The simulator matches exactly now: its truth is asked with the stored spelling.
    assert counts_of(records) == expected_counts(zoom, SUBJECT_STORED_EMAIL)
    uid = subject_user_id(zoom)
    head = [(e.path, e.query.get("status"), e.status) for e in zoom.requests("zoom")][:4]
    assert head == [
        ("/zoom/v2/users/DANA.Kowalski@ACME.example", None, 404),
        ("/zoom/v2/users/dana.kowalski@acme.example", None, 404),
        ("/zoom/v2/users", ["active"], 200),
        (f"/zoom/v2/users/{uid}", None, 200),
    ]


def test_pending_user_found_by_the_scan_is_looked_up_by_the_stored_email(zoom):
    zoom.configure(zoom_email_case_sensitive=True)
    client = client_for(zoom, scopes=list(ZOOM_CLASSIC_SCOPES))

    user = zoom_fetch.find_user(client, ZOOM_PENDING_EMAIL.upper())

    assert user["email"] == ZOOM_PENDING_EMAIL
    scans = [e.query["status"][0] for e in zoom.requests("zoom", "/zoom/v2/users") if e.query]
    assert scans[-3:] == ["active", "inactive", "pending"]
    assert zoom.requests("zoom")[-1].path == f"/zoom/v2/users/{ZOOM_PENDING_EMAIL}"


def test_without_the_user_read_scope_the_whole_fetch_fails(zoom):
    scopes = [s for s in ZOOM_GRANULAR_SCOPES if s != "user:read:user:admin"]

    with pytest.raises(ScopeMissing):
        fetch_all(client_for(zoom, scopes=scopes), SUBJECT_EMAIL)


def test_without_the_list_scope_the_scan_is_skipped(zoom):
    zoom.configure(zoom_email_case_sensitive=True)
    client = client_for(zoom)  # granular scopes lack user:read:list_users:admin

    with pytest.raises(SubjectNotFound):
        fetch_all(client, "DANA.Kowalski@ACME.example")

    logged = [(e.path, e.status) for e in zoom.requests("zoom")]
    assert logged == [
        ("/zoom/v2/users/DANA.Kowalski@ACME.example", 404),
        ("/zoom/v2/users/dana.kowalski@acme.example", 404),
        ("/zoom/v2/users", 400),
    ]


# --- Connection, tokens, rate limits ---------------------------------------------------------


def test_the_api_url_from_the_token_response_is_used(zoom, settings):
    # Same host and port as the simulator (the only non-Zoom host an api_url may name),
    # but a path that serves nothing: the records can only come from the token's api_url.
    settings.ZOOM_API_BASE_URL = f"{zoom.base_url}/nowhere/v2"
    connection = simulator_connection(zoom, "zoom", account="full")

    client = api_client_for(connection)
    records = collect(fetch_all(client, SUBJECT_EMAIL))

    assert client.base_url == f"{zoom.base_url}/zoom/v2"
    assert counts_of(records) == expected_counts(zoom, SUBJECT_EMAIL)


def test_token_expiry_mid_fetch_rotates_the_refresh_token(zoom):
    connection = simulator_connection(zoom, "zoom", account="full")
    old_access, old_refresh = connection.access_token, connection.refresh_token
    batches = zoom_fetch.fetch_access(api_client_for(connection), SUBJECT_EMAIL)

    got = [next(batches), next(batches)]  # user and phone profile, then the token expires
    zoom.state.expire_token(old_access)
    got += list(batches)

    assert counts_of(collect(got)) == expected_counts(zoom, SUBJECT_EMAIL)
    connection.refresh_from_db()
    assert connection.access_token != old_access
    assert connection.refresh_token != old_refresh
    assert connection.status == Connection.Status.ACTIVE
    # Concurrent workers hit the expired token at once; exactly one refresh happened.
    refreshes = [e for e in zoom.requests("zoom", "/zoom/oauth/token")]
    assert [e.status for e in refreshes] == [200]
    assert 401 in statuses(zoom)
    # Zoom rotates: the old refresh token is now refused, the stored one works.
    client = demo("full")
    old = requests.post(
        f"{zoom.zoom_oauth_base_url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=(client.client_id, client.client_secret),
        timeout=5,
    )
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
    new = requests.post(
        f"{zoom.zoom_oauth_base_url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": connection.refresh_token},
        auth=(client.client_id, client.client_secret),
        timeout=5,
    )
    assert new.status_code == 200


def test_429s_with_and_without_headers_lose_nothing(zoom, max_jitter_clock):
    uid = subject_user_id(zoom)
    zoom.fault(
        provider="zoom",
        path_prefix=f"/zoom/v2/users/{uid}/recordings",
        status=429,
        headers={
            "X-RateLimit-Category": "Medium",
            "X-RateLimit-Type": "QPS",
            "X-RateLimit-Limit": "60",
            "X-RateLimit-Remaining": "0",
            "Retry-After": "7",
        },
        body={"code": 429, "message": "You have reached the maximum per-second rate limit."},
        count=2,
    )
    zoom.fault(
        provider="zoom",
        path_prefix=f"/zoom/v2/phone/users/{uid}/call_logs",
        status=429,
        body={"code": 429, "message": "You have exceeded the daily rate limit."},
        count=3,
    )

    batches = fetch_all(client_for(zoom), SUBJECT_EMAIL, page_size=10)

    assert counts_of(collect(batches)) == expected_counts(zoom, SUBJECT_EMAIL)
    assert statuses(zoom)[429] == 5
    assert 7.0 in max_jitter_clock.sleeps  # Retry-After honoured
    assert notes(batches) == {}


# --- Window arithmetic and later resumes -----------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2025, 3, 31), date(2026, 3, 31)),
        (date(2025, 9, 30), date(2026, 3, 31)),
        (date(2024, 1, 31), date(2024, 3, 1)),  # leap February
        (date(2026, 3, 31), date(2026, 3, 31)),  # a single day
    ],
)
def test_month_windows_tile_the_range_each_shorter_than_a_month(first, last):
    windows = zoom_fetch.month_windows(first, last)

    assert windows[0][0] == first and windows[-1][1] == last
    check_windows(windows)


def test_a_resume_weeks_later_keeps_phone_windows_inside_six_months(zoom):
    client = client_for(zoom)
    batches = zoom_fetch.fetch_access(client, SUBJECT_EMAIL, page_size=4)
    for batch in batches:
        if batch.object_type == "phone_user":
            checkpoint = batch.checkpoint
            batches.close()
            break

    later = FROZEN + timedelta(days=40)
    with time_machine.travel(later, tick=True):
        zoom.state.clear_log()
        rest = list(zoom_fetch.fetch_access(client, SUBJECT_EMAIL, checkpoint=checkpoint))

    assert set(statuses(zoom)) == {200}
    floor = six_months_before(later.date())
    phone = window_requests(zoom, "/call_logs") + window_requests(zoom, "/voice_mails")
    assert phone and all(start >= floor for start, _ in phone)
    # The windows still end where the fetch started: the request is answered as of then.
    assert max(end for _, end in phone) == TODAY
    assert rest[-1].progress["windows_done"] == rest[-1].progress["windows_total"]


def test_a_listing_cut_at_the_page_limit_says_so(zoom):
    """More pages than the guard allows: the objects read are kept and the gap is named."""
    batches = fetch_all(client_for(zoom), SUBJECT_EMAIL, page_size=1, max_pages=1)
    truncated = {b.object_type for b in batches if b.note == zoom_fetch.NOTE_TRUNCATED}
    assert "meeting" in truncated


def test_only_the_phone_units_wait_for_the_phone_user_lookup(zoom):
    uid = subject_user_id(zoom)
    phone_user = f"/zoom/v2/phone/users/{uid}"
    # The phone-user lookup answers late (the first call under this prefix is that
    # lookup: the phone history is not asked before it answers).
    zoom.fault(provider="zoom", path_prefix=phone_user, kind="slow", delay=1.0, count=1)

    batches = fetch_all(client_for(zoom), SUBJECT_EMAIL)

    assert counts_of(collect(batches)) == expected_counts(zoom, SUBJECT_EMAIL)
    log = [e.path for e in zoom.requests("zoom") if e.path.startswith("/zoom/v2/")]
    lookup = log.index(phone_user)
    other_units = [i for i, p in enumerate(log) if p.startswith(f"/zoom/v2/users/{uid}/")]
    phone_units = [i for i, p in enumerate(log) if p.startswith(f"{phone_user}/")]
    # The log is in the order answers went out: the other units were answered while
    # the lookup was still pending; every phone unit was asked after its answer.
    assert other_units and max(other_units) < lookup
    assert phone_units and min(phone_units) > lookup


def test_a_listings_pages_reach_the_pipeline_while_the_rest_is_read(zoom, monkeypatch):
    """The first page of a long listing is handed on before its next page is asked for,
    so the pipeline stores it while the listing goes on (not after the whole unit)."""
    real = ApiClient.paginate
    handed_on = threading.Event()
    waits: list[bool] = []

    def paginate(self, path, **kwargs):
        pages = real(self, path, **kwargs)
        yield next(pages)
        if path.endswith("/meetings") and kwargs["params"].get("type") == "scheduled":
            # Ask for the second page only once the first has reached the consumer.
            waits.append(handed_on.wait(timeout=5))
        yield from pages

    monkeypatch.setattr(ApiClient, "paginate", paginate)
    batches = []
    for batch in zoom_fetch.fetch_access(client_for(zoom), SUBJECT_EMAIL, page_size=1):
        batches.append(batch)
        if batch.object_type == "meeting" and batch.records:
            handed_on.set()

    assert waits == [True]
    assert counts_of(collect(batches)) == expected_counts(zoom, SUBJECT_EMAIL)
