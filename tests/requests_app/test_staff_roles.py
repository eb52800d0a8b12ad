"""Operator actions on the request pages need the Reviewer role; a Viewer only reads."""

from __future__ import annotations

import pytest

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
