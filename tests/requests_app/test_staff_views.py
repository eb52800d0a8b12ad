"""Staff request pages through the test client: list, filters, create, detail, extend."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Regulation, Result
from requests_app.services.due_dates import due_at_compute
from tests.factories import ConnectionFactory, PrivacyRequestFactory, ResultFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=ZoneInfo("UTC"))


def _request_due_in(days: int, **kwargs) -> PrivacyRequest:
    received = NOW - timedelta(days=45 - days)
    due = due_at_compute(regulation=Regulation.CCPA, received_at=received)
    return PrivacyRequestFactory(
        regulation=Regulation.CCPA, received_at=received, due_at=due, original_due_at=due, **kwargs
    )


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _ids(response) -> list[int]:
    return [r.pk for r in response.context["requests"]]


@pytest.mark.usefixtures("frozen")
class TestList:
    def test_empty_state(self, staff_client):
        response = staff_client.get(reverse("requests:list"))
        assert response.status_code == 200
        assert "No requests yet" in response.content.decode()

    def test_days_left_badges_and_highlights(self, staff_client):
        overdue = _request_due_in(-3)
        soon = _request_due_in(2)
        later = _request_due_in(20)
        html = staff_client.get(reverse("requests:list")).content.decode()
        assert _ids(staff_client.get(reverse("requests:list"))) == [overdue.pk, soon.pk, later.pk]
        assert "Overdue by 3 days" in html
        assert "2 days left" in html
        assert "20 days left" in html
        assert html.count('class="row-overdue"') == 1
        assert html.count('class="row-at-risk"') == 1

    def test_due_filters(self, staff_client):
        overdue = _request_due_in(-1)
        soon = _request_due_in(5)
        _request_due_in(30)
        _request_due_in(-5, status=PrivacyRequest.Status.CLOSED)
        url = reverse("requests:list")
        assert _ids(staff_client.get(url, {"due": "overdue"})) == [overdue.pk]
        assert _ids(staff_client.get(url, {"due": "due_soon"})) == [soon.pk]

    def test_status_type_regulation_and_email_filters(self, staff_client):
        a = PrivacyRequestFactory(subject_email="alice@example.org")
        b = PrivacyRequestFactory(
            subject_email="bob@example.org",
            status=PrivacyRequest.Status.IN_REVIEW,
            request_type="deletion",
            regulation=Regulation.CCPA,
        )
        url = reverse("requests:list")
        assert _ids(staff_client.get(url, {"status": "in_review"})) == [b.pk]
        assert _ids(staff_client.get(url, {"request_type": "access"})) == [a.pk]
        assert _ids(staff_client.get(url, {"regulation": "ccpa"})) == [b.pk]
        assert _ids(staff_client.get(url, {"q": "ALICE@"})) == [a.pk]
        response = staff_client.get(url, {"q": "nobody"})
        assert _ids(response) == []
        assert "No request matches these filters" in response.content.decode()

    def test_invalid_filter_values_are_ignored(self, staff_client):
        pr = PrivacyRequestFactory()
        response = staff_client.get(reverse("requests:list"), {"status": "bogus"})
        assert response.status_code == 200
        assert _ids(response) == [pr.pk]

    def test_duplicate_flag_shown(self, staff_client):
        first = PrivacyRequestFactory(subject_email="dup@example.org")
        PrivacyRequestFactory(subject_email="dup@example.org", possible_duplicate_of=first)
        html = staff_client.get(reverse("requests:list")).content.decode()
        assert f"Likely duplicate of #{first.pk}" in html


class TestCreate:
    def test_form_renders_with_labels(self, staff_client):
        html = staff_client.get(reverse("requests:new")).content.decode()
        for field_id in ("id_email", "id_name", "id_regulation", "id_received_at"):
            assert f'for="{field_id}"' in html
        assert "<legend" in html  # the request type radios are grouped

    def test_valid_post_creates_and_redirects(self, staff_client, staff_user):
        response = staff_client.post(
            reverse("requests:new"),
            {
                "request_type": "access",
                "email": " Subject@Example.org ",
                "name": "Sam",
                "regulation": "gdpr",
                "received_at": "2025-01-31T09:00",
            },
        )
        pr = PrivacyRequest.objects.get()
        assert response.status_code == 302
        assert response["Location"] == reverse("requests:detail", args=[pr.pk])
        assert pr.subject_email == "subject@example.org"
        assert pr.created_by == staff_user
        assert pr.source == PrivacyRequest.Source.STAFF
        assert pr.due_at.date().isoformat() == "2025-02-28"
        assert AuditEvent.objects.filter(action="request.created", actor=staff_user).exists()

    def test_errors_are_shown_and_nothing_is_created(self, staff_client):
        response = staff_client.post(
            reverse("requests:new"),
            {"request_type": "refund", "email": "nope", "regulation": "gdpr"},
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert "Please correct the 2 problems below." in html
        assert "Enter a valid email address." in html
        assert "Select a valid choice." in html
        assert 'aria-invalid="true"' in html
        # The error text is what assistive technology announces for the field.
        assert 'aria-describedby="id_email_helptext id_email_error"' in html
        assert 'id="id_email_error">Enter a valid email address.' in html
        assert 'class="form-check-input is-invalid" type="radio"' in html
        assert PrivacyRequest.objects.count() == 0

    def test_future_receipt_is_refused(self, staff_client):
        future = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
        response = staff_client.post(
            reverse("requests:new"),
            {
                "request_type": "access",
                "email": "a@example.org",
                "regulation": "gdpr",
                "received_at": future,
            },
        )
        assert response.status_code == 400
        assert "cannot be in the future" in response.content.decode()

    def test_duplicate_warning_after_create(self, staff_client):
        first = PrivacyRequestFactory(subject_email="same@example.org", request_type="deletion")
        response = staff_client.post(
            reverse("requests:new"),
            {"request_type": "deletion", "email": "SAME@example.org", "regulation": "ccpa"},
            follow=True,
        )
        html = response.content.decode()
        assert "flagged as a likely duplicate" in html
        assert "Likely duplicate." in html
        assert reverse("requests:detail", args=[first.pk]) in html


class TestDetail:
    def test_facts_results_and_timeline(self, staff_client):
        connection = ConnectionFactory(name="Webex EU", connected=True)
        result = ResultFactory(
            connection=connection,
            status=Result.Status.RUNNING,
            progress={"records": 1234, "pages": 7, "windows_done": 3, "windows_total": 12},
        )
        ResultFactory(
            request=result.request,
            connection=ConnectionFactory(name="Zoom US", provider="zoom", connected=True),
            status=Result.Status.FAILED,
            error_message="The provider refused the token.",
        )
        AuditEvent.objects.create(
            action="request.created",
            actor_type="system",
            target_type="requests_app.privacyrequest",
            target_id=str(result.request.pk),
        )
        response = staff_client.get(reverse("requests:detail", args=[result.request.pk]))
        html = response.content.decode()
        assert response.status_code == 200
        assert result.request.subject_email in html
        assert "Webex EU" in html and "Zoom US" in html
        assert "Running" in html and "Failed" in html
        assert "1,234 records" in html
        assert '<progress class="result-progress" value="3" max="12"' in html
        assert "The provider refused the token." in html
        assert "Request received" in html
        assert '<th scope="col">Connection</th>' in html

    def test_empty_results_state(self, staff_client):
        pr = PrivacyRequestFactory()
        html = staff_client.get(reverse("requests:detail", args=[pr.pk])).content.decode()
        assert "No connection has produced results" in html

    def test_missing_request_is_404_with_layout(self, staff_client):
        response = staff_client.get(reverse("requests:detail", args=[999999]))
        assert response.status_code == 404
        assert "Skip to main content" in response.content.decode()


@pytest.mark.usefixtures("frozen")
class TestExtendView:
    def test_extend_with_reason(self, staff_client, staff_user):
        pr = _request_due_in(10)
        response = staff_client.post(
            reverse("requests:extend", args=[pr.pk]), {"reason": "Large volume of meetings"}
        )
        assert response.status_code == 302
        pr.refresh_from_db()
        assert pr.extended_at == NOW
        assert pr.due_at - pr.original_due_at == timedelta(days=45)
        assert pr.extension_reason == "Large volume of meetings"
        event = AuditEvent.objects.get(action="request.extended")
        assert event.actor == staff_user
        html = staff_client.get(reverse("requests:detail", args=[pr.pk])).content.decode()
        assert "Extend once" not in html  # no second extension offered
        assert "Large volume of meetings" in html

    def test_reason_required(self, staff_client):
        pr = _request_due_in(10)
        response = staff_client.post(reverse("requests:extend", args=[pr.pk]), {"reason": ""})
        assert response.status_code == 400
        assert "This field is required." in response.content.decode()
        pr.refresh_from_db()
        assert pr.extended_at is None

    def test_second_extension_refused_with_clear_error(self, staff_client):
        pr = _request_due_in(10)
        url = reverse("requests:extend", args=[pr.pk])
        staff_client.post(url, {"reason": "First"})
        response = staff_client.post(url, {"reason": "Second"})
        assert response.status_code == 400
        assert "a second extension is not allowed" in response.content.decode()
        assert AuditEvent.objects.filter(action="request.extended").count() == 1

    def test_get_not_allowed(self, staff_client):
        pr = _request_due_in(10)
        assert staff_client.get(reverse("requests:extend", args=[pr.pk])).status_code == 405
