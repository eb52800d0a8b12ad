"""Webex API rules: windows, pagination (and its defects), caps, scopes, participants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors.simulator.seed import (
    SUBJECT_EMAIL,
    SUBJECT_SHOUTED_EMAIL,
    SUBJECT_STORED_EMAIL,
    WEBEX_USER_EMAIL,
)
from tests.simulator.helpers import bearer, follow_webex


def z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def admin_token(simulator):
    return simulator.mint_token("webex")["access_token"]


@pytest.fixture
def nina_token(simulator):
    scopes = [
        "meeting:schedules_read",
        "meeting:participants_read",
        "meeting:admin_schedule_read",
        "meeting:admin_participants_read",
    ]
    return simulator.mint_token("webex", user_email=WEBEX_USER_EMAIL, scopes=scopes)["access_token"]


def meetings_url(sim) -> str:
    return f"{sim.webex_base_url}/meetings"


def instance_by_title(sim, title):
    return next(i for i in sim.state.org.webex.instances if i.title == title)


def test_default_instance_window_is_the_last_seven_days(simulator, admin_token):
    now = simulator.state.now()
    items = follow_webex(meetings_url(simulator), admin_token, {"meetingType": "meeting"})
    starts = [datetime.fromisoformat(i["start"].replace("Z", "+00:00")) for i in items]
    assert items and all(now - timedelta(days=7) <= s <= now for s in starts)
    expected = [
        i for i in simulator.state.org.webex.instances if now - timedelta(days=7) <= i.start <= now
    ]
    assert {i["id"] for i in items} == {i.id for i in expected}


def test_default_series_window_is_the_next_seven_days(simulator, admin_token):
    items = follow_webex(meetings_url(simulator), admin_token)
    titles = {i["title"] for i in items}
    assert "Future board prep" in titles  # three days ahead, the admin hosts
    assert all(i["meetingType"] == "meetingSeries" for i in items)


def test_org_wide_listing_pages_and_matches_seed(simulator, admin_token):
    now = simulator.state.now()
    start = now - timedelta(days=400)
    first = requests.get(
        meetings_url(simulator),
        headers=bearer(admin_token),
        params={"meetingType": "meeting", "from": z(start), "to": z(now)},
    )
    assert len(first.json()["items"]) == 10  # default max
    assert 'rel="next"' in first.headers["Link"]
    items = follow_webex(
        meetings_url(simulator),
        admin_token,
        {"meetingType": "meeting", "from": z(start), "to": z(now), "max": 100},
    )
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)) == len(simulator.state.org.webex.instances)
    assert all("_I_" in i for i in ids)
    assert {i["state"] for i in items} == {"ended", "inProgress"}


@pytest.mark.parametrize("value", ["0", "101", "null", "ten"])
def test_max_out_of_range_is_rejected(simulator, admin_token, value):
    response = requests.get(
        meetings_url(simulator),
        headers=bearer(admin_token),
        params={"meetingType": "meeting", "max": value},
    )
    assert response.status_code == 400
    assert set(response.json()) == {"message", "errors", "trackingId"}


def test_link_defect_knob_reproduces_max_null_and_dropped_params(simulator, admin_token):
    now = simulator.state.now()
    params = {
        "meetingType": "meeting",
        "from": z(now - timedelta(days=120)),
        "to": z(now),
        "max": 50,
    }
    clean = follow_webex(meetings_url(simulator), admin_token, params)
    simulator.configure(webex_link_defects=True)
    first = requests.get(meetings_url(simulator), headers=bearer(admin_token), params=params)
    next_url = first.links["next"]["url"]
    query = parse_qs(urlsplit(next_url).query)
    assert query["max"] == ["null"]
    assert "from" not in query and "meetingType" not in query
    assert requests.get(next_url, headers=bearer(admin_token)).status_code == 400
    # A client that repairs the URL (drops max=null, re-adds its parameters) gets everything.
    items = list(first.json()["items"])
    url = next_url
    while url:
        fixed = {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items() if k != "max"}
        response = requests.get(
            meetings_url(simulator), headers=bearer(admin_token), params={**params, **fixed}
        )
        items.extend(response.json()["items"])
        url = response.links.get("next", {}).get("url")
    assert [i["id"] for i in items] == [i["id"] for i in clean]


def test_instance_cap_truncates_even_with_pagination(simulator, admin_token):
    simulator.configure(webex_instance_cap=25)
    now = simulator.state.now()
    items = follow_webex(
        meetings_url(simulator),
        admin_token,
        {"meetingType": "meeting", "from": z(now - timedelta(days=400)), "to": z(now), "max": 10},
    )
    assert len(items) == 25


def test_host_email_is_honoured_for_admins_only(simulator, admin_token):
    now = simulator.state.now()
    params = {
        "meetingType": "meeting",
        "from": z(now - timedelta(days=400)),
        "to": z(now),
        "max": 100,
        "hostEmail": SUBJECT_EMAIL,
    }
    as_admin = follow_webex(meetings_url(simulator), admin_token, params)
    subject = SUBJECT_EMAIL
    assert as_admin
    for item in as_admin:
        inst = next(i for i in simulator.state.org.webex.instances if i.id == item["id"])
        assert inst.host.email.lower() == subject or subject in [e.lower() for e in inst.invitees]
    assert any(i["hostEmail"] != SUBJECT_STORED_EMAIL for i in as_admin)  # invitee rows too
    plain = simulator.mint_token(
        "webex",
        user_email=WEBEX_USER_EMAIL,
        scopes=["meeting:schedules_read", "meeting:admin_schedule_read"],
    )
    as_user = follow_webex(meetings_url(simulator), plain["access_token"], params)
    assert as_user
    assert all(WEBEX_USER_EMAIL in [i["hostEmail"], *_invitees(simulator, i)] for i in as_user)


def _invitees(sim, item):
    inst = next(i for i in sim.state.org.webex.instances if i.id == item["id"])
    return inst.invitees


def test_org_wide_listing_needs_the_admin_scope(simulator):
    now = simulator.state.now()
    params = {
        "meetingType": "meeting",
        "from": z(now - timedelta(days=400)),
        "to": z(now),
        "max": 100,
    }
    token = simulator.mint_token("webex", scopes=["meeting:schedules_read"])["access_token"]
    own = follow_webex(meetings_url(simulator), token, params)
    assert 0 < len(own) < len(simulator.state.org.webex.instances)
    none = simulator.mint_token("webex", scopes=["spark:kms"])["access_token"]
    response = requests.get(meetings_url(simulator), headers=bearer(none), params=params)
    assert response.status_code == 403


def test_participants_need_meeting_id_and_page(simulator, admin_token):
    url = f"{simulator.webex_base_url}/meetingParticipants"
    assert requests.get(url, headers=bearer(admin_token)).status_code == 400
    big = instance_by_title(simulator, "All hands")
    records = follow_webex(url, admin_token, {"meetingId": big.id, "max": 100})
    assert len(records) == 162
    assert sum(r["email"] == SUBJECT_STORED_EMAIL for r in records) == 1
    town = instance_by_title(simulator, "Town hall \u2013 全员大会")
    emails = [r["email"] for r in follow_webex(url, admin_token, {"meetingId": town.id})]
    assert SUBJECT_SHOUTED_EMAIL in emails and len(emails) == 232


def test_participants_of_others_meetings_need_the_admin_scope(simulator, nina_token):
    url = f"{simulator.webex_base_url}/meetingParticipants"
    others = instance_by_title(simulator, "1:1 Björn / Li")
    own = instance_by_title(simulator, "1:1 Nina / José")
    # Nina holds the admin scope but no admin role: it does not count.
    assert (
        requests.get(url, headers=bearer(nina_token), params={"meetingId": others.id}).status_code
        == 403
    )
    assert (
        requests.get(url, headers=bearer(nina_token), params={"meetingId": own.id}).status_code
        == 200
    )
    admin_no_scope = simulator.mint_token("webex", scopes=["meeting:participants_read"])
    response = requests.get(
        url, headers=bearer(admin_no_scope["access_token"]), params={"meetingId": others.id}
    )
    assert response.status_code == 403


def test_participants_only_for_started_instances(simulator, admin_token):
    url = f"{simulator.webex_base_url}/meetingParticipants"
    live = instance_by_title(simulator, "Incident bridge (all day)")
    records = follow_webex(url, admin_token, {"meetingId": live.id})
    assert records and all(r["state"] == "joined" and "leftTime" not in r for r in records)
    future = next(
        s for s in simulator.state.org.webex.series.values() if s.title == "Future board prep"
    )
    occurrence = f"{future.id}_{future.occurrences[0]:%Y%m%dT%H%M%SZ}"
    response = requests.get(url, headers=bearer(admin_token), params={"meetingId": occurrence})
    assert response.status_code == 404


def test_series_id_means_the_last_instance(simulator, admin_token):
    series = next(
        s for s in simulator.state.org.webex.series.values() if s.title.startswith("Dana's weekly")
    )
    last = [i for i in simulator.state.org.webex.instances if i.series_id == series.id][-1]
    records = follow_webex(
        f"{simulator.webex_base_url}/meetingParticipants", admin_token, {"meetingId": series.id}
    )
    assert {r["meetingId"] for r in records} == {last.id}


def test_join_window_is_at_most_90_days(simulator, admin_token):
    inst = instance_by_title(simulator, "Partner update")
    response = requests.get(
        f"{simulator.webex_base_url}/meetingParticipants",
        headers=bearer(admin_token),
        params={
            "meetingId": inst.id,
            "joinTimeFrom": "2026-01-01T00:00:00Z",
            "joinTimeTo": "2026-05-01T00:00:00Z",
        },
    )
    assert response.status_code == 400


def test_query_participants_by_email_matches_exactly(simulator, admin_token):
    inst = instance_by_title(simulator, "Partner update")
    url = f"{simulator.webex_base_url}/meetingParticipants/query"
    exact = requests.post(
        url,
        headers=bearer(admin_token),
        params={"meetingId": inst.id},
        json={"emails": [SUBJECT_STORED_EMAIL]},
    )
    assert [r["email"] for r in exact.json()["items"]] == [SUBJECT_STORED_EMAIL]
    lower = requests.post(
        url,
        headers=bearer(admin_token),
        params={"meetingId": inst.id},
        json={"emails": [SUBJECT_EMAIL]},
    )
    assert lower.json()["items"] == []
    missing = requests.post(url, headers=bearer(admin_token), json={"emails": []})
    assert missing.status_code == 400


def test_meeting_preferences_self_and_admin(simulator, admin_token, nina_token):
    url = f"{simulator.webex_base_url}/meetingPreferences"
    own = requests.get(url, headers=bearer(admin_token))
    assert own.status_code == 200 and "personalMeetingRoom" in own.json()
    other = requests.get(url, headers=bearer(admin_token), params={"userEmail": SUBJECT_EMAIL})
    assert "Dana Kowalski" in other.json()["personalMeetingRoom"]["topic"]
    denied = requests.get(url, headers=bearer(nina_token), params={"userEmail": SUBJECT_EMAIL})
    assert denied.status_code == 403


def test_unknown_and_query_string_tokens_are_401(simulator, admin_token):
    url = f"{simulator.webex_base_url}/people/me"
    assert requests.get(url, headers=bearer("made-up")).status_code == 401
    assert requests.get(url, params={"access_token": admin_token}).status_code == 401
    log = simulator.requests("webex", "/webex/v1/people/me")
    assert log[-1].query == {"access_token": ["[redacted]"]}
    assert admin_token not in repr([e.as_dict() for e in simulator.requests()])


def test_fetcher_walk_over_http_matches_expected_truth(simulator, admin_token):
    """A complete monthly walk over HTTP finds exactly what the truth helper predicts."""
    simulator.configure(webex_rate_per_minute=100_000)  # ~450 calls in one minute
    now = simulator.state.now()
    start = now - timedelta(days=365)
    found = {}
    cursor = start
    while cursor < now:
        end = min(cursor + timedelta(days=31), now)
        for meeting in follow_webex(
            meetings_url(simulator),
            admin_token,
            {"meetingType": "meeting", "from": z(cursor), "to": z(end), "max": 100},
        ):
            records = follow_webex(
                f"{simulator.webex_base_url}/meetingParticipants",
                admin_token,
                {"meetingId": meeting["id"], "max": 100},
            )
            mine = [r for r in records if r["email"].strip().lower() == SUBJECT_EMAIL]
            if mine:
                found[meeting["id"]] = (len(records), len(mine))
        cursor = end
    expected = simulator.state.expected_webex_meetings(SUBJECT_EMAIL, start, now)
    assert found == {e["id"]: (e["participant_records"], e["subject_records"]) for e in expected}
    titles = {e["title"]: e for e in expected}
    assert titles["Dana alone"]["distinct_participants"] == 1
    assert titles["1:1 Dana / Zoë"]["is_1_on_1"]
    assert titles["Dropped and rejoined"]["subject_records"] == 2
    assert titles["Town hall \u2013 全员大会"]["participant_records"] == 232
    assert "Dana hosts, Dana absent" not in titles
    assert "Old kickoff (13 months ago)" not in titles


def test_ended_participants_appear_15_minutes_after_the_end(simulator, admin_token):
    import time_machine

    inst = instance_by_title(simulator, "Partner update")
    url = f"{simulator.webex_base_url}/meetingParticipants"
    with time_machine.travel(inst.end + timedelta(minutes=5), tick=False):
        early = requests.get(url, headers=bearer(admin_token), params={"meetingId": inst.id})
    with time_machine.travel(inst.end + timedelta(minutes=16), tick=False):
        ready = requests.get(url, headers=bearer(admin_token), params={"meetingId": inst.id})
    assert early.json()["items"] == []
    assert len(ready.json()["items"]) == len(inst.participants)


def test_state_and_series_filters(simulator, admin_token):
    now = simulator.state.now()
    window = {
        "meetingType": "meeting",
        "from": z(now - timedelta(days=400)),
        "to": z(now),
        "max": 100,
    }
    live = follow_webex(meetings_url(simulator), admin_token, {**window, "state": "inProgress"})
    assert [i["title"] for i in live] == ["Incident bridge (all day)"]
    assert (
        requests.get(
            meetings_url(simulator),
            headers=bearer(admin_token),
            params={**window, "state": "finished"},
        ).status_code
        == 400
    )
    series = next(
        s for s in simulator.state.org.webex.series.values() if s.title.startswith("Dana's weekly")
    )
    items = follow_webex(
        meetings_url(simulator), admin_token, {**window, "meetingSeriesId": series.id}
    )
    assert items and {i["meetingSeriesId"] for i in items} == {series.id}
    occurrences = follow_webex(
        meetings_url(simulator),
        admin_token,
        {
            "meetingType": "scheduledMeeting",
            "meetingSeriesId": series.id,
            "hostEmail": SUBJECT_EMAIL,
            "from": z(now),
            "to": z(now + timedelta(days=60)),
        },
    )
    assert occurrences and all(o["state"] == "scheduled" for o in occurrences)
    assert all(o["id"].startswith(f"{series.id}_") for o in occurrences)
