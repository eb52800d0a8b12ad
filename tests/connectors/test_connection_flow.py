"""Connecting, verifying, refreshing and disconnecting against the simulator over HTTP."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from django.core import mail
from django.db import connection as db
from django.utils import timezone

from connectors import oauth, services, tokens
from connectors.exceptions import GrantRevoked
from connectors.models import Connection
from connectors.simulator.seed import DEMO_CLIENTS
from portal.models import AuditEvent
from tests.factories import TEST_PASSWORD, ConnectionFactory, StaffFactory, simulator_connection

WEBEX = next(c for c in DEMO_CLIENTS if c.provider == "webex")
ZOOM_FULL = next(c for c in DEMO_CLIENTS if c.account == "full")
ZOOM_BASIC = next(c for c in DEMO_CLIENTS if c.account == "basic")


def connect(client, connection) -> requests.Response:
    """Press Connect, let the simulator approve, and return the portal's callback answer."""
    start = client.post(f"/connections/{connection.pk}/connect/")
    assert start.status_code == 302
    approved = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["Location"])
    assert back.path == f"/connections/oauth/{connection.provider}/callback/"
    return client.get(back.path + "?" + back.query)


def sign_in_recently(client, user) -> None:
    """Sign in and confirm the password again, as sensitive actions require."""
    client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    response = client.post("/accounts/reauthenticate/", {"password": TEST_PASSWORD})
    assert response.status_code == 302, response.content


def token_calls(simulator, provider):
    path = "/webex/v1/access_token" if provider == "webex" else "/zoom/oauth/token"
    return [r for r in simulator.requests(provider) if r.path == path]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "demo", [WEBEX, ZOOM_FULL, ZOOM_BASIC], ids=["webex", "zoom", "zoom-classic"]
)
def test_connect_flow_stores_encrypted_tokens_and_verifies(
    simulator, staff_client, staff_user, demo
):
    connection = ConnectionFactory(
        provider=demo.provider, client_id=demo.client_id, client_secret=demo.client_secret
    )
    response = connect(staff_client, connection)
    assert response.status_code == 302
    assert response["Location"] == f"/connections/{connection.pk}/"
    assert response["Referrer-Policy"] == "no-referrer"
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE, connection.last_error
    assert connection.authorised_by == staff_user
    assert connection.authorised_at is not None
    assert connection.last_verified_at is not None
    assert connection.access_token and connection.refresh_token
    assert connection.access_token_expires_at > timezone.now()
    with db.cursor() as cur:
        cur.execute("SELECT access_token, refresh_token FROM connectors_connection")
        raw = cur.fetchone()
    assert connection.access_token not in raw[0] and raw[0].startswith("gAAAA")
    if demo.provider == "webex":
        # Webex returns no scope: we record what we requested.
        from connectors.providers import get_provider

        assert set(connection.granted_scopes) == set(get_provider("webex").scopes.requested)
        paths = {r.path for r in simulator.requests("webex")}
        assert {"/webex/v1/people/me", "/webex/v1/meetings"} <= paths
    else:
        assert set(connection.granted_scopes) == set(demo.scopes)
        assert connection.api_base_url == simulator.zoom_api_base_url.removesuffix("/v2")
    if demo is ZOOM_FULL:
        # The granular list lacks user:read:list_users:admin: verify fell back to /users/me.
        assert "user:read:list_users:admin" in connection.verification_notes
        assert connection.last_error == ""
        assert any(r.path == "/zoom/v2/users/me" for r in simulator.requests("zoom"))
    # PKCE: the verifier is gone from the session with its state.
    assert staff_client.session.get(oauth.SESSION_KEY) == {}
    assert AuditEvent.objects.filter(action="connection.authorised").count() == 1
    page = staff_client.get(f"/connections/{connection.pk}/").content.decode()
    for secret in (connection.access_token, connection.refresh_token, demo.client_secret):
        assert secret not in page


