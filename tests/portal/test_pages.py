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
