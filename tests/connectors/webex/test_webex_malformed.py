"""A Webex fetch through the pipeline with 3% of answers a 200 with a malformed body
(seeded): every record in one run, each bad page asked for again, not its window."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.providers.webex_fetch import MEETING
from connectors.simulator.seed import SUBJECT_EMAIL
from requests_app.models import PrivacyRequest, Record, Result
from requests_app.services import fetching
from tests.factories import PrivacyRequestFactory, ResultFactory, simulator_connection

LOOKBACK = 365

pytestmark = pytest.mark.usefixtures("max_jitter_clock")


@pytest.mark.django_db(transaction=True)
def test_3_percent_malformed_bodies_cost_no_run(simulator, settings, monkeypatch):
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: None)
    settings.CONNECTOR_RATE_LIMITS = {"webex": {"default": (100_000, 60.0)}}
    settings.FETCH_LOOKBACK_DAYS = LOOKBACK
    settings.FETCH_PARTICIPANT_CONCURRENCY = 1  # one request order: the seed decides
    simulator.reset(
        seed=20240601, webex_rate_per_minute=100_000, rate_bad_body=0.03, fault_provider="webex"
    )
    request = PrivacyRequestFactory(
        subject_email=SUBJECT_EMAIL, status=PrivacyRequest.Status.PROCESSING
    )
    result = ResultFactory(
        request=request,
        connection=simulator_connection(simulator, "webex"),
        status=Result.Status.QUEUED,
    )
    started = timezone.now()

    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    result.refresh_from_db()
    assert result.attempts == 1
    stored = set(
        Record.objects.filter(result=result, object_type=MEETING).values_list(
            "external_id", flat=True
        )
    )
    truth = simulator.state.expected_webex_meetings(
        SUBJECT_EMAIL, started - timedelta(days=LOOKBACK), started
    )
    assert stored == {t["id"] for t in truth} and len(stored) > 60
    # A malformed answer is followed by the very same request (that page, not its window).
    log = simulator.requests("webex")
    asked = Counter((r.path, tuple(sorted((k, tuple(v)) for k, v in r.query.items()))) for r in log)
    repeats = sum(n - 1 for n in asked.values())
    assert repeats >= len(log) * 0.02
    assert result.progress["api_calls"] == len(log)