@pytest.mark.django_db
def test_a_code_cannot_be_exchanged_twice(simulator, staff_client):
    connection = ConnectionFactory(
        provider="zoom", client_id=ZOOM_FULL.client_id, client_secret=ZOOM_FULL.client_secret
    )
    start = staff_client.post(f"/connections/{connection.pk}/connect/")
    approved = requests.get(start["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(approved.headers["Location"])
    assert staff_client.get(back.path + "?" + back.query).status_code == 302
    replay = staff_client.get(back.path + "?" + back.query)
    assert replay.status_code == 400
    assert len(token_calls(simulator, "zoom")) == 1


@pytest.mark.django_db
def test_wrong_client_secret_is_explained(simulator, staff_client):
    connection = ConnectionFactory(
        provider="webex", client_id=WEBEX.client_id, client_secret="not-the-secret"
    )
    response = connect(staff_client, connection)
    assert response.status_code == 400
    assert b"Check the client ID, client secret" in response.content
    assert b"not-the-secret" not in response.content
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NOT_CONNECTED
    assert connection.access_token is None


@pytest.mark.django_db
def test_webex_non_administrator_fails_verification_in_plain_words(simulator, staff_user):
    from connectors.simulator.seed import WEBEX_USER_EMAIL

    connection = simulator_connection(simulator, "webex", user_email=WEBEX_USER_EMAIL)
    services.connection_verify(connection=connection, actor=staff_user)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ERROR
    assert "administrator" in connection.last_error


@pytest.mark.django_db
def test_zoom_without_user_scope_fails_verification_in_plain_words(simulator, staff_user):
    connection = simulator_connection(
        simulator, "zoom", scopes=["meeting:read:list_meetings:admin"]
    )
    services.connection_verify(connection=connection, actor=staff_user)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ERROR
    assert "user:read:user:admin" in connection.last_error


@pytest.mark.django_db
def test_zoom_refresh_rotates_and_the_old_token_dies(simulator):
    connection = simulator_connection(simulator, "zoom", account="full")
    old_access, old_refresh = connection.access_token, connection.refresh_token
    refreshed = tokens.refresh_tokens(connection_id=connection.pk, stale_access_token=old_access)
    assert refreshed.access_token != old_access
    assert refreshed.refresh_token != old_refresh
    assert Connection.objects.get(pk=connection.pk).refresh_token == refreshed.refresh_token
    # Zoom refuses the spent refresh token.
    again = requests.post(
        f"{simulator.zoom_oauth_base_url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=(ZOOM_FULL.client_id, ZOOM_FULL.client_secret),
        timeout=5,
    )
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_a_second_caller_with_the_stale_token_reuses_the_new_one(simulator):
    connection = simulator_connection(simulator, "zoom", account="full")
    stale = connection.access_token
    first = tokens.refresh_tokens(connection_id=connection.pk, stale_access_token=stale)
    second = tokens.refresh_tokens(connection_id=connection.pk, stale_access_token=stale)
    assert first.access_token == second.access_token
    assert len(token_calls(simulator, "zoom")) == 1


@pytest.mark.django_db
def test_proactive_refresh_only_touches_tokens_about_to_expire(simulator):
    soon = simulator_connection(simulator, "zoom", account="full", lifetime=60)
    later = simulator_connection(simulator, "zoom", account="basic")
    assert tokens.refresh_expiring_tokens() == 1
    soon.refresh_from_db()
    later_fresh = Connection.objects.get(pk=later.pk)
    assert soon.access_token_expires_at > timezone.now() + timedelta(minutes=30)
    assert later_fresh.token_generation == later.token_generation


@pytest.mark.django_db
def test_rotated_refresh_token_is_saved_with_the_access_token_or_not_at_all(simulator, monkeypatch):
    connection = simulator_connection(simulator, "zoom", account="full")
    before = (connection.access_token, connection.refresh_token)
    original_save = Connection.save

    def crash(self, *args, **kwargs):
        raise RuntimeError("killed before commit")

    monkeypatch.setattr(Connection, "save", crash)
    with pytest.raises(RuntimeError):
        tokens.refresh_tokens(connection_id=connection.pk, stale_access_token=before[0])
    monkeypatch.setattr(Connection, "save", original_save)
    after = Connection.objects.get(pk=connection.pk)
    assert (after.access_token, after.refresh_token) == before


@pytest.mark.django_db
def test_invalid_grant_needs_reauth_with_no_further_token_calls(simulator, settings):
    owner = StaffFactory()
    connection = simulator_connection(simulator, "zoom", account="full")
    connection.owners.add(owner)
    simulator.revoke_token(connection.refresh_token)
    with pytest.raises(GrantRevoked):
        tokens.refresh_tokens(
            connection_id=connection.pk, stale_access_token=connection.access_token
        )
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH
    assert AuditEvent.objects.filter(action="connection.needs_reauth").count() == 1
    calls = len(token_calls(simulator, "zoom"))
    assert calls == 1
    source = tokens.ConnectionTokenSource(connection.pk)
    for attempt in (
        lambda: source.access_token(),
        lambda: tokens.refresh_tokens(connection_id=connection.pk),
        lambda: tokens.refresh_expiring_tokens(),
    ):
        with contextlib.suppress(GrantRevoked):
            attempt()
    assert len(token_calls(simulator, "zoom")) == calls


@pytest.mark.django_db
def test_needs_reauth_emails_the_owners(simulator, django_capture_on_commit_callbacks):
    owner = StaffFactory()
    connection = simulator_connection(simulator, "webex")
    connection.owners.add(owner)
    simulator.revoke_token(connection.refresh_token)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(GrantRevoked):
        tokens.refresh_tokens(
            connection_id=connection.pk, stale_access_token=connection.access_token
        )
    assert [m.to for m in mail.outbox] == [[owner.email]]
    assert "needs re-authorisation" in mail.outbox[0].subject
    assert connection.refresh_token not in mail.outbox[0].body


@pytest.mark.django_db
def test_invalid_grant_after_another_worker_rotated_keeps_the_connection(monkeypatch):
    connection = ConnectionFactory(
        connected=True, provider="zoom", access_token="at-old", refresh_token="rt-old"
    )

    def other_worker_rotated_then_refused(**kwargs):
        # Another process (no lock on SQLite) stored fresh tokens while our call was in flight.
        fresh = Connection.objects.get(pk=connection.pk)
        fresh.access_token, fresh.refresh_token = "at-new", "rt-new"
        fresh.save(update_fields=["access_token", "refresh_token"])
        raise GrantRevoked(
            provider="zoom", method="POST", path="/oauth/token", code="invalid_grant"
        )

    monkeypatch.setattr(oauth, "refresh_grant", other_worker_rotated_then_refused)
    result = tokens.refresh_tokens(connection_id=connection.pk, stale_access_token="at-old")
    assert result.status == Connection.Status.ACTIVE
    assert result.access_token == "at-new"
    assert not AuditEvent.objects.filter(action="connection.needs_reauth").exists()


@pytest.mark.django_db
def test_disconnect_revokes_at_zoom_and_wipes_tokens(simulator, client):
    user = StaffFactory()
    connection = simulator_connection(simulator, "zoom", account="full")
    token = connection.access_token
    sign_in_recently(client, user)
    page = client.get(f"/connections/{connection.pk}/disconnect/")
    assert page.status_code == 200
    response = client.post(f"/connections/{connection.pk}/disconnect/")
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == Connection.Status.DISCONNECTED
    assert connection.access_token is None and connection.refresh_token is None
    assert any(r.path == "/zoom/oauth/revoke" for r in simulator.requests("zoom"))
    probe = requests.get(
        f"{simulator.zoom_api_base_url}/users/me",
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )
    assert probe.status_code == 401


@pytest.mark.django_db
def test_delete_needs_the_name_and_wipes_tokens(simulator, client):
    user = StaffFactory()
    connection = simulator_connection(simulator, "webex")
    sign_in_recently(client, user)
    wrong = client.post(f"/connections/{connection.pk}/delete/", {"confirm_name": "nope"})
    assert wrong.status_code == 200
    assert Connection.objects.filter(pk=connection.pk).exists()
    right = client.post(f"/connections/{connection.pk}/delete/", {"confirm_name": connection.name})
    assert right.status_code == 302
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert AuditEvent.objects.filter(
        action="connection.deleted", target_id=str(connection.pk)
    ).exists()


@pytest.mark.django_db
def test_sensitive_actions_need_a_recent_sign_in(staff_client):
    connection = ConnectionFactory(connected=True)
    response = staff_client.post(f"/connections/{connection.pk}/disconnect/")
    assert response.status_code == 302
    assert "/accounts/reauthenticate/" in response["Location"]
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_threads_refresh_once_and_share_the_new_token(simulator):
    if db.vendor != "postgresql":
        pytest.skip("select_for_update is a no-op on SQLite; this runs in the PostgreSQL pass")
    connection = simulator_connection(simulator, "zoom", account="full")
    stale = connection.access_token
    barrier = threading.Barrier(8)
    got, errors = [], []

    def worker():
        from django.db import connections

        try:
            barrier.wait()
            got.append(
                tokens.refresh_tokens(
                    connection_id=connection.pk, stale_access_token=stale
                ).access_token
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(got) == 8 and len(set(got)) == 1
    assert len(token_calls(simulator, "zoom")) == 1
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.access_token == got[0]
    assert stored.status == Connection.Status.ACTIVE


@pytest.mark.django_db
def test_reconnecting_resumes_the_fetches_the_lost_grant_paused(
    monkeypatch, staff_user, django_capture_on_commit_callbacks
):
    from connectors.providers.base import TokenSet
    from requests_app.models import Result
    from requests_app.services import fetching
    from tests.factories import ResultFactory

    enqueued = []
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: enqueued.append(result_id))
    connection = ConnectionFactory(connected=True, status=Connection.Status.NEEDS_REAUTH)
    paused = ResultFactory(
        connection=connection,
        status=Result.Status.PAUSED,
        error_code="needs_reauth",
        checkpoint={"next_page": 3},
    )
    tokens = TokenSet("at-new", "rt-new", 3600, None, ("meeting:schedules_read",))
    with django_capture_on_commit_callbacks(execute=True):
        services.connection_store_authorization(
            connection_id=connection.pk, tokens=tokens, actor=staff_user
        )
    paused.refresh_from_db()
    assert paused.status == Result.Status.QUEUED
    assert paused.checkpoint == {"next_page": 3}  # continues, does not start over
    assert enqueued == [paused.pk]
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ACTIVE


@pytest.mark.django_db
def test_more_scopes_than_requested_are_recorded_and_flagged(staff_user, caplog):
    from connectors.providers.base import TokenSet

    connection = ConnectionFactory(provider="zoom")
    granted = (*ZOOM_FULL.scopes, "user:write:admin")
    services.connection_store_authorization(
        connection_id=connection.pk,
        tokens=TokenSet("at", "rt", 3599, None, granted),
        actor=staff_user,
    )
    event = AuditEvent.objects.get(action="connection.authorised")
    assert event.details["scopes_excess"] == ["user:write:admin"]
    assert event.details["scopes_missing"] == []
    assert "more scopes than requested" in caplog.text


@pytest.mark.django_db
def test_a_refused_client_secret_needs_reauth_and_says_why(simulator):
    connection = simulator_connection(simulator, "zoom", account="full")
    Connection.objects.filter(pk=connection.pk).update(client_secret="rotated-at-zoom")
    with pytest.raises(GrantRevoked):
        tokens.refresh_tokens(
            connection_id=connection.pk, stale_access_token=connection.access_token
        )
    connection.refresh_from_db()
    assert connection.status == Connection.Status.NEEDS_REAUTH
    assert "client ID or secret" in connection.last_error
    calls = len(token_calls(simulator, "zoom"))
    with pytest.raises(GrantRevoked):
        tokens.refresh_tokens(connection_id=connection.pk)
    assert len(token_calls(simulator, "zoom")) == calls


@pytest.mark.django_db
def test_a_temporary_verify_failure_keeps_the_connection_active(simulator, staff_user):
    connection = simulator_connection(simulator, "webex")
    simulator.fault(provider="webex", path_prefix="/webex/v1/people/me", status=503, count=50)
    services.connection_verify(connection=connection, actor=staff_user)
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE
    assert "could not be reached" in connection.last_error


@pytest.mark.django_db
def test_verifying_a_fixed_connection_resumes_its_paused_fetches(
    simulator, staff_user, monkeypatch, django_capture_on_commit_callbacks
):
    from requests_app.models import Result
    from requests_app.services import fetching
    from tests.factories import ResultFactory

    enqueued = []
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: enqueued.append(result_id))
    connection = simulator_connection(simulator, "webex")
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.ERROR)
    paused = ResultFactory(connection=connection, status=Result.Status.PAUSED)
    with django_capture_on_commit_callbacks(execute=True):
        services.connection_verify(connection=connection, actor=staff_user)
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.ACTIVE
    paused.refresh_from_db()
    assert paused.status == Result.Status.QUEUED
    assert enqueued == [paused.pk]


@pytest.mark.django_db
def test_deleting_a_connection_ends_its_unfinished_fetches(simulator, staff_user):
    from requests_app.models import PrivacyRequest, Result
    from tests.factories import PrivacyRequestFactory, ResultFactory

    connection = simulator_connection(simulator, "webex")
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.PROCESSING)
    paused = ResultFactory(request=request, connection=connection, status=Result.Status.PAUSED)
    services.connection_delete(connection=connection, actor=staff_user)
    paused.refresh_from_db()
    assert (paused.status, paused.error_code) == (Result.Status.SKIPPED, "connection_deleted")
    assert paused.connection_name  # still reads well without its connection


@pytest.mark.django_db
def test_a_mail_failure_does_not_hide_the_revoked_grant(
    simulator, settings, django_capture_on_commit_callbacks
):
    connection = simulator_connection(simulator, "zoom", account="full")
    connection.owners.add(StaffFactory())
    simulator.revoke_token(connection.refresh_token)

    settings.EMAIL_BACKEND = "tests.connectors.doubles.UnreachableMailServer"
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(GrantRevoked):
        tokens.refresh_tokens(
            connection_id=connection.pk, stale_access_token=connection.access_token
        )
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.NEEDS_REAUTH
