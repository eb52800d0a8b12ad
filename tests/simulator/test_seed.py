"""The seeded organisation: deterministic, anchored to the day, fast, with the hard cases."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from connectors.simulator import SimulatorState, seed
from connectors.simulator.seed import SUBJECT_EMAIL, UNKNOWN_EMAIL


def fingerprint_org(org: seed.Organisation) -> list:
    return [(i.id, i.title, i.start, len(i.participants)) for i in org.webex.instances] + [
        (u.id, u.email, len(u.meetings), len(u.call_logs))
        for account in org.zoom.values()
        for u in account.users
    ]


def test_same_seed_same_day_same_data():
    anchor = datetime(2026, 5, 4, tzinfo=UTC)
    seed.build.cache_clear()
    first = fingerprint_org(seed.build(11, anchor))
    seed.build.cache_clear()
    assert fingerprint_org(seed.build(11, anchor)) == first
    assert fingerprint_org(seed.build(12, anchor)) != first


def test_anchor_is_the_reset_day():
    with time_machine.travel("2026-07-09 08:15:00 +0000", tick=False) as traveller:
        state = SimulatorState()
        morning = fingerprint_org(state.org)
        traveller.shift(3600 * 10)
        state.reset()
        assert state.org.anchor == datetime(2026, 7, 9, tzinfo=UTC)
        assert fingerprint_org(state.org) == morning


def test_realistic_shapes_and_hard_cases():
    state = SimulatorState()
    org = state.org
    starts = [i.start for i in org.webex.instances]
    assert (max(starts) - min(starts)).days >= 390  # thirteen months
    assert any(len(i.participants) >= 150 for i in org.webex.instances)
    assert any(i.title.startswith("=HYPERLINK(") for i in org.webex.instances)
    assert any("<" in i.title for i in org.webex.instances)
    assert any(not p.display_name.isascii() for p in org.webex.people.values())
    assert all("_I_" in i.id and len(i.series_id) == 32 for i in org.webex.instances)
    emails = [p.email for p in org.webex.people.values()]
    assert any(e != e.lower() for e in emails)
    assert state.expected_webex_meetings(UNKNOWN_EMAIL) == []
    for account in ("full", "basic"):
        assert state.expected_zoom_counts(UNKNOWN_EMAIL, account)["found"] is False
    full, basic = org.zoom["full"], org.zoom["basic"]
    assert full.phone_enabled and full.webinars_enabled
    assert not basic.phone_enabled and not basic.webinars_enabled
    assert state.expected_zoom_counts(SUBJECT_EMAIL, "basic")["found"] is True
    hosted = [m for m in state.expected_webex_meetings(SUBJECT_EMAIL) if m["subject_is_host"]]
    assert hosted and any(
        not m["subject_is_host"] for m in state.expected_webex_meetings(SUBJECT_EMAIL)
    )
