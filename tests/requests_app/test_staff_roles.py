"""Operator actions on the request pages need the Reviewer role; a Viewer only reads."""

from __future__ import annotations

import json

import pytest

from portal.api_tokens import api_token_create
from portal.roles import Role
from requests_app.models import PrivacyRequest, Result
from tests.factories import PrivacyRequestFactory, ResultFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client):
    client.force_login(StaffFactory(roles=[Role.VIEWER]))
    return client


def test_viewer_reads_the_request_page(viewer):
    request = PrivacyRequestFactory()
    assert viewer.get(f"/requests/{request.pk}/").status_code == 200


@pytest.mark.parametrize("action", ["extend", "fetch", "retry"])
def test_viewer_cannot_start_operator_actions_and_is_told_why(viewer, action):
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.PROCESSING)
    result = ResultFactory(request=request, status=Result.Status.FAILED)
    path = {
        "extend": f"/requests/{request.pk}/extend/",
        "fetch": f"/requests/{request.pk}/fetch/",
        "retry": f"/requests/{request.pk}/results/{result.pk}/retry/",
    }[action]
    response = viewer.post(path, {"reason": "More time needed"})
    assert response.status_code == 403
    assert b"Your role does not allow this (review)." in response.content
    request.refresh_from_db()
    result.refresh_from_db()
    assert request.extended_at is None
    assert result.status == Result.Status.FAILED


NEW_REQUEST = {
    "request_type": "access",
    "email": "subject@example.org",
    "name": "Sam",
    "regulation": "gdpr",
    "received_at": "2025-01-31T09:00",
}


@pytest.mark.parametrize("roles", [[Role.VIEWER], [], [Role.APPROVER]], ids=str)
def test_only_reviewers_create_requests_on_the_staff_page(client, roles):
    client.force_login(StaffFactory(roles=roles))
    assert client.get("/requests/new/").status_code == 403
    assert client.post("/requests/new/", NEW_REQUEST).status_code == 403
    assert not PrivacyRequest.objects.exists()


def test_a_reviewer_creates_requests_on_the_staff_page(client):
    client.force_login(StaffFactory(roles=[Role.REVIEWER]))
    assert client.get("/requests/new/").status_code == 200
    assert client.post("/requests/new/", NEW_REQUEST).status_code == 302
    assert PrivacyRequest.objects.count() == 1


@pytest.mark.parametrize("roles", [[Role.VIEWER], [], [Role.APPROVER]], ids=str)
def test_only_reviewers_create_requests_through_the_api(client, roles):
    _, raw = api_token_create(user=StaffFactory(roles=roles))
    response = client.post(
        "/api/v1/requests",
        json.dumps({"type": "access", "email": "subject@example.org", "regulation": "gdpr"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert not PrivacyRequest.objects.exists()


def test_the_api_checks_the_token_before_the_role(client):
    """A role-less read-only token still hears that it is read-only (the scope comes first)."""
    _, raw = api_token_create(user=StaffFactory(roles=[]), read_only=True)
    response = client.post(
        "/api/v1/requests",
        json.dumps({"type": "access", "email": "subject@example.org", "regulation": "gdpr"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "read_only_token"
