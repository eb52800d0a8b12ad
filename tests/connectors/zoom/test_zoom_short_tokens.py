"""A Zoom fetch with 30-second access tokens (the refresh token rotates on every
refresh), in frozen time that moves with each request: every record, and one
refresh per half lifetime."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connectors.clients import api_client_for
from connectors.models import Connection
from connectors.simulator.seed import SUBJECT_EMAIL
from tests.connectors.fake_time import requests_take_time, token_calls
from tests.connectors.zoom.support import collect, counts_of, expected_counts, fetch_all
from tests.factories import simulator_connection

LIFETIME = 30
STEP = 2.0  # seconds each provider request takes


@pytest.mark.django_db(transaction=True)
def test_30_second_tokens_fetch_every_record_refreshing_every_half_lifetime(
    zoom, monkeypatch, settings
):
    # Each simulated request takes STEP seconds of fake time; with the default 48 units
    # in flight one round would age a 30-second token by 96 s, which no real fetch does.
    settings.ZOOM_FETCH_CONCURRENCY = 4
    zoom.configure(zoom_access_lifetime=LIFETIME)
    with requests_take_time(monkeypatch, step=STEP):
        connection = simulator_connection(zoom, "zoom", account="full", lifetime=LIFETIME)
        started = timezone.now()
        batches = fetch_all(api_client_for(connection), SUBJECT_EMAIL)
        elapsed = (timezone.now() - started).total_seconds()
        expected = expected_counts(zoom, SUBJECT_EMAIL)

    assert counts_of(collect(batches)) == expected
    calls = len(zoom.requests("zoom"))
    refreshes = len(token_calls(zoom, "zoom"))
    # As for Webex: one per half lifetime, each period up to two steps longer.
    most = elapsed / (LIFETIME / 2)
    least = elapsed / (LIFETIME / 2 + 2 * STEP)
    assert elapsed > 3 * LIFETIME, "the fetch must outlive several tokens"
    assert least - 1 <= refreshes <= most + 2, (refreshes, least, most, calls)
    assert refreshes < calls / 5
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ACTIVE
