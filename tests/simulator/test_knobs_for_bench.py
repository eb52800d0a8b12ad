"""Knobs for the benchmarks: a larger Webex organisation with bench subjects, and a
per-token rate limit the product is not told."""

from __future__ import annotations

from datetime import timedelta

import requests

from connectors.simulator.seed import BENCH_SUBJECT_EMAIL, SUBJECT_EMAIL
from tests.simulator.helpers import bearer


def test_extra_instances_enlarge_the_organisation_and_keep_the_base_data(simulator):
    base = {inst.id for inst in simulator.state.org.webex.instances}

    simulator.reset(webex_extra_instances=400, webex_extra_subjects=3)
    org = simulator.state.org.webex

    assert len(org.instances) == len(base) + 400
    assert base <= {inst.id for inst in org.instances}
    assert org.instances == sorted(org.instances, key=lambda i: (i.start, i.id))
    now = simulator.state.now()
    extra = [i for i in org.instances if i.id not in base]
    assert all(now - timedelta(days=365) < i.start and i.end < now for i in extra)
    for n in range(3):
        found = simulator.state.expected_webex_meetings(BENCH_SUBJECT_EMAIL.format(n))
        assert 8 <= len(found) <= 35  # about 20 each

    simulator.reset()
    assert {inst.id for inst in simulator.state.org.webex.instances} == base


def test_a_hidden_per_second_limit_refuses_the_excess_with_retry_after(simulator):
    simulator.reset(webex_rate_per_minute=5, webex_rate_window=1.0)
    token = simulator.mint_token("webex")["access_token"]

    answers = [
        requests.get(f"{simulator.webex_base_url}/people/me", headers=bearer(token), timeout=5)
        for _ in range(8)
    ]

    statuses = [a.status_code for a in answers]
    assert statuses[:5] == [200] * 5
    assert 429 in statuses[5:]
    assert all(a.headers["Retry-After"] == "1" for a in answers if a.status_code == 429)


def test_extra_call_logs_are_listed_page_by_page_and_counted_by_the_truth(simulator):
    base = simulator.state.expected_zoom_counts(SUBJECT_EMAIL)["call_logs"]

    simulator.reset(zoom_extra_call_logs=1500)
    token = simulator.mint_token("zoom", account="full")["access_token"]
    today = simulator.state.now().date()
    ids, pages, next_page_token = [], 0, ""
    while True:
        answer = requests.get(
            f"{simulator.zoom_api_base_url}/phone/users/{SUBJECT_EMAIL}/call_logs",
            params={
                "from": (today - timedelta(days=27)).isoformat(),
                "to": today.isoformat(),
                "page_size": 100,
                "next_page_token": next_page_token,
            },
            headers=bearer(token),
            timeout=5,
        )
        assert answer.status_code == 200
        body = answer.json()
        ids += [item["id"] for item in body["call_logs"]]
        pages += 1
        next_page_token = body.get("next_page_token")
        if not next_page_token:
            break

    assert pages >= 3  # about 230 extra call logs in these four weeks: several pages
    assert len(ids) == len(set(ids))
    counted = simulator.state.expected_zoom_counts(SUBJECT_EMAIL)["call_logs"]
    assert counted == base + 1500
    over_http = requests.get(
        f"{simulator.base_url}/_sim/truth/zoom-counts",
        params={"email": SUBJECT_EMAIL, "account": "full"},
        timeout=5,
    ).json()
    assert over_http["call_logs"] == counted

    simulator.reset()
    assert simulator.state.expected_zoom_counts(SUBJECT_EMAIL)["call_logs"] == base
