"""A Webex fetch with 30-second access tokens, in frozen time that moves with each
request: every record, and one refresh per half lifetime rather than one per call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.clients import api_client_for
from connectors.models import Connection
from connectors.providers.webex_fetch import MEETING, fetch_access
from connectors.simulator.seed import SUBJECT_EMAIL
from tests.connectors.fake_time import requests_take_time, token_calls
from tests.factories import simulator_connection

LIFETIME = 30
STEP = 1.0  # seconds each provider request takes
LOOKBACK = 365


@pytest.mark.django_db(transaction=True)  # participants are read from worker threads
def test_30_second_tokens_fetch_every_record_refreshing_every_half_lifetime(
    simulator, settings, monkeypatch
):
    settings.CONNECTOR_RATE_LIMITS = {"webex": {"default": (100_000, 60.0)}}
    settings.FETCH_PARTICIPANT_CONCURRENCY = 4
    simulator.configure(webex_rate_per_minute=100_000, webex_access_lifetime=LIFETIME)
    with requests_take_time(monkeypatch, step=STEP):
        connection = simulator_connection(simulator, "webex", lifetime=LIFETIME)
        started = timezone.now()
        client = api_client_for(connection)
        batches = list(fetch_access(client, SUBJECT_EMAIL, lookback_days=LOOKBACK))
        elapsed = (timezone.now() - started).total_seconds()

    found = {ext for b in batches if b.object_type == MEETING for ext, _ in b.records}
    truth = simulator.state.expected_webex_meetings(
        SUBJECT_EMAIL, started - timedelta(days=LOOKBACK), started
    )
    assert found == {t["id"] for t in truth} and len(found) > 5
    calls = len(simulator.requests("webex"))
    refreshes = len(token_calls(simulator, "webex"))
    # One refresh per half lifetime (the first token's lifetime is not stored yet, so
    # it is refreshed early); each comes at the first call after that, and the token
    # call itself takes a step; the reads in flight (4 participant reads and the listing
    # running ahead) can each add a step before the next call sees the old token.
    most = elapsed / (LIFETIME / 2)
    least = elapsed / (LIFETIME / 2 + (2 + 4 + 1) * STEP)
    assert elapsed > 10 * LIFETIME, "the fetch must outlive many tokens"
    assert least - 1 <= refreshes <= most + 2, (refreshes, least, most, calls)
    assert refreshes < calls / 10
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ACTIVE
