"""A Zoom fetch through the pipeline with 3% of answers a 200 with a malformed body
(seeded): every record in one run, each bad page asked for again."""

from __future__ import annotations

from collections import Counter

import pytest

from connectors.simulator.seed import SUBJECT_EMAIL
from requests_app.models import PrivacyRequest, Record, Result
from requests_app.services import fetching
from tests.connectors.zoom.support import UNLIMITED_QPS, expected_counts, expected_types
from tests.factories import PrivacyRequestFactory, ResultFactory, simulator_connection


@pytest.mark.django_db(transaction=True)
def test_3_percent_malformed_bodies_cost_no_run(zoom, monkeypatch):
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: None)
    zoom.reset(seed=1, zoom_qps=UNLIMITED_QPS, rate_bad_body=0.03, fault_provider="zoom")
    request = PrivacyRequestFactory(
        subject_email=SUBJECT_EMAIL, status=PrivacyRequest.Status.PROCESSING
    )
    result = ResultFactory(
        request=request,
        connection=simulator_connection(zoom, "zoom", account="full"),
        status=Result.Status.QUEUED,
    )

    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    result.refresh_from_db()
    assert result.attempts == 1
    counts = Counter(Record.objects.filter(result=result).values_list("object_type", flat=True))
    assert {t: counts.get(t, 0) for t in expected_types()} == expected_counts(zoom, SUBJECT_EMAIL)
    log = zoom.requests("zoom")
    asked = Counter((r.path, tuple(sorted((k, tuple(v)) for k, v in r.query.items()))) for r in log)
    assert sum(n - 1 for n in asked.values()) >= 1, len(log)  # a malformed answer, retried
