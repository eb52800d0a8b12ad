"""ApiClient against the Webex + Zoom simulator: its Link defects, scripted faults, Zoom paging."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors import http
from connectors.exceptions import MalformedResponse, RateLimited, Transient
from connectors.providers import get_provider
from tests.connectors.doubles import StaticToken

# Every wait here is fake time, and backoff waits are the top of their range.
pytestmark = pytest.mark.usefixtures("max_jitter_clock")


@pytest.fixture
def sim(simulator):
    """The shared simulator fixture (tests/fixtures/simulator.py), freshly reset."""
    return simulator


def _client(sim, provider: str, scopes=None, **kwargs) -> http.ApiClient:
    token = sim.state.mint_token(provider=provider, scopes=scopes)["access_token"]
    base = sim.webex_base_url if provider == "webex" else sim.zoom_api_base_url
    return http.ApiClient(
        provider=get_provider(provider),
        base_url=base,
        token_source=StaticToken(token),
        max_attempts=kwargs.pop("max_attempts", 6),
        max_retry_wait=300,
        **kwargs,
    )


def _webex_meetings(sim, client: http.ApiClient) -> list[str]:
    now = sim.state.now()
    params = {
        "meetingType": "meeting",
        "from": (now - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "max": 7,
    }
    return [m["id"] for page in client.paginate("/meetings", params=params) for m in page.items]


def test_link_defects_are_repaired_against_the_simulator(sim, max_jitter_clock):
    client = _client(sim, "webex")
    clean = _webex_meetings(sim, client)

    sim.state.configure(webex_link_defects=True)
    sim.state.clear_log()
    repaired = _webex_meetings(sim, client)

    assert len(clean) > 14  # several pages of 7
    assert repaired == clean
    assert len(set(repaired)) == len(repaired)
    logged = sim.state.requests("webex", "/webex/v1/meetings")
    assert all(entry.status == 200 for entry in logged)
    assert all(entry.query["meetingType"] == ["meeting"] for entry in logged)


def test_simulated_429_storm_then_success(sim, max_jitter_clock):
    client = _client(sim, "webex")
    sim.state.add_fault(
        provider="webex",
        path_prefix="/webex/v1/people/me",
        status=429,
        headers={"Retry-After": "3"},
        count=3,
    )

    me = client.get("/people/me").json()

    assert me.get("emails")
    assert max_jitter_clock.sleeps == [3.0, 3.0, 3.0]


def test_simulated_429_storm_beyond_attempts(sim, max_jitter_clock):
    client = _client(sim, "zoom", max_attempts=3)
    sim.state.add_fault(provider="zoom", path_prefix="/zoom/v2/users", status=429, count=10)

    with pytest.raises(RateLimited) as caught:
        client.get("/users/me", category="light")

    assert caught.value.retry_after == 4.0
    assert max_jitter_clock.sleeps == [1.0, 2.0]


def test_simulated_5xx_then_success_and_exhausted(sim, max_jitter_clock):
    client = _client(sim, "zoom", max_attempts=3)
    sim.state.add_fault(provider="zoom", path_prefix="/zoom/v2/users/me", status=503, count=2)
    assert client.get("/users/me", category="light").json()["email"]

    sim.state.add_fault(provider="zoom", path_prefix="/zoom/v2/users/me", status=500, count=3)
    with pytest.raises(Transient) as caught:
        client.get("/users/me", category="light")
    assert caught.value.code == "http_500"


def test_simulated_bad_json_is_malformed(sim, max_jitter_clock):
    client = _client(sim, "webex")
    sim.state.add_fault(
        provider="webex",
        path_prefix="/webex/v1/people/me",
        kind="bad_json",
        count=http.MALFORMED_MAX_ATTEMPTS,
    )

    with pytest.raises(MalformedResponse):
        client.get("/people/me").json()


def test_simulated_html_gateway_page_is_retried_then_transient(sim, max_jitter_clock):
    client = _client(sim, "webex", max_attempts=2)
    sim.state.add_fault(provider="webex", path_prefix="/webex/v1/people/me", kind="html")
    assert client.get("/people/me").json().get("emails")

    sim.state.add_fault(provider="webex", path_prefix="/webex/v1/people/me", kind="html", count=2)
    with pytest.raises(Transient) as caught:
        client.get("/people/me")
    assert caught.value.code == "http_502"
    assert "Bad Gateway" not in str(caught.value)


def test_zoom_token_pagination_lists_every_user_once(sim, max_jitter_clock):
    client = _client(sim, "zoom", scopes=["user:read:list_users:admin"])

    pages = list(
        client.paginate(
            "/users", params={"status": "active"}, items_key="users", page_size=7, category="medium"
        )
    )

    ids = [u["id"] for page in pages for u in page.items]
    assert len(pages) > 2
    assert len(ids) == len(set(ids))
    assert pages[-1].next_cursor is None
    everything = client.get(
        "/users", params={"status": "active", "page_size": 300}, category="medium"
    ).json()
    assert sorted(ids) == sorted(u["id"] for u in everything["users"])
