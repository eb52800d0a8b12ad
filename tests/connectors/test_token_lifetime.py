"""Short-lived access tokens: the refresh margin scales with the lifetime, and a 401
right after a refresh is retried once with the newest stored token."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors import tokens
from connectors.clients import api_client_for
from connectors.exceptions import Unauthorized
from connectors.models import Connection
from connectors.providers.base import TokenSet
from connectors.simulator import fingerprint
from tests.connectors.fake_time import token_calls
from tests.factories import ConnectionFactory, simulator_connection

PEOPLE_ME = "/webex/v1/people/me"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lifetime", "expires_in", "due"),
    [
        (30, 20, False),  # margin 15 s, not the 10 minutes
        (30, 14, True),
        (3599, 11 * 60, False),  # margin = the setting (10 minutes)
        (3599, 9 * 60, True),
        (None, 11 * 60, False),  # lifetime unknown (stored before it was kept): the setting
        (None, 9 * 60, True),
    ],
)
def test_the_refresh_margin_is_the_setting_or_half_the_lifetime(lifetime, expires_in, due):
    connection = ConnectionFactory(
        connected=True,
        access_token_lifetime=lifetime,
        access_token_expires_at=timezone.now() + timedelta(seconds=expires_in),
    )
    assert tokens.needs_refresh(connection) is due


def test_stored_tokens_keep_the_lifetime_the_provider_gave():
    connection = Connection(provider="webex")
    before = timezone.now()
    fields = tokens.apply_tokens(connection, TokenSet("at", "rt", 30, None, ()))
    assert connection.access_token_lifetime == 30
    assert "access_token_lifetime" in fields
    expires = connection.access_token_expires_at - timedelta(seconds=30)
    assert before <= expires <= timezone.now()


@pytest.mark.django_db
def test_the_schedule_leaves_a_short_token_alone_until_half_its_life_is_gone(simulator):
    connection = simulator_connection(simulator, "zoom", account="full", lifetime=60)
    Connection.objects.filter(pk=connection.pk).update(access_token_lifetime=60)

    assert tokens.refresh_expiring_tokens() == 0
    assert token_calls(simulator, "zoom") == []

    Connection.objects.filter(pk=connection.pk).update(
        access_token_expires_at=timezone.now() + timedelta(seconds=29)
    )
    assert tokens.refresh_expiring_tokens() == 1
    assert len(token_calls(simulator, "zoom")) == 1


@pytest.mark.django_db
def test_a_401_after_a_refresh_is_retried_with_the_token_another_worker_stored(
    simulator, monkeypatch
):
    connection = simulator_connection(simulator, "webex")
    simulator.expire_token(connection.access_token)  # we still believe it valid for 14 days
    refresh = tokens.refresh_tokens

    def ours_then_another_workers(**kwargs):
        ours = refresh(**kwargs)
        # Another worker refreshes right after us, and the provider drops the token we got.
        refresh(connection_id=connection.pk, stale_access_token=ours.access_token)
        simulator.expire_token(ours.access_token)
        return ours

    monkeypatch.setattr(tokens, "refresh_tokens", ours_then_another_workers)

    assert api_client_for(connection).get("/people/me").json()["emails"]

    stored = Connection.objects.get(pk=connection.pk)
    assert stored.status == Connection.Status.ACTIVE
    log = simulator.requests("webex", PEOPLE_ME)
    assert [r.status for r in log] == [401, 401, 200]
    assert log[-1].token_fingerprint == fingerprint(stored.access_token)
    assert len(token_calls(simulator, "webex")) == 2  # ours and the other worker's, no third


@pytest.mark.django_db
def test_a_401_for_the_newest_stored_token_is_unauthorized_without_another_call(
    simulator, monkeypatch
):
    connection = simulator_connection(simulator, "webex")
    simulator.expire_token(connection.access_token)
    refresh = tokens.refresh_tokens

    def refused_at_once(**kwargs):
        ours = refresh(**kwargs)
        simulator.expire_token(ours.access_token)
        return ours

    monkeypatch.setattr(tokens, "refresh_tokens", refused_at_once)

    with pytest.raises(Unauthorized):
        api_client_for(connection).get("/people/me")

    assert [r.status for r in simulator.requests("webex", PEOPLE_ME)] == [401, 401]
    assert len(token_calls(simulator, "webex")) == 1
