"""A malformed provider body (not JSON, not an object, a listing's items not a list)
is retried inside the call, with its own bound, and a listing retries the same page."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.exceptions import MalformedResponse
from connectors.http import MALFORMED_MAX_ATTEMPTS, ApiClient
from connectors.providers import get_provider
from tests.connectors.doubles import StaticToken

pytestmark = pytest.mark.usefixtures("max_jitter_clock")

PEOPLE_ME = "/webex/v1/people/me"
MEETINGS = "/webex/v1/meetings"


@pytest.fixture
def client(simulator):
    simulator.configure(webex_rate_per_minute=100_000)
    token = simulator.mint_token("webex")["access_token"]
    return ApiClient(
        provider=get_provider("webex"),
        base_url=simulator.webex_base_url,
        token_source=StaticToken(token),
    )


def statuses(sim, path):
    return [r.status for r in sim.requests("webex", path)]


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "bad_json"},  # truncated JSON
        {"kind": "status", "status": 200, "body": [{"id": "x"}]},  # an array, not an object
        {"kind": "status", "status": 200, "body": "<html>proxy page</html>"},
    ],
)
def test_a_malformed_body_is_retried_within_the_call(simulator, client, max_jitter_clock, fault):
    simulator.fault(provider="webex", path_prefix=PEOPLE_ME, count=2, **fault)

    assert client.get("/people/me").json()["emails"]

    assert statuses(simulator, PEOPLE_ME) == [200, 200, 200]
    assert max_jitter_clock.sleeps == [1.0, 2.0]  # backoff, at the top of its range
    assert client.call_count == 3


def test_malformed_bodies_have_their_own_bound(simulator, client):
    simulator.fault(provider="webex", path_prefix=PEOPLE_ME, kind="bad_json", count=50)

    with pytest.raises(MalformedResponse) as caught:
        client.get("/people/me").json()

    assert len(statuses(simulator, PEOPLE_ME)) == MALFORMED_MAX_ATTEMPTS
    assert caught.value.retry_after is not None


def test_malformed_retries_do_not_use_up_the_transient_retries(simulator, client, settings):
    settings.HTTP_MAX_ATTEMPTS = 2
    client = ApiClient(
        provider=client.hooks, base_url=client.base_url, token_source=client.token_source
    )
    simulator.fault(provider="webex", path_prefix=PEOPLE_ME, kind="bad_json", count=2)
    simulator.fault(provider="webex", path_prefix=PEOPLE_ME, status=503, count=1)

    assert client.get("/people/me").json()["emails"]
    assert statuses(simulator, PEOPLE_ME) == [200, 200, 503, 200]


def _pages(client, sim):
    sim.clear_log()
    now = timezone.now()
    params = {
        "meetingType": "meeting",
        "from": (now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "max": 10,
    }
    pages = list(client.paginate("/meetings", params=params))
    return [item["id"] for page in pages for item in page.items], sim.requests("webex", MEETINGS)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "bad_json"},
        {"kind": "status", "status": 200, "body": {"items": "not a list"}},
        {"kind": "status", "status": 200, "body": {"items": [{"id": "a"}, "b"]}},
    ],
)
def test_a_listing_retries_the_same_page_and_loses_nothing(simulator, client, fault):
    clean, clean_log = _pages(client, simulator)
    assert len(clean_log) >= 3

    simulator.fault(provider="webex", path_prefix=MEETINGS, skip=1, **fault)
    ids, log = _pages(client, simulator)

    assert ids == clean
    queries = [tuple(sorted((k, tuple(v)) for k, v in r.query.items())) for r in log]
    assert len(log) == len(clean_log) + 1
    assert queries[1] == queries[2]  # page 2 asked again, not page 1 or the listing
    assert Counter(queries)[queries[1]] == 2
