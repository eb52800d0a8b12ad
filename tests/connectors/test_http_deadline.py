"""A task's deadline caps every retry and budget wait of its client."""

import pytest

from connectors import clock
from connectors.clients import api_client_for
from connectors.exceptions import RateLimited
from tests.factories import simulator_connection

pytestmark = pytest.mark.django_db


def test_a_wait_past_the_deadline_raises_instead_of_sleeping(simulator, fake_clock):
    client = api_client_for(simulator_connection(simulator, "webex"))
    simulator.fault(
        provider="webex",
        path_prefix="/webex/v1/people/me",
        status=429,
        headers={"Retry-After": "30"},
        count=5,
    )
    client.deadline = clock.monotonic() + 10
    with pytest.raises(RateLimited) as raised:
        client.get("/people/me")
    assert raised.value.retry_after == 30
    assert fake_clock.sleeps == []


def test_waits_inside_the_deadline_still_happen(simulator, fake_clock):
    client = api_client_for(simulator_connection(simulator, "webex"))
    simulator.fault(
        provider="webex",
        path_prefix="/webex/v1/people/me",
        status=429,
        headers={"Retry-After": "3"},
        count=1,
    )
    client.deadline = clock.monotonic() + 10
    assert client.get("/people/me").status == 200
    assert fake_clock.sleeps == [3]
