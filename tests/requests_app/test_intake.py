"""Intake: normalised email, computed deadline, duplicate flag, audit without personal data."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from connectors.emails import email_normalize
from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Regulation, RequestType, Result
from requests_app.services.due_dates import local_date
from requests_app.services.intake import privacy_request_create
from tests.factories import ConnectionFactory, PrivacyRequestFactory, StaffFactory

pytestmark = pytest.mark.django_db


def _create(**overrides) -> PrivacyRequest:
    kwargs = {
        "request_type": RequestType.ACCESS,
        "email": "  Jane.Doe@Example.ORG ",
        "name": " Jane Doe ",
        "regulation": Regulation.GDPR,
        "source": PrivacyRequest.Source.STAFF,
    }
    kwargs.update(overrides)
    return privacy_request_create(**kwargs)


def test_email_is_trimmed_and_lowercased():
    pr = _create()
    assert pr.subject_email == "jane.doe@example.org"
    assert pr.subject_name == "Jane Doe"
    assert PrivacyRequest.objects.get(pk=pr.pk).subject_email == "jane.doe@example.org"


def test_due_dates_are_computed_from_received_at():
    received = datetime(2025, 1, 31, 9, 30, tzinfo=ZoneInfo("UTC"))
    pr = _create(received_at=received)
    assert pr.received_at == received
    assert local_date(pr.due_at) == date(2025, 2, 28)
    assert pr.original_due_at == pr.due_at
    assert pr.extended_at is None


def test_received_at_defaults_to_now():
    before = timezone.now()
    pr = _create(regulation=Regulation.CCPA)
    assert before <= pr.received_at <= timezone.now()
    assert local_date(pr.due_at) == local_date(pr.received_at) + timedelta(days=45)


def test_second_open_request_for_same_email_is_flagged():
    first = _create(request_type=RequestType.DELETION)
    second = _create(email="JANE.DOE@example.org", request_type=RequestType.DELETION)
    assert first.possible_duplicate_of is None
    assert second.possible_duplicate_of == first


def test_a_request_of_another_type_is_not_a_duplicate():
    access = _create()
    deletion = _create(email="JANE.DOE@example.org", request_type=RequestType.DELETION)
    assert deletion.possible_duplicate_of is None
    again = _create(request_type=RequestType.ACCESS)
    assert again.possible_duplicate_of == access


def test_closed_request_does_not_count_as_duplicate():
    PrivacyRequestFactory(subject_email="jane.doe@example.org", status=PrivacyRequest.Status.CLOSED)
    assert _create().possible_duplicate_of is None


def test_audit_event_has_ids_only():
    staff = StaffFactory()
    pr = _create(created_by=staff)
    event = AuditEvent.objects.get(action="request.created")
    assert event.target_type == "requests_app.privacyrequest"
    assert event.target_id == str(pr.pk)
    assert event.actor == staff
    assert event.actor_type == AuditEvent.ActorType.STAFF
    stored = json.dumps(event.details) + event.reason
    assert "jane" not in stored.lower()
    assert "example.org" not in stored
    assert event.details["request_type"] == "access"
    assert pr.created_by == staff


def test_api_and_public_sources_are_audited_with_their_actor_type():
    _create(source=PrivacyRequest.Source.API)
    _create(source=PrivacyRequest.Source.PUBLIC_FORM, email="other@example.org")
    created = AuditEvent.objects.filter(action="request.created")
    types = set(created.values_list("actor_type", flat=True))
    assert types == {AuditEvent.ActorType.API, AuditEvent.ActorType.SUBJECT}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "   "}, "email"),
        ({"email": None}, "email"),
        ({"email": "a" * 250 + "@example.org"}, "email"),
        ({"name": "x" * 201}, "name"),
        ({"name": 7}, "name"),
        ({"request_type": "rectification"}, "request_type"),
        ({"regulation": "hipaa"}, "regulation"),
        ({"source": "fax"}, "source"),
        ({"received_at": timezone.now() + timedelta(days=1)}, "received_at"),
    ],
)
def test_invalid_input_is_refused_and_nothing_is_written(overrides, field):
    with pytest.raises(ValidationError) as exc:
        _create(**overrides)
    assert field in exc.value.message_dict
    assert PrivacyRequest.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValidationError) as exc:
        _create(request_type="refund", email="nope", regulation="hipaa")
    assert set(exc.value.message_dict) == {"request_type", "email", "regulation"}
    assert exc.value.message_dict["request_type"] == [
        "Select a valid choice. One of: access, deletion."
    ]


def test_email_normalize():
    assert email_normalize("  Jane.Doe@Example.ORG ") == "jane.doe@example.org"
    assert email_normalize("") == ""


def test_an_access_request_starts_fetching_in_the_same_transaction(
    monkeypatch, django_capture_on_commit_callbacks
):
    enqueued = []
    monkeypatch.setattr(
        "requests_app.services.fetching.queue.enqueue",
        lambda *, result_id: enqueued.append(result_id),
    )
    active = ConnectionFactory(connected=True)
    with django_capture_on_commit_callbacks(execute=True):
        pr = _create()
    (result,) = pr.results.all()
    assert (result.connection, result.status) == (active, Result.Status.QUEUED)
    assert enqueued == [result.pk]
    assert pr.status == PrivacyRequest.Status.PROCESSING
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["request.created", "request.fetch_started"]


def test_a_deletion_request_starts_no_fetch_but_asks_the_contact():
    ConnectionFactory(connected=True)
    pr = _create(request_type=RequestType.DELETION)
    assert not pr.results.filter(workflow=Result.Workflow.API).exists()
    (task,) = pr.results.all()
    assert task.workflow == Result.Workflow.DIRECT_CONTACT_DELETION
    assert pr.status == PrivacyRequest.Status.PROCESSING


def test_a_failing_start_leaves_no_request(monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("start failed")

    monkeypatch.setattr("requests_app.services.direct_contact.fetch_start", broken)
    with pytest.raises(RuntimeError):
        _create()
    assert PrivacyRequest.objects.count() == 0
    assert AuditEvent.objects.count() == 0
