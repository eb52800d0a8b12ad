"""Zoom API rules: lookups, scopes, list types, windows, Phone and webinar accounts, paging."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
import requests

from connectors.simulator.seed import (
    SUBJECT_EMAIL,
    SUBJECT_STORED_EMAIL,
    UNKNOWN_EMAIL,
    ZOOM_NO_PHONE_EMAIL,
    add_months,
    floor_day,
)
from connectors.simulator.truth import parse_iso, six_months_floor
from tests.simulator.helpers import bearer, follow_zoom

ADMIN_SCOPES = {
    "/users/{id}": "user:read:user:admin",
    "/users/{id}/settings": "user:read:settings:admin",
    "/users/{id}/meetings": "meeting:read:list_meetings:admin",
    "/users/{id}/webinars": "webinar:read:list_webinars:admin",
    "/users/{id}/recordings": "cloud_recording:read:list_user_recordings:admin",
    "/phone/users/{id}": "phone:read:user:admin",
    "/phone/users/{id}/settings": "phone:read:user_setting:admin",
    "/phone/users/{id}/call_logs": "phone:read:list_call_logs:admin",
    "/phone/users/{id}/voice_mails": "phone:read:list_voicemails:admin",
    "/phone/users/{id}/recordings": "phone:read:list_recordings:admin",
}
CLASSIC = {
    "/users/{id}": "user:read:admin",
    "/users/{id}/settings": "user:read:admin",
    "/users/{id}/meetings": "meeting:read:admin",
    "/users/{id}/webinars": "webinar:read:admin",
    "/users/{id}/recordings": "recording:read:admin",
    "/phone/users/{id}": "phone:read:admin",
    "/phone/users/{id}/settings": "phone:read:admin",
    "/phone/users/{id}/call_logs": "phone_call_log:read:admin",
    "/phone/users/{id}/voice_mails": "phone_voicemail:read:admin",
    "/phone/users/{id}/recordings": "phone_recording:read:admin",
}


@pytest.fixture
def full_token(simulator):
    return simulator.mint_token("zoom", account="full")["access_token"]


@pytest.fixture
def basic_token(simulator):
    return simulator.mint_token("zoom", account="basic")["access_token"]


def api(sim, path):
    return f"{sim.zoom_api_base_url}{path}"


def get(sim, path, token, **params):
    return requests.get(api(sim, path), headers=bearer(token), params=params, timeout=5)


def subject_id(sim) -> str:
    return sim.state.expected_zoom_counts(SUBJECT_EMAIL)["user_id"]


def test_list_users_scope_and_pagination(simulator, full_token, basic_token):
    denied = get(simulator, "/users", full_token)  # granular app without list_users
    assert denied.status_code == 400
    assert denied.json()["code"] == 4711
    assert "user:read:list_users:admin" in denied.json()["message"]
    assert get(simulator, "/users", basic_token).status_code == 200  # classic user:read:admin
    token = simulator.mint_token("zoom", account="full", scopes=["user:read:list_users:admin"])[
        "access_token"
    ]
    first = get(simulator, "/users", token).json()
    assert first["page_size"] == 30 and first["total_records"] == 43
    users = follow_zoom(api(simulator, "/users"), token, "users")
    assert len({u["id"] for u in users}) == 43
    pending = get(simulator, "/users", token, status="pending").json()["users"]
    assert len(pending) == 1 and "id" not in pending[0]


def test_user_lookup_by_email_is_case_insensitive_and_knob(simulator, full_token):
    found = get(simulator, f"/users/{SUBJECT_EMAIL}", full_token)
    assert found.status_code == 200
    encoded = get(simulator, f"/users/{SUBJECT_EMAIL.replace('@', '%40')}", full_token)
    assert encoded.json()["id"] == found.json()["id"]
    assert found.json()["email"] == SUBJECT_STORED_EMAIL
    missing = get(simulator, f"/users/{UNKNOWN_EMAIL}", full_token)
    assert missing.status_code == 404
    assert missing.json() == {"code": 1001, "message": f"User does not exist: {UNKNOWN_EMAIL}"}
    simulator.configure(zoom_email_case_sensitive=True)
    assert get(simulator, f"/users/{SUBJECT_EMAIL}", full_token).status_code == 404
    assert get(simulator, f"/users/{SUBJECT_STORED_EMAIL}", full_token).status_code == 200


def test_token_in_query_string_is_refused(simulator, full_token):
    response = requests.get(api(simulator, "/users/me"), params={"access_token": full_token})
    assert response.status_code == 401
    assert response.json()["code"] == 124
    assert "query parameter" in response.json()["message"]


@pytest.mark.parametrize("path", sorted(ADMIN_SCOPES))
def test_missing_scope_is_400_4711_and_any_listed_scope_suffices(simulator, path):
    user = subject_id(simulator)
    url = path.replace("{id}", user)
    without = simulator.mint_token("zoom", account="full", scopes=["group:read:group:admin"])
    response = get(simulator, url, without["access_token"])
    assert response.status_code == 400
    assert response.json()["code"] == 4711
    for scope in (ADMIN_SCOPES[path], CLASSIC[path]):
        token = simulator.mint_token("zoom", account="full", scopes=[scope])["access_token"]
        assert get(simulator, url, token).status_code == 200, (scope, url)


def test_user_level_scope_reaches_only_me(simulator):
    token = simulator.mint_token(
        "zoom",
        account="full",
        user_email=SUBJECT_STORED_EMAIL,
        scopes=["meeting:read:list_meetings"],
    )["access_token"]
    assert get(simulator, "/users/me/meetings", token).status_code == 200
    other = get(simulator, f"/users/{ZOOM_NO_PHONE_EMAIL}/meetings", token)
    assert other.status_code == 400 and other.json()["code"] == 4711


def test_meeting_list_types_overlap_and_union_matches_truth(simulator, full_token):
    user = subject_id(simulator)
    url = api(simulator, f"/users/{user}/meetings")
    sets = {
        kind: follow_zoom(url, full_token, "meetings", {"type": kind, "page_size": 300})
        for kind in ("scheduled", "live", "upcoming", "upcoming_meetings", "previous_meetings")
    }
    ids = {kind: [m["id"] for m in items] for kind, items in sets.items()}
    assert set(ids["live"]) <= set(ids["upcoming"]) & set(ids["scheduled"])
    assert ids["live"] and ids["previous_meetings"] and ids["upcoming_meetings"]
    union = {i for kind in ids.values() for i in kind}
    total = sum(len(v) for v in ids.values())
    assert total > len(union)  # a client must de-duplicate
    assert len(union) == simulator.state.expected_zoom_counts(SUBJECT_EMAIL)["meetings"]
    assert all(m["type"] != 1 for items in sets.values() for m in items)
    assert all(len(m["agenda"]) <= 250 for m in sets["scheduled"])
    assert get(simulator, f"/users/{user}/meetings", full_token, type="all").status_code == 400


def test_webinars_need_the_add_on(simulator, full_token, basic_token):
    user = subject_id(simulator)
    webinars = follow_zoom(api(simulator, f"/users/{user}/webinars"), full_token, "webinars")
    assert len(webinars) == simulator.state.expected_zoom_counts(SUBJECT_EMAIL)["webinars"] == 4
    response = get(simulator, f"/users/{SUBJECT_EMAIL}/webinars", basic_token)
    assert response.status_code == 400
    assert response.json()["code"] == 200


def test_recordings_window_rules_and_monthly_walk(simulator, full_token):
    user = subject_id(simulator)
    path = f"/users/{user}/recordings"
    today = floor_day(simulator.state.now()).date()
    default = get(simulator, path, full_token).json()
    assert default["from"] == today.isoformat()
    assert default["to"] == (today + timedelta(days=1)).isoformat()
    too_long = get(simulator, path, full_token, **{"from": "2026-01-01", "to": "2026-03-01"})
    assert too_long.status_code == 400 and too_long.json()["code"] == 300
    for value in ("01/02/2026", "2026-01-02T00:00:00Z"):
        assert get(simulator, path, full_token, **{"from": value}).status_code == 400
    month = get(simulator, path, full_token, **{"from": "2026-01-31", "to": "2026-02-28"})
    assert month.status_code == 200
    day_more = get(simulator, path, full_token, **{"from": "2026-01-01", "to": "2026-02-02"})
    assert day_more.status_code == 400
    expected = simulator.state.expected_zoom_counts(SUBJECT_EMAIL, lookback_days=365)
    found = set()
    start = today - timedelta(days=365)
    while start <= today:
        end = min(add_months_date(start, 1) - timedelta(days=1), today)
        for rec in follow_zoom(
            api(simulator, path),
            full_token,
            "meetings",
            {"from": start.isoformat(), "to": end.isoformat()},
        ):
            found.add(rec["uuid"])
        start = end + timedelta(days=1)
    assert len(found) == expected["recordings"] > 0
    trash = get(simulator, path, full_token, trash="true").json()
    assert trash["total_records"] > 0  # from/to do not apply to the trash


def add_months_date(day: date, months: int) -> date:
    from datetime import UTC, datetime

    return add_months(datetime(day.year, day.month, day.day, tzinfo=UTC), months).date()


def test_phone_accounts_and_licences(simulator, full_token, basic_token):
    disabled = get(simulator, f"/phone/users/{SUBJECT_EMAIL}", basic_token)
    assert disabled.status_code == 403
    assert disabled.json() == {
        "code": 2031,
        "message": "Zoom Phone has not been enabled for this account.",
    }
    unlicensed = get(simulator, f"/phone/users/{ZOOM_NO_PHONE_EMAIL}/call_logs", full_token)
    assert unlicensed.status_code == 404 and unlicensed.json()["code"] == 1001
    assert get(simulator, f"/users/{ZOOM_NO_PHONE_EMAIL}", full_token).status_code == 200
    profile = get(simulator, f"/phone/users/{SUBJECT_EMAIL}", full_token)
    assert profile.status_code == 200 and profile.json()["email"] == SUBJECT_STORED_EMAIL
    assert get(simulator, f"/phone/users/{SUBJECT_EMAIL}/settings", full_token).status_code == 200
    counts = simulator.state.expected_zoom_counts(ZOOM_NO_PHONE_EMAIL)
    assert counts["call_logs"] is None and counts["reasons"]["phone"] == "no_phone_licence"
    basic = simulator.state.expected_zoom_counts(SUBJECT_EMAIL, account="basic")
    assert basic["reasons"] == {"webinars": "no_webinar_plan", "phone": "phone_not_enabled"}


def test_call_log_windows(simulator, full_token, monkeypatch):
    # The seed puts a few call logs a few hours before the day's midnight: seen from
    # late in the day they are over 24 hours old. Read at noon (never later than the
    # token was minted, so it is still valid).
    noon = (floor_day(simulator.state.now()) + timedelta(hours=12)).timestamp()
    monkeypatch.setattr(simulator.state, "clock", lambda: min(time.time(), noon))
    path = f"/phone/users/{subject_id(simulator)}/call_logs"
    default = get(simulator, path, full_token).json()
    now = simulator.state.now()
    user = next(u for u in simulator.state.org.zoom["full"].users if u.id == subject_id(simulator))
    last_day = [
        c for c in user.call_logs if now - timedelta(hours=24) <= parse_iso(c["date_time"]) <= now
    ]
    assert default["total_records"] == len(last_day) >= 3  # the last 24 hours
    no_to = get(simulator, path, full_token, **{"from": date.today().isoformat()})
    assert no_to.status_code == 400
    floor = six_months_floor(simulator.state.now()).date()
    old = floor - timedelta(days=1)
    too_old = get(
        simulator,
        path,
        full_token,
        **{"from": old.isoformat(), "to": (old + timedelta(days=20)).isoformat()},
    )
    assert too_old.status_code == 400 and too_old.json()["code"] == 300


@pytest.mark.parametrize(
    ("suffix", "key", "count_key"),
    [
        ("call_logs", "call_logs", "call_logs"),
        ("voice_mails", "voice_mails", "voice_mails"),
        ("recordings", "recordings", "phone_recordings"),
    ],
)
def test_phone_six_month_walk_matches_truth(simulator, full_token, suffix, key, count_key):
    path = api(simulator, f"/phone/users/{subject_id(simulator)}/{suffix}")
    today = floor_day(simulator.state.now()).date()
    start = six_months_floor(simulator.state.now()).date()
    found = set()
    while start <= today:
        end = min(add_months_date(start, 1) - timedelta(days=1), today)
        for item in follow_zoom(
            path, full_token, key, {"from": start.isoformat(), "to": end.isoformat()}
        ):
            found.add(item["id"])
        start = end + timedelta(days=1)
    assert len(found) == simulator.state.expected_zoom_counts(SUBJECT_EMAIL)[count_key] > 0


def test_page_size_cap_and_expired_page_token(simulator, full_token):
    path = f"/phone/users/{subject_id(simulator)}/call_logs"
    today = floor_day(simulator.state.now()).date()
    params = {"from": (today - timedelta(days=27)).isoformat(), "to": today.isoformat()}
    capped = get(simulator, path, full_token, page_size=1000, **params).json()
    assert capped["page_size"] == 300
    first = get(simulator, path, full_token, page_size=2, **params).json()
    assert first["next_page_token"]
    changed = get(
        simulator,
        path,
        full_token,
        page_size=2,
        next_page_token=first["next_page_token"],
        **{"from": params["from"], "to": (today - timedelta(days=1)).isoformat()},
    )
    assert changed.status_code == 400  # bound to the query it came from
    simulator.state.expire_cursors()
    expired = get(
        simulator, path, full_token, page_size=2, next_page_token=first["next_page_token"], **params
    )
    assert expired.status_code == 400
    assert expired.json() == {"code": 400, "message": "The next page token is invalid or expired."}
