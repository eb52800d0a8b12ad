"""The dashboard's panels and the error pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection
from portal import views
from requests_app.models import PrivacyRequest
from tests.factories import ConnectionFactory, PrivacyRequestFactory

pytestmark = pytest.mark.django_db


def test_dashboard_panels(staff_client):
    now = timezone.now()
    overdue = PrivacyRequestFactory(due_at=now - timedelta(days=2))
    soon = PrivacyRequestFactory(due_at=now + timedelta(days=3))
    review = PrivacyRequestFactory(
        due_at=now + timedelta(days=25), status=PrivacyRequest.Status.IN_REVIEW
    )
    PrivacyRequestFactory(due_at=now - timedelta(days=9), status=PrivacyRequest.Status.CLOSED)
    ConnectionFactory(connected=True)
    ConnectionFactory(connected=True)
    ConnectionFactory(status=Connection.Status.NEEDS_REAUTH)

    response = staff_client.get(reverse("dashboard"))
    ctx = response.context
    assert [r.pk for r in ctx["overdue"]] == [overdue.pk]
    assert [r.pk for r in ctx["due_soon"]] == [soon.pk]
    assert [r.pk for r in ctx["in_review"]] == [review.pk]
    assert ctx["open_count"] == 3
    health = {row["status"]: row["count"] for row in ctx["connection_health"]}
    assert health["active"] == 2
    assert health["needs_reauth"] == 1
    assert health["error"] == 0
    html = response.content.decode()
    assert "Connection health" in html
    assert "Needs re-authorisation" in html


def test_dashboard_empty_states(staff_client):
    html = staff_client.get(reverse("dashboard")).content.decode()
    assert "Nothing is overdue." in html
    assert "No request is waiting for review." in html


def test_404_uses_layout(staff_client):
    response = staff_client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html
    assert "bootstrap.min.css" in html


def test_500_renders_without_request_context():
    request = RequestFactory().get("/")
    response = views.server_error(request)
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html
    assert "Sign out" not in html


def test_admin_pages_render(client, admin_user):
    from portal.audit import audit_record
    from tests.factories import ResultFactory

    result = ResultFactory()
    audit_record(action="request.created", target=result.request)
    client.force_login(admin_user)
    for name, args in [
        ("admin:portal_user_changelist", []),
        ("admin:portal_user_add", []),
        ("admin:portal_user_change", [admin_user.pk]),
        ("admin:portal_auditevent_changelist", []),
        ("admin:portal_apitoken_changelist", []),
        ("admin:requests_app_privacyrequest_changelist", []),
        ("admin:requests_app_privacyrequest_change", [result.request.pk]),
        ("admin:requests_app_result_change", [result.pk]),
    ]:
        response = client.get(reverse(name, args=args))
        assert response.status_code == 200, name


@pytest.mark.parametrize(
    "name",
    [
        "mfa_index",
        "mfa_activate_totp",
        "mfa_view_recovery_codes",
        "account_change_password",
        "account_logout",
        "account_reauthenticate",
    ],
)
def test_allauth_account_pages_use_the_layout(client, staff_user, name):
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    from tests.factories import TEST_PASSWORD

    if name == "mfa_view_recovery_codes":
        RecoveryCodes.activate(staff_user)
    client.post(reverse("account_login"), {"login": staff_user.email, "password": TEST_PASSWORD})
    client.post(reverse("account_reauthenticate"), {"password": TEST_PASSWORD})
    response = client.get(reverse(name))
    assert response.status_code == 200, name
    html = response.content.decode()
    assert "Skip to main content" in html
    assert "bootstrap.min.css" in html
    assert " style=" not in html


@pytest.mark.parametrize(
    "name", ["account_login", "account_reset_password", "account_reset_password_done"]
)
def test_allauth_public_pages_use_the_layout(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="card shadow-sm auth-card"' in html
    assert " style=" not in html
