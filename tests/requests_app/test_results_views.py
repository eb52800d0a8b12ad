"""The request page's fetch controls: start on intake, live table, retry."""

import pytest

from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Result
from requests_app.services import fetching
from tests.factories import ConnectionFactory, PrivacyRequestFactory, RecordFactory, ResultFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: calls.append(result_id))
    return calls


def test_new_access_request_starts_fetching(
    staff_client, enqueued, django_capture_on_commit_callbacks
):
    connection = ConnectionFactory(connected=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/requests/new/",
            {
                "request_type": "access",
                "email": "Sam@Example.org",
                "name": "Sam",
                "regulation": "gdpr",
            },
        )
    assert response.status_code == 302
    request = PrivacyRequest.objects.get()
    result = request.results.get()
    assert (result.connection, result.status) == (connection, Result.Status.QUEUED)
    assert enqueued == [result.pk]


def test_new_deletion_request_does_not_fetch(staff_client, enqueued):
    ConnectionFactory(connected=True)
    staff_client.post(
        "/requests/new/",
        {"request_type": "deletion", "email": "sam@example.org", "name": "", "regulation": "ccpa"},
    )
    # Deletion goes through Direct Contact: a task, no API fetch.
    assert not Result.objects.filter(workflow=Result.Workflow.API).exists()
    assert enqueued == []


def test_results_fragment_shows_counts_notes_and_keeps_refreshing_while_running(staff_client):
    result = ResultFactory(
        status=Result.Status.RUNNING,
        progress={
            "records": 3,
            "pages": 2,
            "notes": {"call_log": "This Zoom account does not have Zoom Phone."},
        },
    )
    RecordFactory(result=result, object_type="meeting")
    RecordFactory(result=result, object_type="meeting")
    RecordFactory(result=result, object_type="phone_settings")
    html = staff_client.get(f"/requests/{result.request_id}/results/").content.decode()
    assert 'data-refresh-url="/requests/' in html
    assert "Meeting: 2" in html and "Phone settings: 1" in html
    assert "Call log: This Zoom account does not have Zoom Phone." in html
    Result.objects.filter(pk=result.pk).update(status=Result.Status.SUCCEEDED)
    finished = staff_client.get(f"/requests/{result.request_id}/results/").content.decode()
    assert "data-refresh-url" not in finished


def test_retry_a_failed_result_from_the_page(
    staff_client, staff_user, enqueued, django_capture_on_commit_callbacks
):
    result = ResultFactory(
        status=Result.Status.FAILED, error_code="http_500", error_message="Provider failed."
    )
    page = staff_client.get(f"/requests/{result.request_id}/").content.decode()
    assert f"/requests/{result.request_id}/results/{result.pk}/retry/" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(f"/requests/{result.request_id}/results/{result.pk}/retry/")
    assert response.status_code == 302
    result.refresh_from_db()
    assert result.status == Result.Status.QUEUED
    assert enqueued == [result.pk]
    assert AuditEvent.objects.filter(action="result.retried", actor=staff_user).exists()


def test_retry_of_another_requests_result_is_404(staff_client):
    result = ResultFactory(status=Result.Status.FAILED)
    other = PrivacyRequestFactory()
    assert staff_client.post(f"/requests/{other.pk}/results/{result.pk}/retry/").status_code == 404


def test_fetch_button_adds_new_connections(
    staff_client, enqueued, django_capture_on_commit_callbacks
):
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.IN_REVIEW)
    ConnectionFactory(connected=True, provider="zoom")
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(f"/requests/{request.pk}/fetch/")
    assert request.results.count() == 1
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.PROCESSING
    assert len(enqueued) == 1


def test_fetch_and_retry_are_refused_on_requests_past_review(staff_client, enqueued):
    request = PrivacyRequestFactory(status=PrivacyRequest.Status.APPROVED)
    result = ResultFactory(request=request, status=Result.Status.FAILED)
    ConnectionFactory(connected=True)
    fetch = staff_client.post(f"/requests/{request.pk}/fetch/", follow=True)
    assert "is not fetched" in fetch.content.decode()
    retry = staff_client.post(f"/requests/{request.pk}/results/{result.pk}/retry/", follow=True)
    assert "is not fetched again" in retry.content.decode()
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.APPROVED
    assert enqueued == []
