"""Knobs for the benchmarks: a larger Webex organisation with bench subjects, and a
per-token rate limit the product is not told."""

from __future__ import annotations

from datetime import timedelta

import requests

from connectors.simulator.seed import BENCH_SUBJECT_EMAIL
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
