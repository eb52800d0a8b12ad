"""Connection pages through the test client."""

import pytest

from connectors.models import Connection
from portal.models import AuditEvent
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def test_list_shows_empty_state_then_connections(staff_client):
    assert "No connections yet" in staff_client.get("/connections/").content.decode()
    ConnectionFactory(name="Acme Webex", status=Connection.Status.NEEDS_REAUTH)
    page = staff_client.get("/connections/").content.decode()
    assert "Acme Webex" in page and "Needs re-authorisation" in page


def test_create_shows_the_redirect_uris_and_stores_the_secret_encrypted(staff_client, staff_user):
    form = staff_client.get("/connections/new/").content.decode()
    assert "/connections/oauth/webex/callback/" in form
    assert "/connections/oauth/zoom/callback/" in form
    response = staff_client.post(
        "/connections/new/",
        {
            "provider": "zoom",
            "name": "Acme Zoom",
            "client_id": " abc ",
            "client_secret": "SENTINEL-new-secret",
            "access_mode": "api",
            "contact_email": "Owner@Example.com",
            "escalation_policy": "block",
            "reminder_days": 5,
            "escalation_days": 14,
        },
    )
    connection = Connection.objects.get()
    assert response["Location"] == f"/connections/{connection.pk}/"
    assert (connection.client_id, connection.contact_email) == ("abc", "owner@example.com")
    assert connection.client_secret == "SENTINEL-new-secret"
    assert staff_user in connection.owners.all()
    detail = staff_client.get(response["Location"]).content.decode()
    assert "SENTINEL" not in detail
    assert "/connections/oauth/zoom/callback/" in detail
    assert AuditEvent.objects.filter(action="connection.created").exists()


def test_create_errors_are_clear_and_keep_nothing(staff_client):
    response = staff_client.post(
        "/connections/new/",
        {
            "provider": "webex",
            "name": "",
            "client_id": "",
            "client_secret": "x",
            "access_mode": "direct_contact",
            "contact_email": "",
            "escalation_policy": "skip",
            "reminder_days": 5,
            "escalation_days": 14,
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "A Direct Contact connection needs a contact address." in page
    assert "This field is required." in page
    assert not Connection.objects.exists()


def test_detail_names_missing_scopes_and_what_they_block(staff_client):
    connection = ConnectionFactory(
        provider="zoom",
        connected=True,
        granted_scopes=["user:read:user:admin", "meeting:read:list_meetings:admin"],
    )
    page = staff_client.get(f"/connections/{connection.pk}/").content.decode()
    assert "phone:read:list_call_logs:admin" in page
    assert "Without it the person&#x27;s call history is left out." in page
    assert "Missing 9 required scopes" in page


def test_classic_zoom_scopes_are_accepted(staff_client):
    from connectors.providers import get_provider

    classic = list(get_provider("zoom").scopes.families[1].scopes)
    connection = ConnectionFactory(provider="zoom", connected=True, granted_scopes=classic)
    page = staff_client.get(f"/connections/{connection.pk}/").content.decode()
    assert "Zoom classic scopes" in page
    assert "Missing" not in page


def test_edit_keeps_the_secret_when_left_blank(staff_client):
    connection = ConnectionFactory(client_secret="keep-me")
    response = staff_client.post(
        f"/connections/{connection.pk}/edit/",
        {
            "name": "Renamed",
            "client_id": connection.client_id,
            "client_secret": "",
            "access_mode": "api",
            "contact_email": "",
            "escalation_policy": "skip",
            "reminder_days": 3,
            "escalation_days": 10,
        },
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert (connection.name, connection.client_secret, connection.reminder_days) == (
        "Renamed",
        "keep-me",
        3,
    )
    event = AuditEvent.objects.get(action="connection.updated")
    assert "client_secret" not in event.details["fields"]


def test_verify_without_tokens_is_explained(staff_client):
    connection = ConnectionFactory()
    response = staff_client.post(f"/connections/{connection.pk}/verify/", follow=True)
    assert "Connect first" in response.content.decode()


@pytest.mark.parametrize("provider", ["webex", "zoom"])
def test_detail_page_lets_the_connect_form_reach_the_provider(staff_client, settings, provider):
    """CSP form-action also governs the redirect after the Connect form is posted."""
    settings.ZOOM_OAUTH_BASE_URL = "https://zoom.us"
    settings.WEBEX_BASE_URL = "https://webexapis.com/v1"
    connection = ConnectionFactory(provider=provider)
    csp = staff_client.get(f"/connections/{connection.pk}/")["Content-Security-Policy"]
    form_action = next(d for d in csp.split(";") if d.strip().startswith("form-action"))
    expected = "https://webexapis.com" if provider == "webex" else "https://zoom.us"
    assert expected in form_action and "'self'" in form_action
    other = staff_client.get("/connections/")["Content-Security-Policy"]
    assert expected not in other
