"""State and PKCE rules of the connect flow: single use, expiry, owner, PKCE S256."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine

from connectors import oauth
from connectors.models import Connection
from tests.factories import ConnectionFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_calls(monkeypatch):
    """Record (never perform) token endpoint calls."""
    calls = []

    def fake_post_token_form(url, **kwargs):
        calls.append(url)
        raise AssertionError("the token endpoint must not be called")

    monkeypatch.setattr(oauth, "post_token_form", fake_post_token_form)
    return calls


def start_flow(client, connection) -> dict[str, list[str]]:
    response = client.post(f"/connections/{connection.pk}/connect/")
    assert response.status_code == 302
    return parse_qs(urlsplit(response["Location"]).query)


@pytest.mark.parametrize("provider", ["webex", "zoom"])
def test_authorize_url_carries_scopes_state_and_pkce(staff_client, provider, settings):
    connection = ConnectionFactory(provider=provider)
    response = staff_client.post(f"/connections/{connection.pk}/connect/")
    location = response["Location"]
    expected_base = (
        f"{settings.WEBEX_BASE_URL}/authorize"
        if provider == "webex"
        else f"{settings.ZOOM_OAUTH_BASE_URL}/oauth/authorize"
    )
    assert location.startswith(expected_base + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [connection.client_id]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == [oauth.redirect_uri(provider)]
    assert query["code_challenge_method"] == ["S256"]
    assert len(base64.urlsafe_b64decode(query["state"][0] + "==")) >= 16  # >= 128 bits
    requested = query["scope"][0].split(" ")
    from connectors.providers import get_provider

    assert requested == list(get_provider(provider).scopes.requested)
    pending = staff_client.session[oauth.SESSION_KEY][query["state"][0]]
    verifier = pending["verifier"]
    digest = hashlib.sha256(verifier.encode()).digest()
    assert query["code_challenge"] == [base64.urlsafe_b64encode(digest).rstrip(b"=").decode()]
    assert verifier not in location


def test_redirect_uri_is_a_constant_per_provider(settings):
    settings.PORTAL_BASE_URL = "https://dsar.example.com"
    assert oauth.redirect_uri("webex") == (
        "https://dsar.example.com/connections/oauth/webex/callback/"
    )
    assert oauth.redirect_uri("zoom") == "https://dsar.example.com/connections/oauth/zoom/callback/"


def test_connect_needs_post(staff_client):
    connection = ConnectionFactory()
    assert staff_client.get(f"/connections/{connection.pk}/connect/").status_code == 405


def _callback(client, provider, **params):
    return client.get(f"/connections/oauth/{provider}/callback/", params)


def test_missing_state_is_refused_without_a_token_call(staff_client, token_calls):
    response = _callback(staff_client, "webex", code="abc")
    assert response.status_code == 400
    assert response["Referrer-Policy"] == "no-referrer"
    assert b"no state" in response.content
    assert token_calls == []


def test_tampered_state_is_refused(staff_client, token_calls):
    connection = ConnectionFactory()
    query = start_flow(staff_client, connection)
    tampered = query["state"][0][:-1] + ("A" if query["state"][0][-1] != "A" else "B")
    response = _callback(staff_client, "webex", code="abc", state=tampered)
    assert response.status_code == 400
    assert token_calls == []


def test_replayed_state_is_refused(staff_client, monkeypatch):
    connection = ConnectionFactory()
    query = start_flow(staff_client, connection)
    calls = []
    monkeypatch.setattr(
        oauth, "post_token_form", lambda url, **kw: calls.append(url) or {"error": "x"}
    )
    state = query["state"][0]
    first = _callback(staff_client, "webex", code="abc", state=state)
    assert first.status_code in (302, 400, 502)
    second = _callback(staff_client, "webex", code="abc", state=state)
    assert second.status_code == 400
    assert b"already used" in second.content
    assert len(calls) == 1


def test_expired_state_is_refused(staff_client, token_calls):
    connection = ConnectionFactory()
    with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
        query = start_flow(staff_client, connection)
    with time_machine.travel("2026-03-01 10:11:00Z", tick=False):
        response = _callback(staff_client, "webex", code="abc", state=query["state"][0])
    assert response.status_code == 400
    assert b"expired" in response.content
    assert token_calls == []


def test_another_users_state_is_refused(client, token_calls):
    connection = ConnectionFactory()
    alice, bob = StaffFactory(), StaffFactory()
    client.force_login(alice)
    query = start_flow(client, connection)
    # Bob cannot use Alice's state: his session does not hold it.
    from django.test import Client

    bob_client = Client()
    bob_client.force_login(bob)
    response = _callback(bob_client, "webex", code="abc", state=query["state"][0])
    assert response.status_code == 400
    assert token_calls == []


def test_state_for_another_provider_is_refused(staff_client, token_calls):
    connection = ConnectionFactory(provider="webex")
    query = start_flow(staff_client, connection)
    response = _callback(staff_client, "zoom", code="abc", state=query["state"][0])
    assert response.status_code == 400
    assert token_calls == []


def test_provider_denial_is_explained_and_stores_nothing(staff_client, token_calls):
    connection = ConnectionFactory()
    query = start_flow(staff_client, connection)
    response = _callback(staff_client, "webex", error="access_denied", state=query["state"][0])
    assert response.status_code == 400
    assert b"did not grant access" in response.content
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NOT_CONNECTED
    assert token_calls == []


def test_callback_ignores_next_parameter(staff_client, monkeypatch):
    connection = ConnectionFactory()
    query = start_flow(staff_client, connection)
    from connectors.providers.base import TokenSet

    monkeypatch.setattr(
        oauth,
        "exchange_code",
        lambda **kw: TokenSet("at", "rt", 3600, None, ("meeting:schedules_read",)),
    )
    monkeypatch.setattr("connectors.services.connection_verify", lambda **kw: None)
    response = _callback(
        staff_client, "webex", code="abc", state=query["state"][0], next="https://evil.example"
    )
    assert response.status_code == 302
    assert response["Location"] == f"/connections/{connection.pk}/"
    assert response["Referrer-Policy"] == "no-referrer"


def test_only_a_few_pending_states_are_kept(staff_client):
    connection = ConnectionFactory()
    for _ in range(oauth.MAX_PENDING_STATES + 5):
        start_flow(staff_client, connection)
    assert len(staff_client.session[oauth.SESSION_KEY]) == oauth.MAX_PENDING_STATES
