"""Intake: normalised email, computed deadline, duplicate flag, audit without personal data."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Regulation, RequestType
from requests_app.services.due_dates import local_date
from requests_app.services.intake import request_create
from tests.factories import PrivacyRequestFactory, StaffFactory

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
    return request_create(**kwargs)


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
    first = _create()
    second = _create(email="JANE.DOE@example.org", request_type=RequestType.DELETION)
    assert first.possible_duplicate_of is None
    assert second.possible_duplicate_of == first


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
    types = set(AuditEvent.objects.values_list("actor_type", flat=True))
    assert types == {AuditEvent.ActorType.API, AuditEvent.ActorType.SUBJECT}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "subject_email"),
        ({"email": "   "}, "subject_email"),
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


def test_intake_does_not_start_fetching():
    pr = _create()
    assert pr.results.count() == 0
    assert pr.status == PrivacyRequest.Status.PROCESSING
