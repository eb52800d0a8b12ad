"""Single flight: requests started together on one connection share one scan.

Threads with their own database connections on the file-backed test database, so the
lease is taken through real concurrent transactions, as by workers on other machines.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connections

from connectors.models import WebexParticipantIndex
from connectors.simulator.seed import SUBJECT_EMAIL
from tests.connectors.webex.index_support import (
    LOOKBACK,
    MEETINGS_PATH,
    UNLIMITED,
    calls,
    full_scan,
    indexed,
    participant_reads,
    truth_ids,
)
from tests.factories import simulator_connection

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("max_jitter_clock"),
]

REQUESTS = 12


def busiest_people(sim, count: int) -> list[str]:
    """The people with the most meetings in the lookback (the subject first)."""
    now = sim.state.now()
    seen: Counter[str] = Counter()
    for inst in sim.state.org.webex.instances:
        if now - timedelta(days=LOOKBACK) <= inst.start < now:
            seen.update({p["email"].strip().lower() for p in inst.participants})
    others = [e for e, _ in seen.most_common() if e != SUBJECT_EMAIL]
    return [SUBJECT_EMAIL, *others[: count - 1]]


def test_requests_started_together_share_one_scan(simulator, settings):
    settings.CONNECTOR_RATE_LIMITS = UNLIMITED
    settings.FETCH_PARTICIPANT_CONCURRENCY = 2
    settings.FETCH_LOOKBACK_DAYS = LOOKBACK
    simulator.configure(webex_rate_per_minute=100_000, latency=0.002)
    connection = simulator_connection(simulator, "webex")
    emails = busiest_people(simulator, REQUESTS)
    answers: dict[str, dict] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(REQUESTS)

    def request(email: str) -> None:
        try:
            barrier.wait()
            answers[email] = indexed(connection, email)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(e,)) for e in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(answers) == REQUESTS

    instances = {
        i.id
        for i in simulator.state.org.webex.instances
        if simulator.state.now() - timedelta(days=LOOKBACK) <= i.start < simulator.state.now()
    }
    reads = Counter(participant_reads(simulator))
    own = sum(len(a) for a in answers.values())
    # One scan (every instance once), each request's own instances, and the few
    # unsettled instances a follow-up top-up reads again: never a second scan.
    assert set(reads) == instances
    assert sum(reads.values()) <= len(instances) + own + 3 * 2
    long_windows = [
        r for r in calls(simulator, MEETINGS_PATH) if "from" in r.query and "cursor" not in r.query
    ]
    oldest = min(r.query["from"][0] for r in long_windows)
    assert sum(1 for r in long_windows if r.query["from"][0] == oldest) == 1
    state = WebexParticipantIndex.objects.get(connection=connection)
    assert state.lease_token == "" and state.scan is None

    simulator.clear_log()
    for email in emails[:3]:
        assert answers[email] == full_scan(connection, email)
    assert set(answers[SUBJECT_EMAIL]) == truth_ids(simulator, SUBJECT_EMAIL)
    assert all(answers[e] for e in emails)
