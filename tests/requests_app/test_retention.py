"""The retention purge: nothing personal left, blobs gone, idempotent, finishes after a crash."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.db import models
from django.test import Client

from portal.audit import audit_record
from portal.roles import Role
from requests_app.models import (
    DirectContactTask,
    PrivacyRequest,
    Record,
    RecordEdit,
    Report,
    RequestPurge,
    RequestType,
    Result,
)
from requests_app.services import direct_contact as dc
from requests_app.services import retention
from requests_app.services.approval import privacy_request_approve
from requests_app.services.fetching.lifecycle import privacy_request_status_set
from requests_app.services.intake import privacy_request_create
from requests_app.services.review import record_edit
from tests.factories import ResultFactory, StaffFactory, records_create
from tests.requests_app.dc_helpers import contact_path, dc_connection, links_to, upload

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)
EMAIL = "dana.kowalski@example.org"
NAME = "Dana Kowalski"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False
    settings.RETENTION_DAYS = 30
    return tmp_path


def _blobs(data_dir) -> list:
    root = data_dir / "reports"
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _delivered_request(client, django_capture_on_commit_callbacks) -> PrivacyRequest:
    """An access request with API records, an edit, a Direct Contact upload, a report."""
    reviewer = StaffFactory()
    approver = StaffFactory(roles=[Role.APPROVER])
    dc_connection("HR Files", "hr@corp.example")
    with django_capture_on_commit_callbacks(execute=True):
        pr = privacy_request_create(
            request_type=RequestType.ACCESS,
            email=EMAIL,
            name=NAME,
            regulation="gdpr",
            source="staff",
        )
    api = ResultFactory(
        request=pr,
        connection__name="Zoom API",
        connection__provider="zoom",
        status="succeeded",
        checkpoint={"user": EMAIL},
        error_message=f"nothing for {EMAIL}",
    )
    (meeting,) = records_create(
        api, "meeting", [{"id": "m1", "host_email": EMAIL, "topic": f"1:1 with {NAME}"}]
    )
    ((task_id, token),) = links_to("hr@corp.example")
    contact = Client()  # the system contact's own browser, not the staff member's
    contact.post(
        contact_path(contact, task_id, token),
        {
            "files": [upload("dana.txt", f"{NAME} <{EMAIL}>".encode())],
            "label": ["Full name"],
            "value": [NAME],
            "note": f"Found {EMAIL}",
        },
    )
    dc_result = Result.objects.get(direct_contact__pk=task_id)
    with django_capture_on_commit_callbacks(execute=True):
        dc.direct_contact_accept(result=dc_result, actor=reviewer)
    pr.refresh_from_db()
    assert pr.status == PrivacyRequest.Status.IN_REVIEW
    record_edit(pr, meeting, "topic", "1:1", f"remove {NAME}", actor=reviewer)
    audit_record(action="request.note", target=pr, actor=reviewer, reason=f"Called {NAME}")
    privacy_request_approve(pr, actor=approver)
    privacy_request_status_set(pr, PrivacyRequest.Status.DELIVERED)
    return pr


def _text_leaks(needles: list[str]) -> list[str]:
    """Every text or JSON value in the whole database that contains a needle."""
    leaks = []
    for model in apps.get_models():
        columns = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        if not columns:
            continue
        for row in model.objects.values_list("pk", *columns).iterator():
            for column, value in zip(columns, row[1:], strict=True):
                text = str(value).lower()
                for needle in needles:
                    if needle.lower() in text:
                        leaks.append(f"{model._meta.label}.{column} #{row[0]}")
    return leaks


def test_purge_leaves_nothing_personal_and_is_idempotent(
    client, django_capture_on_commit_callbacks, data_dir, staff_client
):
    with time_machine.travel(START, tick=False) as frozen:
        pr = _delivered_request(client, django_capture_on_commit_callbacks)
        assert _text_leaks([EMAIL, NAME])  # the scan does find them before
        assert len(_blobs(data_dir)) == 2  # the report and the upload

        frozen.move_to(START + timedelta(days=29))
        assert retention.retention_purge() == 0
        frozen.move_to(START + timedelta(days=30))
        assert retention.retention_purge() == 1

        assert _text_leaks([EMAIL, NAME]) == []
        assert _blobs(data_dir) == []
        pr.refresh_from_db()
        assert pr.purged_at is not None
        assert (pr.subject_email, pr.subject_name) == ("", "")
        # The non-personal stub stays: reference, type, regulation, dates, systems, outcome.
        assert pr.request_type == RequestType.ACCESS and pr.regulation == "gdpr"
        assert pr.status == PrivacyRequest.Status.DELIVERED
        assert sorted(pr.results.values_list("connection_name", flat=True)) == [
            "HR Files",
            "Zoom API",
        ]
        assert not Record.objects.exists() and not RecordEdit.objects.exists()
        assert not Report.objects.exists()
        task = DirectContactTask.objects.get()
        assert task.token_hash == "" and task.answer_fields == [] and not task.files.exists()
        page = staff_client.get(f"/requests/{pr.pk}/")
        assert "Personal data purged" in page.content.decode()

        # Again: nothing more changes.
        snapshot = _snapshot()
        frozen.move_to(START + timedelta(days=40))
        assert retention.retention_purge() == 0
        assert retention.privacy_request_purge(pr.pk) is False
        assert _snapshot() == snapshot


def _snapshot() -> dict:
    return {
        model._meta.label: sorted(map(repr, model.objects.values_list()))
        for model in apps.get_models()
        if model._meta.app_label in ("requests_app", "portal")
    }


def test_a_purge_interrupted_midway_finishes_on_the_next_run(
    client, django_capture_on_commit_callbacks, data_dir, monkeypatch
):
    with time_machine.travel(START, tick=False) as frozen:
        pr = _delivered_request(client, django_capture_on_commit_callbacks)
        frozen.move_to(START + timedelta(days=31))

        def crash(privacy_request):
            raise RuntimeError("worker killed")

        steps = list(retention.PURGE_STEPS)
        crashed = [
            s if s.name != "records" else retention.PurgeStep("records", crash) for s in steps
        ]
        monkeypatch.setattr(retention, "PURGE_STEPS", crashed)
        assert retention.retention_purge() == 0  # logged, not raised
        pr.refresh_from_db()
        assert pr.purged_at is None and RequestPurge.objects.get(request=pr).finished_at is None
        assert not Report.objects.exists()  # the steps before the crash ran
        assert _text_leaks([EMAIL])  # but the purge is not complete

        monkeypatch.setattr(retention, "PURGE_STEPS", steps)
        # Even if the request would no longer be due, an unfinished purge is continued.
        assert pr.pk in retention.purge_due()
        assert retention.retention_purge() == 1
        assert _text_leaks([EMAIL, NAME]) == []
        assert _blobs(data_dir) == []
        assert RequestPurge.objects.get(request=pr).finished_at is not None


def test_open_requests_are_not_purged(django_capture_on_commit_callbacks):
    with time_machine.travel(START, tick=False) as frozen:
        with django_capture_on_commit_callbacks(execute=True):
            pr = privacy_request_create(
                request_type=RequestType.ACCESS,
                email=EMAIL,
                name=NAME,
                regulation="gdpr",
                source="staff",
            )
        frozen.move_to(START + timedelta(days=400))
        assert retention.retention_purge() == 0
        pr.refresh_from_db()
        assert pr.subject_email == EMAIL


def test_the_subject_side_goes_too_links_codes_messages_and_emails(
    django_capture_on_commit_callbacks,
):
    from requests_app.models import OutboundEmail, SubjectLink, SubjectMessage
    from requests_app.services import notifications
    from requests_app.services.subject_links import link_create

    with time_machine.travel(START, tick=False) as frozen:
        with django_capture_on_commit_callbacks(execute=True):
            pr = privacy_request_create(
                request_type=RequestType.DELETION,
                email=EMAIL,
                name=NAME,
                regulation="gdpr",
                source="public_form",
            )
            SubjectMessage.objects.create(request=pr, body=f"Please delete {NAME}")
            link_create(pr, SubjectLink.Purpose.STATUS, expires_at=START + timedelta(days=7))
            notifications.notify_deletion_done(pr, [])
        assert OutboundEmail.objects.filter(request=pr).exists()
        privacy_request_status_set(pr, PrivacyRequest.Status.CLOSED)
        frozen.move_to(START + timedelta(days=31))
        assert retention.retention_purge() == 1
        assert not SubjectLink.objects.filter(request=pr).exists()
        assert not SubjectMessage.objects.filter(request=pr).exists()
        assert not OutboundEmail.objects.filter(request=pr).exists()
        assert _text_leaks([EMAIL, NAME]) == []


VARIANT = "D. KOWALSKI"
OTHER_EMAIL = "dk.private@elsewhere.example"


def test_typed_text_goes_whatever_it_says_and_the_events_stay(
    client, django_capture_on_commit_callbacks
):
    """Free text that names the subject in another spelling, or another address."""
    from portal.models import AuditEvent

    with time_machine.travel(START, tick=False) as frozen:
        pr = _delivered_request(client, django_capture_on_commit_callbacks)
        staff = StaffFactory()
        dc_result = pr.results.get(connection_name="HR Files")
        task = DirectContactTask.objects.get(result=dc_result)
        typed = f"Phoned {VARIANT}; she asked to use {OTHER_EMAIL}"
        audit_record(action="request.note", target=pr, actor=staff, reason=typed)
        audit_record(
            action="direct_contact.handled_note", target=dc_result, actor=staff, reason=typed
        )
        audit_record(
            action="direct_contact.note", target=task, actor=staff, details={"note": typed, "n": 1}
        )
        PrivacyRequest.objects.filter(pk=pr.pk).update(
            extension_reason=typed, denial_notice=typed, status_reason=typed
        )
        DirectContactTask.objects.filter(pk=task.pk).update(staff_note=typed, answer_note=typed)
        events = {
            e.pk: (e.action, e.actor_id, e.created_at, e.target_type, e.target_id)
            for e in AuditEvent.objects.all()
        }

        frozen.move_to(START + timedelta(days=30))
        assert retention.retention_purge() == 1

        assert _text_leaks([VARIANT, OTHER_EMAIL, "Phoned"]) == []
        kept = AuditEvent.objects.filter(pk__in=events)
        assert {
            e.pk: (e.action, e.actor_id, e.created_at, e.target_type, e.target_id) for e in kept
        } == events  # every event stays: action, actor, time and ids
        note = kept.get(action="direct_contact.note")
        assert note.details == {"n": 1} and note.reason == ""
        assert not AuditEvent.objects.filter(target_id=str(pr.pk)).exclude(reason="").exists()
