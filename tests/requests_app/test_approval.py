"""Approval: the frozen, encrypted report; four eyes; deny; a new review round."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

import pytest
import time_machine
from cryptography.fernet import Fernet
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.text import slugify

from portal import report_storage, streamcrypt
from portal.audit import audit_events_for
from portal.models import AuditEvent
from portal.roles import Role
from requests_app.models import (
    PrivacyRequest,
    Record,
    Regulation,
    Report,
    ReportImmutable,
    Result,
)
from requests_app.services.approval import (
    FourEyesViolation,
    privacy_request_approve,
    privacy_request_deny,
    privacy_request_reopen_review,
    report_current,
    report_open,
    review_preview_html,
)
from requests_app.services.review import (
    ReviewLocked,
    field_set_selected,
    object_type_set_included,
    record_edit,
    record_set_included,
)
from tests.factories import (
    ResultFactory,
    StaffFactory,
    in_review_result,
    records_create,
)

pytestmark = pytest.mark.django_db
FROZEN = dt.datetime(2026, 3, 20, 14, 5, 7, tzinfo=dt.UTC)

HOSTILE_TOPIC = "<script>alert('x')</script> Q1 =SUM(A1)"
HOSTILE_AGENDA = '<b onclick="evil()">bold</b>\nsecond line 😀 "quoted" & more'


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False
    return tmp_path


@pytest.fixture
def reviewer():
    return StaffFactory()


@pytest.fixture
def approver():
    return StaffFactory(roles=[Role.APPROVER])


@pytest.fixture
def result():
    result = in_review_result("zoom", subject_name="Dana <Kowalski>")
    records_create(
        result,
        "meeting",
        [
            {
                "id": 1,
                "topic": HOSTILE_TOPIC,
                "agenda": HOSTILE_AGENDA,
                "start_url": "https://zoom.example/s/1?zak=CRED-START-URL",
                "settings": {"alternative_hosts": "OTHER-PERSON@example.com", "mute": True},
            },
            {"id": 2, "topic": "WITHHELD-RECORD-TOPIC", "agenda": "", "settings": {"mute": False}},
            {"id": 3, "topic": "Kept meeting", "agenda": "DESELECTED-AGENDA", "settings": {}},
        ],
    )
    records_create(result, "call_log", [{"id": "c1", "callee_name": "OTHER-CALLEE", "dur": 5}])
    return result


def unzip(report: Report) -> dict[str, bytes]:
    plain = b"".join(report_open(report))
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def all_formats(entries: dict[str, bytes]) -> dict[str, str]:
    return {
        name: data.decode("utf-8-sig")
        for name, data in entries.items()
        if name == "report.json" or name == "report.html" or name.startswith("csv/")
    }


def test_approval_builds_an_encrypted_report_once_and_freezes_the_review(
    result, approver, data_dir
):
    request = result.request
    report = privacy_request_approve(request, actor=approver)
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.APPROVED
    assert (report.round, report.approved_by, report.record_count) == (1, approver, 4)
    assert report_current(request) == report
    # The blob is encrypted at rest and decrypts to the recorded checksum.
    stored = (data_dir / "reports" / report.storage_name).read_bytes()
    assert stored.startswith(streamcrypt.MAGIC)
    assert b"Kept meeting" not in stored and b"report.json" not in stored
    assert report_storage.plaintext_digest(report.storage_name) == (report.sha256, report.size)
    names = sorted(unzip(report))
    assert names[:2] == ["README.txt", "csv/" + slugify(result.connection_name) + "__call_log.csv"]
    assert names[2:] == [
        "csv/" + slugify(result.connection_name) + "__meeting.csv",
        "report.html",
        "report.json",
    ]
    assert "request.approved" in set(audit_events_for(request).values_list("action", flat=True))
    snapshot = report.selection_snapshot["object_types"]
    assert {t["object_type"] for t in snapshot} == {"meeting", "call_log"}


def test_without_the_key_the_blob_cannot_be_read(result, approver, settings):
    report = privacy_request_approve(result.request, actor=approver)
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    with pytest.raises(streamcrypt.StreamCryptError):
        report_open(report)


def test_a_deselected_record_or_field_never_appears_in_any_format(result, reviewer, approver):
    request = result.request
    withheld = Record.objects.get(external_id="2")
    record_set_included(request, withheld, False, actor=reviewer)
    field_set_selected(request, result, "meeting", "agenda", False, actor=reviewer)
    report = privacy_request_approve(request, actor=approver)
    formats = all_formats(unzip(report))
    assert len(formats) == 4  # JSON, HTML, one CSV per object type
    for name, text in formats.items():
        for secret in (
            "WITHHELD-RECORD-TOPIC",
            "DESELECTED-AGENDA",
            "second line",
            "CRED-START-URL",
            "OTHER-PERSON@example.com",
            "OTHER-CALLEE",
        ):
            assert secret not in text, (name, secret)
    assert "Kept meeting" in formats["report.json"] and "Kept meeting" in formats["report.html"]
    meetings_csv = next(t for n, t in formats.items() if n.endswith("__meeting.csv"))
    rows = list(csv.reader(io.StringIO(meetings_csv)))
    assert rows[0] == ["id", "topic", "settings.mute"] and len(rows) == 3
    assert rows[1][1].startswith("<script>")  # not a formula prefix; kept as text
    data = json.loads(formats["report.json"])
    (system,) = data["systems"]
    by_type = {t["object_type"]: t for t in system["object_types"]}
    assert [r["id"] for r in by_type["meeting"]["records"]] == [1, 3]
    assert by_type["call_log"]["records"] == [{"id": "c1", "dur": 5}]


def test_a_deselected_object_type_is_left_out_entirely(result, reviewer, approver):
    object_type_set_included(result.request, result, "call_log", False, actor=reviewer)
    report = privacy_request_approve(result.request, actor=approver)
    entries = unzip(report)
    assert not any(name.endswith("__call_log.csv") for name in entries)
    assert b'"dur"' not in entries["report.json"] and b"dur" not in entries["report.html"]


def test_hostile_values_are_escaped_in_html_and_intact_in_json(result, reviewer, approver):
    request = result.request
    first = Record.objects.get(external_id="1")
    hostile_edit = "<img src=x onerror=alert(1)>\r\nZoë 🎉"
    record_edit(request, first, "settings.mute", hostile_edit, "Correction", actor=reviewer)
    entries = unzip(privacy_request_approve(request, actor=approver))
    html = entries["report.html"].decode()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b onclick" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;b onclick=&quot;evil()&quot;&gt;bold&lt;/b&gt;" in html
    assert "😀" in html and "Zoë 🎉" in html
    assert "Dana &lt;Kowalski&gt;" in html
    records = json.loads(entries["report.json"])["systems"][0]["object_types"]
    meeting = next(t for t in records if t["object_type"] == "meeting")["records"][0]
    assert meeting["topic"] == HOSTILE_TOPIC
    assert meeting["agenda"] == HOSTILE_AGENDA
    assert meeting["settings"]["mute"] == hostile_edit
    meetings_csv = next(v for n, v in entries.items() if n.endswith("__meeting.csv"))
    assert meetings_csv.startswith(b"\xef\xbb\xbf")


def test_preview_equals_the_delivered_report_html_byte_for_byte(result, reviewer, approver):
    request = result.request
    record_edit(request, Record.objects.get(external_id="3"), "topic", "New", "x", actor=reviewer)
    with time_machine.travel(FROZEN, tick=False):
        preview = review_preview_html(request)
        report = privacy_request_approve(request, actor=approver)
    assert report.generated_at == FROZEN.replace(microsecond=0)
    assert unzip(report)["report.html"] == preview.encode("utf-8")
    # After approval the preview still renders the frozen selection identically.
    assert review_preview_html(request, generated_at=report.generated_at) == preview


def test_the_report_cannot_change_after_approval(result, reviewer, approver):
    request = result.request
    report = privacy_request_approve(request, actor=approver)
    report.sha256 = "0" * 64
    with pytest.raises(ReportImmutable):
        report.save()
    fresh = Report.objects.get(pk=report.pk)
    fresh.record_count = 99
    with pytest.raises(ReportImmutable):
        fresh.save()
    with pytest.raises(ReviewLocked):
        privacy_request_approve(request, actor=approver)
    assert Report.objects.count() == 1
    with pytest.raises(ReviewLocked):
        record_edit(request, Record.objects.get(external_id="1"), "topic", "x", "y", actor=reviewer)
    assert report_storage.plaintext_digest(report.storage_name)[0] == Report.objects.get().sha256


def test_roles_for_approve_and_deny(result, reviewer):
    request = result.request
    viewer = StaffFactory(roles=[Role.VIEWER])
    for user in (reviewer, viewer, StaffFactory(roles=[])):
        with pytest.raises(PermissionDenied):
            privacy_request_approve(request, actor=user)
        with pytest.raises(PermissionDenied):
            privacy_request_deny(request, actor=user, reason="no")
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW and not Report.objects.exists()


def test_four_eyes_the_last_editor_may_not_approve(result, settings, approver):
    settings.REVIEW_FOUR_EYES = True
    both = StaffFactory(roles=[Role.REVIEWER, Role.APPROVER])
    request = result.request
    record_set_included(request, Record.objects.get(external_id="2"), False, actor=both)
    with pytest.raises(FourEyesViolation):
        privacy_request_approve(request, actor=both)
    assert issubclass(FourEyesViolation, PermissionDenied)
    assert not Report.objects.exists()
    privacy_request_approve(request, actor=approver)


def test_four_eyes_off_lets_one_person_review_and_approve(result):
    both = StaffFactory(roles=[Role.REVIEWER, Role.APPROVER])
    request = result.request
    record_set_included(request, Record.objects.get(external_id="2"), False, actor=both)
    assert privacy_request_approve(request, actor=both).round == 1


def test_approval_waits_for_every_api_fetch(result, approver):
    request = result.request
    running = ResultFactory(request=request, status=Result.Status.RUNNING)
    with pytest.raises(ValidationError, match="fetch"):
        privacy_request_approve(request, actor=approver)
    Result.objects.filter(pk=running.pk).update(status=Result.Status.PAUSED)
    with pytest.raises(ValidationError):
        privacy_request_approve(request, actor=approver)
    Result.objects.filter(pk=running.pk).update(status=Result.Status.FAILED)
    assert privacy_request_approve(request, actor=approver).record_count == 4


def test_a_failed_build_stores_nothing(result, approver, monkeypatch, data_dir):
    from requests_app.services import approval

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    # Fails after the blob is stored, while the report row is being recorded.
    monkeypatch.setattr(approval, "download_link_after_approval", boom)
    with pytest.raises(RuntimeError):
        privacy_request_approve(result.request, actor=approver)
    assert not Report.objects.exists()
    assert list((data_dir / "reports").iterdir()) == []
    result.request.refresh_from_db()
    assert result.request.status == PrivacyRequest.Status.IN_REVIEW


def test_deny_needs_a_reason_and_keeps_the_regulations_wording(result, approver):
    request = result.request
    with pytest.raises(ValidationError):
        privacy_request_deny(request, actor=approver, reason="  ")
    privacy_request_deny(request, actor=approver, reason="Identity not verified")
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.DENIED
    assert request.status_reason == "Identity not verified"
    assert "Article 12(4)" in request.denial_notice
    assert "Identity not verified" in request.denial_notice
    event = AuditEvent.objects.get(action="request.denied")
    assert event.actor == approver and event.reason == "Identity not verified"
    with pytest.raises(ReviewLocked):
        privacy_request_approve(request, actor=approver)


def test_ccpa_denial_wording():
    result = in_review_result("webex", regulation=Regulation.CCPA)
    approver = StaffFactory(roles=[Role.APPROVER])
    privacy_request_deny(result.request, actor=approver, reason="Not a California resident")
    result.request.refresh_from_db()
    assert "California Consumer Privacy Act" in result.request.denial_notice


def test_reopen_supersedes_and_a_new_approval_makes_round_two(result, reviewer, approver):
    request = result.request
    first = privacy_request_approve(request, actor=approver)
    with pytest.raises(ValidationError):
        privacy_request_reopen_review(request, actor=approver, reason="")
    with pytest.raises(PermissionDenied):
        privacy_request_reopen_review(request, actor=StaffFactory(roles=[Role.VIEWER]), reason="x")
    privacy_request_reopen_review(request, actor=reviewer, reason="Subject sent a correction")
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW
    first.refresh_from_db()
    assert first.superseded_at is not None and report_current(request) is None
    first.superseded_at = None
    with pytest.raises(ReportImmutable):
        first.save()

    record_set_included(request, Record.objects.get(external_id="3"), False, actor=reviewer)
    second = privacy_request_approve(request, actor=approver)
    assert (second.round, second.record_count) == (2, 3)
    assert report_current(request) == second
    assert second.storage_name != first.storage_name and second.sha256 != first.sha256
    # The first report stays readable with its own checksum, and its audit stays.
    assert report_storage.plaintext_digest(first.storage_name)[0] == first.sha256
    approvals = AuditEvent.objects.filter(action="request.approved").order_by("id")
    assert [e.details["report_id"] for e in approvals] == [first.pk, second.pk]
    assert AuditEvent.objects.filter(action="request.review_reopened").count() == 1
    with pytest.raises(ReviewLocked):
        privacy_request_approve(request, actor=approver)


def test_audit_of_the_whole_flow_holds_no_values(result, reviewer, approver):
    request = result.request
    record_edit(
        request, Record.objects.get(external_id="1"), "topic", "NEWVAL", "r", actor=reviewer
    )
    privacy_request_approve(request, actor=approver)
    privacy_request_reopen_review(request, actor=approver, reason="again")
    privacy_request_deny(request, actor=approver, reason="Manifestly unfounded")
    dumped = json.dumps(list(AuditEvent.objects.values_list("details", flat=True)))
    for value in ("NEWVAL", "Kept meeting", "OTHER-CALLEE", request.subject_email, "<script>"):
        assert value not in dumped


def test_a_real_fetch_from_the_simulator_then_approval(simulator, approver, data_dir):
    from connectors.simulator.seed import SUBJECT_EMAIL
    from requests_app.services.fetching import fetch_execute
    from tests.factories import PrivacyRequestFactory, simulator_connection

    request = PrivacyRequestFactory(
        subject_email=SUBJECT_EMAIL, status=PrivacyRequest.Status.PROCESSING
    )
    result = ResultFactory(
        request=request,
        connection=simulator_connection(simulator, "zoom", account="full"),
        status=Result.Status.QUEUED,
    )
    assert fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED
    request.refresh_from_db()
    assert request.status == PrivacyRequest.Status.IN_REVIEW
    total = Record.objects.filter(result=result).count()
    withheld = Record.objects.filter(result=result, object_type="meeting").first()
    record_set_included(request, withheld, False, actor=StaffFactory())
    report = privacy_request_approve(request, actor=approver)
    assert report.record_count == total - 1
    data = json.loads(unzip(report)["report.json"])
    by_type = {t["object_type"]: t for t in data["systems"][0]["object_types"]}
    assert {"meeting", "user", "call_log"} <= set(by_type)
    assert withheld.data["id"] not in [r.get("id") for r in by_type["meeting"]["records"]]
    for path in ("caller_name", "callee_name", "caller_number", "callee_number"):
        assert path not in by_type["call_log"]["columns"]
        assert all(path not in r for r in by_type["call_log"]["records"])
    assert data["reference"] == str(request.reference)
