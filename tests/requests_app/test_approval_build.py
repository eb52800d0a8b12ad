"""Approval builds the report outside any transaction, with the review frozen meanwhile."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from portal import report_storage
from portal.roles import Role
from requests_app import reports
from requests_app.models import PrivacyRequest, Record, Report
from requests_app.services import approval
from requests_app.services.approval import privacy_request_approve, privacy_request_deny
from requests_app.services.review import (
    APPROVAL_STALE_AFTER,
    ReviewLocked,
    record_set_included,
)
from tests.factories import StaffFactory, in_review_result, records_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False
    return tmp_path


@pytest.fixture
def request_in_review():
    result = in_review_result("zoom")
    records_create(result, "meeting", [{"id": 1, "topic": "Budget"}, {"id": 2, "topic": "Plan"}])
    return result.request


def stored_blobs(data_dir) -> list:
    folder = data_dir / "reports"
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


@pytest.mark.django_db(transaction=True)  # a real commit: the test's own atomic would hide it
def test_the_report_is_built_outside_a_transaction_with_the_review_frozen(
    monkeypatch, request_in_review
):
    approver = StaffFactory(roles=[Role.APPROVER])
    reviewer = StaffFactory(roles=[Role.REVIEWER])
    record = Record.objects.filter(result__request=request_in_review).first()
    seen = {}
    real = reports.write_report_zip

    def build(meta, sections, dst, **kwargs):
        # No open transaction: on SQLite one would stop every other writer meanwhile.
        seen["in_atomic_block"] = connection.in_atomic_block
        with pytest.raises(ReviewLocked, match="frozen"):
            record_set_included(request_in_review, record, False, actor=reviewer)
        with pytest.raises(ReviewLocked, match="Another approval"):
            privacy_request_approve(request_in_review, actor=approver)
        return real(meta, sections, dst, **kwargs)

    monkeypatch.setattr(approval, "write_report_zip", build)
    report = privacy_request_approve(request_in_review, actor=approver)
    assert seen == {"in_atomic_block": False}
    request_in_review.refresh_from_db()
    assert request_in_review.status == PrivacyRequest.Status.APPROVED
    assert request_in_review.approval_token is None
    assert report.record_count == 2


def test_a_failed_build_unfreezes_the_review_and_stores_nothing(
    monkeypatch, request_in_review, data_dir
):
    approver = StaffFactory(roles=[Role.APPROVER])

    def broken(meta, sections, dst, **kwargs):
        dst.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(approval, "write_report_zip", broken)
    with pytest.raises(OSError):
        privacy_request_approve(request_in_review, actor=approver)
    request_in_review.refresh_from_db()
    assert request_in_review.status == PrivacyRequest.Status.IN_REVIEW
    assert request_in_review.approval_token is None
    assert not Report.objects.exists()
    assert stored_blobs(data_dir) == []
    record = Record.objects.filter(result__request=request_in_review).first()
    record_set_included(request_in_review, record, False, actor=StaffFactory())  # unfrozen


def test_a_denial_during_the_build_wins_and_the_blob_is_removed(
    monkeypatch, request_in_review, data_dir
):
    approver = StaffFactory(roles=[Role.APPROVER])
    real = reports.write_report_zip

    def build(meta, sections, dst, **kwargs):
        privacy_request_deny(request_in_review, actor=approver, reason="Identity not proven")
        return real(meta, sections, dst, **kwargs)

    monkeypatch.setattr(approval, "write_report_zip", build)
    with pytest.raises(ReviewLocked, match="changed while"):
        privacy_request_approve(request_in_review, actor=approver)
    request_in_review.refresh_from_db()
    assert request_in_review.status == PrivacyRequest.Status.DENIED
    assert not Report.objects.exists()
    assert stored_blobs(data_dir) == []


def test_an_approval_whose_builder_died_stops_freezing_after_an_hour(request_in_review):
    PrivacyRequest.objects.filter(pk=request_in_review.pk).update(
        approval_token="6f1c1a52-7d8e-4c1e-9a57-2f1b1c7e3a10",
        approval_started_at=timezone.now() - timedelta(minutes=59),
    )
    approver = StaffFactory(roles=[Role.APPROVER])
    with pytest.raises(ReviewLocked):
        privacy_request_approve(request_in_review, actor=approver)
    PrivacyRequest.objects.filter(pk=request_in_review.pk).update(
        approval_started_at=timezone.now() - timedelta(minutes=61)
    )
    report = privacy_request_approve(request_in_review, actor=approver)
    assert report_storage.plaintext_digest(report.storage_name)[0] == report.sha256


def test_a_build_that_outlives_the_freeze_is_refused(monkeypatch, request_in_review, data_dir):
    """Past APPROVAL_STALE_AFTER the review is open again and may have changed: the zip
    built from the old selection must not be recorded as the approved report."""
    approver = StaffFactory(roles=[Role.APPROVER])
    reviewer = StaffFactory(roles=[Role.REVIEWER])
    record = Record.objects.filter(result__request=request_in_review).order_by("id").first()
    real = reports.write_report_zip

    def slow_build(meta, sections, dst, **kwargs):
        out = real(meta, sections, dst, **kwargs)
        traveller.shift(APPROVAL_STALE_AFTER + timedelta(minutes=1))
        # The freeze has lapsed: the reviewer can change the selection meanwhile.
        record_set_included(request_in_review, record, False, actor=reviewer)
        return out

    monkeypatch.setattr(approval, "write_report_zip", slow_build)
    with (
        time_machine.travel(timezone.now(), tick=False) as traveller,
        pytest.raises(ReviewLocked, match="changed while"),
    ):
        privacy_request_approve(request_in_review, actor=approver)
    request_in_review.refresh_from_db()
    assert request_in_review.status == PrivacyRequest.Status.IN_REVIEW
    assert request_in_review.approval_token is None
    assert not Report.objects.exists()
    assert stored_blobs(data_dir) == []


def test_the_snapshot_describes_the_selection_the_zip_was_built_from(
    monkeypatch, request_in_review
):
    """The snapshot is taken from the frozen review before the build, not after it."""
    approver = StaffFactory(roles=[Role.APPROVER])
    _first, second = Record.objects.filter(result__request=request_in_review).order_by("id")
    real = reports.write_report_zip

    def build(meta, sections, dst, **kwargs):
        out = real(meta, sections, dst, **kwargs)
        # A change that slips past the freeze (e.g. a direct database fix) while building.
        Record.objects.filter(pk=second.pk).update(included=False)
        return out

    monkeypatch.setattr(approval, "write_report_zip", build)
    report = privacy_request_approve(request_in_review, actor=approver)
    (snapshot,) = report.selection_snapshot["object_types"]
    assert snapshot["withheld_record_ids"] == []
    assert report.record_count == 2
