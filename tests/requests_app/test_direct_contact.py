"""Direct Contact: links, uploads, answers, escalation, deletion requests end to end."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection

from connectors.models import Connection
from portal import report_storage
from portal.roles import Role
from requests_app.models import (
    DirectContactFile,
    DirectContactTask,
    PrivacyRequest,
    RequestType,
    Result,
)
from requests_app.reports import render_readme
from requests_app.services import direct_contact as dc
from requests_app.services.approval import privacy_request_approve, report_open
from requests_app.services.intake import privacy_request_create
from requests_app.services.review import report_meta, report_sections
from tests.factories import ConnectionFactory, ResultFactory, StaffFactory, records_create
from tests.requests_app.dc_helpers import (
    contact_open,
    contact_path,
    dc_connection,
    links_to,
    task_of,
    upload,
)

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False
    settings.DIRECT_CONTACT_UPLOAD_MAX_BYTES = 1000
    settings.DIRECT_CONTACT_UPLOAD_EXTENSIONS = ["csv", "pdf", "txt"]
    return tmp_path


@pytest.fixture
def frozen():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (emails) as the real transaction would."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


@pytest.fixture
def reviewer():
    return StaffFactory()


def _create(commit, request_type=RequestType.DELETION, email="dana@example.org", **kw):
    return commit(
        privacy_request_create,
        request_type=request_type,
        email=email,
        name=kw.pop("name", "Dana Kowalski"),
        regulation="gdpr",
        source="staff",
        **kw,
    )


def _stored_blobs(data_dir) -> list:
    root = data_dir / "reports" / "contact-files"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


# --- the link -------------------------------------------------------------------------------


def test_link_works_only_for_its_task_and_expires(frozen, commit, client, settings):
    dc_connection("Webex HQ", "owner-a@corp.example")
    dc_connection("Zoom EU", "owner-b@corp.example")
    pr = _create(commit)
    assert pr.results.filter(workflow=Result.Workflow.DIRECT_CONTACT_DELETION).count() == 2
    ((task_a, token_a),) = links_to("owner-a@corp.example")
    ((task_b, token_b),) = links_to("owner-b@corp.example")

    page = contact_open(client, task_a, token_a)
    assert page.status_code == 200
    body = page.content.decode()
    assert "dana@example.org" in body and "Deletion" in body
    assert "Dana Kowalski" not in body  # only the email, type and due date
    assert "Zoom EU" not in body  # nothing about other tasks

    # The token is stored hashed, never as is; it is at least 256 bits.
    stored = DirectContactTask.objects.get(pk=task_a)
    assert stored.token_hash == dc.token_hash(token_a) and token_a not in stored.token_hash
    assert len(token_a) >= 43

    # A's secret does not open B's task, nor does a made-up one.
    assert contact_open(client, task_b, token_a).status_code == 404
    assert contact_open(client, task_a, token_a[:-1] + "x").status_code == 404

    frozen.move_to(START + timedelta(days=settings.DIRECT_CONTACT_LINK_DAYS, seconds=-1))
    assert contact_open(client, task_a, token_a).status_code == 200
    frozen.move_to(START + timedelta(days=settings.DIRECT_CONTACT_LINK_DAYS))
    assert contact_open(client, task_a, token_a).status_code == 404
    assert contact_open(client, task_b, token_b).status_code == 404


def test_resend_replaces_the_link(frozen, commit, client, reviewer):
    dc_connection("Webex HQ", "owner@corp.example")
    pr = _create(commit)
    ((task_id, old),) = links_to("owner@corp.example")
    opened_with_old = contact_path(client, task_id, old)
    commit(dc.direct_contact_send, result=pr.results.get(), actor=reviewer)
    (_, new) = links_to("owner@corp.example")[-1]
    assert new != old
    # A browser that opened the old link loses the task as well.
    assert client.get(opened_with_old).status_code == 404
    assert contact_open(client, task_id, old).status_code == 404
    assert contact_open(client, task_id, new).status_code == 200


def test_a_reminder_repeats_the_live_link_and_keeps_it_working(frozen, commit, client, settings):
    settings.DIRECT_CONTACT_LINK_DAYS = 14
    dc_connection("Webex HQ", "owner@corp.example", reminder_days=5, escalation_days=30)
    _create(commit)
    ((task_id, first),) = links_to("owner@corp.example")
    for day in (5, 10):
        frozen.move_to(START + timedelta(days=day))
        assert commit(dc.direct_contact_tick).reminded == 1
    reminders = [m for m in mail.outbox if m.subject.startswith("Reminder")]
    assert len(reminders) == 2
    assert [token for _, token in links_to("owner@corp.example")] == [first] * 3
    assert "same link as in our first email" in reminders[-1].body
    assert "replaces" not in reminders[-1].body
    assert contact_open(client, task_id, first).status_code == 200  # as the first email promised
    # Kept encrypted: the database holds neither the secret nor anything that reveals it.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT token_secret FROM requests_app_directcontacttask WHERE id = %s", [task_id]
        )
        (raw,) = cursor.fetchone()
    assert raw and first not in raw

    # Once the link has expired, the next reminder brings a new one and says so.
    frozen.move_to(START + timedelta(days=15))
    assert commit(dc.direct_contact_tick).reminded == 1
    (_, renewed) = links_to("owner@corp.example")[-1]
    assert renewed != first
    assert "new link replaces" in mail.outbox[-1].body
    assert contact_open(client, task_id, renewed).status_code == 200


def test_a_new_contact_gets_a_new_link_and_the_old_one_stops(frozen, commit, client, reviewer):
    dc_connection("Webex HQ", "old-owner@corp.example")
    pr = _create(commit)
    ((task_id, old),) = links_to("old-owner@corp.example")
    commit(
        dc.direct_contact_contact_change,
        result=pr.results.get(),
        email="new-owner@corp.example",
        actor=reviewer,
    )
    ((_, new),) = links_to("new-owner@corp.example")
    assert new != old
    assert contact_open(client, task_id, old).status_code == 404
    assert contact_open(client, task_id, new).status_code == 200
    # A reminder to the new contact repeats the new link; the old one stays dead.
    assert commit(dc.direct_contact_remind, result=pr.results.get(), actor=reviewer)
    assert links_to("new-owner@corp.example")[-1] == (task_id, new)
    assert contact_open(client, task_id, old).status_code == 404


# --- uploads ---------------------------------------------------------------------------------


def test_upload_limits_and_a_refused_upload_loses_nothing(frozen, commit, client, data_dir):
    dc_connection("Files Inc", "owner@corp.example")
    pr = _create(commit, request_type=RequestType.ACCESS)
    ((task_id, token),) = links_to("owner@corp.example")
    path = contact_path(client, task_id, token)

    ok = client.post(
        path,
        {
            "files": [upload("calls.csv", b"a,b\n1,2\n")],
            "label": ["Employee id", ""],
            "value": ["E-42", ""],
        },
    )
    assert ok.status_code == 302
    task = DirectContactTask.objects.get(pk=task_id)
    assert task.state == DirectContactTask.State.ANSWERED
    assert task.answer_fields == [{"label": "Employee id", "value": "E-42"}]
    assert DirectContactFile.objects.filter(task=task).count() == 1
    blobs = _stored_blobs(data_dir)
    assert len(blobs) == 1
    # Stored encrypted: the plaintext is not in the blob.
    raw = (data_dir / "reports" / "contact-files" / blobs[0]).read_bytes()
    assert b"a,b" not in raw

    for bad, why in [
        (upload("big.csv", b"x" * 1001), "larger than"),
        (upload("run.exe", b"MZ"), "not an allowed type"),
    ]:
        refused = client.post(
            path,
            {
                "files": [upload("fine.txt", b"fine"), bad],
                "label": ["Employee id", "Team"],
                "value": ["E-43", "Sales"],
            },
        )
        assert refused.status_code == 400
        assert why in refused.content.decode()
        assert "Nothing was saved" in refused.content.decode()
        task.refresh_from_db()
        assert task.answer_fields == [{"label": "Employee id", "value": "E-42"}]
        assert DirectContactFile.objects.filter(task=task).count() == 1
        assert _stored_blobs(data_dir) == blobs

    # A failure while storing (after the check) leaves no blob behind either.
    def broken_bulk_create(*args, **kwargs):
        raise RuntimeError("database went away")

    original = DirectContactFile.objects.bulk_create
    DirectContactFile.objects.bulk_create = broken_bulk_create
    try:
        with pytest.raises(RuntimeError):
            dc.direct_contact_answer_access(
                dc.direct_contact_task_for_link(task_id, token), files=[upload("two.txt")]
            )
    finally:
        DirectContactFile.objects.bulk_create = original
    assert _stored_blobs(data_dir) == blobs

    # Amend: remove the file, state "no data".
    amended = client.post(path, {"no_data": "1"})
    assert amended.status_code == 302
    task.refresh_from_db()
    assert task.answer == DirectContactTask.Answer.NO_DATA
    assert not DirectContactFile.objects.filter(task=task).exists()
    assert pr.results.get().status == Result.Status.WAITING  # until staff accept


# --- escalation --------------------------------------------------------------------------------


def test_escalation_by_skip_lets_the_request_go_on_and_says_so(frozen, commit, reviewer):
    dc_connection(
        "Quiet System",
        "owner@corp.example",
        escalation_policy=Connection.EscalationPolicy.SKIP,
        escalation_days=14,
    )
    pr = _create(commit, request_type=RequestType.ACCESS)
    result = pr.results.get()
    frozen.move_to(START + timedelta(days=13, hours=23))
    commit(dc.direct_contact_tick)
    result.refresh_from_db()
    assert result.status == Result.Status.WAITING

    frozen.move_to(START + timedelta(days=14))
    report = commit(dc.direct_contact_tick)
    assert report.escalated == 1
    result.refresh_from_db()
    pr.refresh_from_db()
    assert (result.status, result.error_code) == (Result.Status.SKIPPED, "escalated_skip")
    assert pr.status == PrivacyRequest.Status.IN_REVIEW
    readme = render_readme(report_meta(pr, START), report_sections(pr))
    assert "Quiet System was not included" in readme
    assert dc.direct_contact_tick().escalated == 0  # once only


def test_escalation_by_block_holds_the_request_and_tells_staff(frozen, commit, reviewer, client):
    owner = StaffFactory(email="it-owner@corp.example")
    connection = dc_connection("Strict System", "owner@corp.example", escalation_days=14)
    connection.owners.add(owner)
    pr = _create(commit, request_type=RequestType.ACCESS)
    result = pr.results.get()
    frozen.move_to(START + timedelta(days=14))
    mail.outbox.clear()
    commit(dc.direct_contact_tick)
    result.refresh_from_db()
    pr.refresh_from_db()
    assert result.status == Result.Status.PAUSED
    assert task_of(result).state == DirectContactTask.State.BLOCKED
    assert pr.status == PrivacyRequest.Status.PROCESSING
    staff_mail = [m for m in mail.outbox if "it-owner@corp.example" in m.to]
    assert len(staff_mail) == 1 and "blocked" in staff_mail[0].subject

    # The contact still answers (a reminder's link works); accepting completes the request.
    ((task_id, token),) = links_to("owner@corp.example")[-1:]
    client.post(contact_path(client, task_id, token), {"no_data": "1"})
    pr.refresh_from_db()
    assert pr.status == PrivacyRequest.Status.PROCESSING
    commit(dc.direct_contact_accept, result=result, actor=reviewer)
    result.refresh_from_db()
    pr.refresh_from_db()
    assert result.status == Result.Status.NO_DATA
    assert pr.status == PrivacyRequest.Status.IN_REVIEW


# --- deletion from intake to the subject's notice ----------------------------------------------


def test_deletion_request_from_intake_to_the_subjects_notice(frozen, commit, client, reviewer):
    dc_connection("Webex HQ", "webex-owner@corp.example")
    dc_connection("Zoom EU", "zoom-owner@corp.example")
    ConnectionFactory(name="Zoom US", contact_email="", connected=True)
    pr = _create(commit)
    assert pr.status == PrivacyRequest.Status.PROCESSING
    no_contact = pr.results.get(connection_name="Zoom US")
    assert (no_contact.status, no_contact.error_code) == (Result.Status.PENDING, "no_contact")
    commit(
        dc.direct_contact_contact_change,
        result=no_contact,
        email="us-owner@corp.example",
        actor=reviewer,
    )

    ((webex_task, webex_token),) = links_to("webex-owner@corp.example")
    ((zoom_task, zoom_token),) = links_to("zoom-owner@corp.example")
    ((us_task, us_token),) = links_to("us-owner@corp.example")
    webex_page = contact_path(client, webex_task, webex_token)
    assert client.post(webex_page, {"outcome": "deleted"}).status_code == 302
    refused = client.post(contact_path(client, zoom_task, zoom_token), {"outcome": "not_deleted"})
    assert refused.status_code == 400  # a reason is required
    client.post(
        contact_path(client, zoom_task, zoom_token),
        {"outcome": "not_deleted", "reason": "Legal hold until 2027."},
    )
    client.post(contact_path(client, us_task, us_token), {"outcome": "deleted"})

    mail.outbox.clear()
    for result in pr.results.order_by("pk"):
        commit(dc.direct_contact_accept, result=result, actor=reviewer)
    pr.refresh_from_db()
    assert pr.status == PrivacyRequest.Status.CLOSED and pr.closed_at is not None
    zoom = pr.results.get(connection_name="Zoom EU")
    assert (zoom.status, zoom.error_code) == (Result.Status.FAILED, "could_not_delete")
    (notice,) = [m for m in mail.outbox if "dana@example.org" in m.to]
    assert "Webex HQ: your data was deleted" in notice.body
    assert "Zoom US: your data was deleted" in notice.body
    assert "Zoom EU: your data could not be deleted. Reason: Legal hold until 2027." in notice.body
    # Closed: the links are dead.
    assert contact_open(client, webex_task, webex_token).status_code == 404


# --- access: one system by API, one by Direct Contact, one report --------------------------------


def test_access_request_with_api_and_direct_contact_in_one_report(frozen, commit, client, reviewer):
    approver = StaffFactory(roles=[Role.APPROVER])
    pr = _create(commit, request_type=RequestType.ACCESS, email="sam@example.org", name="Sam")
    api = ResultFactory(
        request=pr, connection__name="Zoom API", connection__provider="zoom", status="succeeded"
    )
    records_create(api, "meeting", [{"id": "m1", "topic": "Planning"}])
    dc_connection("HR Files", "hr@corp.example", provider="webex")
    commit(dc.direct_contact_tasks_create, privacy_request=pr)
    pr.refresh_from_db()
    assert pr.status == PrivacyRequest.Status.PROCESSING

    ((task_id, token),) = links_to("hr@corp.example")
    client.post(
        contact_path(client, task_id, token),
        {
            "files": [upload("payslip.pdf", b"%PDF-1.4 payslip", "application/pdf")],
            "label": ["Badge number"],
            "value": ["B-7"],
        },
    )
    dc_result = Result.objects.get(direct_contact__pk=task_id)
    commit(dc.direct_contact_accept, result=dc_result, actor=reviewer)
    pr.refresh_from_db()
    assert pr.status == PrivacyRequest.Status.IN_REVIEW
    assert set(dc_result.records.values_list("object_type", flat=True)) == {
        dc.FIELDS_TYPE,
        dc.FILE_TYPE,
    }

    report = privacy_request_approve(pr, actor=approver)
    blob = b"".join(report_open(report))
    archive = zipfile.ZipFile(io.BytesIO(blob))
    names = archive.namelist()
    assert archive.read("files/hr-files/payslip.pdf") == b"%PDF-1.4 payslip"
    data = json.loads(archive.read("report.json"))
    systems = {s["system"]: s for s in data["systems"]}
    assert set(systems) == {"Zoom API", "HR Files"}
    hr_types = {t["object_type"]: t for t in systems["HR Files"]["object_types"]}
    assert hr_types[dc.FIELDS_TYPE]["records"] == [{"label": "Badge number", "value": "B-7"}]
    assert hr_types[dc.FILE_TYPE]["records"][0]["file"] == "files/hr-files/payslip.pdf"
    assert systems["Zoom API"]["object_types"][0]["records"][0]["topic"] == "Planning"
    assert "files/hr-files/payslip.pdf" in archive.read("README.txt").decode()
    assert any(n.startswith("csv/hr-files__") for n in names)
    assert report_storage.report_storage().exists(report.storage_name)


def test_staff_pages_show_the_task_and_act_on_it(frozen, commit, staff_client):
    dc_connection("Webex HQ", "owner@corp.example")
    pr = _create(commit)
    result = pr.results.get()
    page = staff_client.get(f"/requests/{pr.pk}/")
    assert page.status_code == 200
    assert (
        "Direct Contact" in page.content.decode() and "owner@corp.example" in page.content.decode()
    )

    response = staff_client.post(f"/requests/{pr.pk}/direct-contact/{result.pk}/remind/")
    assert response.status_code == 302
    assert task_of(result).reminder_count == 1
    again = staff_client.post(f"/requests/{pr.pk}/direct-contact/{result.pk}/remind/", follow=True)
    assert "already went out today" in again.content.decode()

    staff_client.post(
        f"/requests/{pr.pk}/direct-contact/{result.pk}/handled/",
        {"note": "Deleted by IT ticket 12"},
    )
    result.refresh_from_db()
    pr.refresh_from_db()
    assert (result.status, result.error_code) == (Result.Status.SUCCEEDED, "handled_by_staff")
    assert pr.status == PrivacyRequest.Status.CLOSED


def test_two_systems_that_slug_alike_both_send_export_csv(frozen, commit, client, reviewer):
    approver = StaffFactory(roles=[Role.APPROVER])
    dc_connection("HR Files", "hr1@corp.example")
    dc_connection("HR-Files", "hr2@corp.example")
    pr = _create(commit, request_type=RequestType.ACCESS, email="sam@example.org", name="Sam")
    for contact, body in (("hr1@corp.example", b"one\n"), ("hr2@corp.example", b"two\n")):
        ((task_id, token),) = links_to(contact)
        page = contact_path(client, task_id, token)
        assert client.post(page, {"files": [upload("export.csv", body)]}).status_code == 302
        commit(
            dc.direct_contact_accept,
            result=Result.objects.get(direct_contact__pk=task_id),
            actor=reviewer,
        )
    pr.refresh_from_db()
    assert pr.status == PrivacyRequest.Status.IN_REVIEW

    report = privacy_request_approve(pr, actor=approver)  # no ValueError, no 500
    archive = zipfile.ZipFile(io.BytesIO(b"".join(report_open(report))))
    files = sorted(n for n in archive.namelist() if n.startswith("files/"))
    assert len(files) == 2 and len(set(files)) == 2
    assert sorted(archive.read(n) for n in files) == [b"one\n", b"two\n"]
    # Each record names the zip entry that holds its file.
    data = json.loads(archive.read("report.json"))
    listed = {
        s["system"]: t["records"][0]["file"]
        for s in data["systems"]
        for t in s["object_types"]
        if t["object_type"] == dc.FILE_TYPE
    }
    assert sorted(listed.values()) == files
    assert listed["HR Files"] == "files/hr-files/export.csv"
    assert archive.read(listed["HR-Files"]) == b"two\n"


def test_a_clash_left_from_older_answers_does_not_fail_the_report():
    from requests_app.services.review import _unique_path

    seen: set[str] = set()
    assert _unique_path("files/hr-files/export.csv", seen) == "files/hr-files/export.csv"
    assert _unique_path("files/hr-files/export.csv", seen) == "files/hr-files/export-2.csv"
    assert _unique_path("files/hr-files/README", seen) == "files/hr-files/README"
    assert _unique_path("files/hr-files/README", seen) == "files/hr-files/README-2"
