"""Key rotation covers the stored blobs too: approved reports and Direct Contact files.

Put a new key first, rotate, remove the old key: every report and file still opens,
the rows name the rotated blobs, and the start-up check finds nothing to complain about.
"""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest
from cryptography.fernet import Fernet, MultiFernet
from django.core.management import call_command
from encrypted_model_fields import fields as emf

from portal import report_storage
from portal.checks import check_secrets_decrypt
from portal.roles import Role
from requests_app.models import DirectContactFile, DirectContactTask, Record, Report, Result
from requests_app.services import approval
from requests_app.services.direct_contact import FILE_STORAGE_PREFIX, FILE_TYPE
from tests.factories import ResultFactory, StaffFactory, in_review_result, records_create

pytestmark = pytest.mark.django_db

FILE_BODY = b"the contact's export, row 1\n"


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.REVIEW_FOUR_EYES = False
    return tmp_path


def _keys(settings, monkeypatch, *keys: str) -> None:
    settings.FIELD_ENCRYPTION_KEY = list(keys)
    monkeypatch.setattr(emf, "CRYPTER", MultiFernet([Fernet(k) for k in keys]))


def _contact_file(result: Result) -> DirectContactFile:
    task = DirectContactTask.objects.create(result=result, contact_email="owner@example.com")
    name = report_storage.save_encrypted(
        io.BytesIO(FILE_BODY), f"{FILE_STORAGE_PREFIX}{hashlib.md5(FILE_BODY).hexdigest()}.enc"
    )
    upload = DirectContactFile.objects.create(
        task=task,
        storage_name=name,
        file_name="export.csv",
        content_type="text/csv",
        size=len(FILE_BODY),
        sha256=hashlib.sha256(FILE_BODY).hexdigest(),
    )
    Record.objects.create(
        result=result,
        object_type=FILE_TYPE,
        external_id=name,
        data={"file": "files/HR/export.csv", "name": "export.csv", "size": len(FILE_BODY)},
    )
    return upload


@pytest.fixture
def approved(settings, monkeypatch):
    """An approved report holding a fetched meeting and a Direct Contact file, under ``old``."""
    old = Fernet.generate_key().decode()
    _keys(settings, monkeypatch, old)
    result = in_review_result("zoom")
    records_create(result, "meeting", [{"id": 1, "topic": "Budget"}])
    dc = ResultFactory(
        request=result.request,
        workflow=Result.Workflow.DIRECT_CONTACT_ACCESS,
        status=Result.Status.SUCCEEDED,
    )
    upload = _contact_file(dc)
    report = approval.privacy_request_approve(
        result.request, actor=StaffFactory(roles=[Role.APPROVER])
    )
    return old, report, upload


def _report_bytes(report: Report) -> bytes:
    with approval.report_open(report) as chunks:
        return b"".join(chunks)


def _file_bytes(upload: DirectContactFile) -> bytes:
    with report_storage.open_decrypted(upload.storage_name) as chunks:
        return b"".join(chunks)


def test_rotation_re_encrypts_reports_and_contact_files(approved, settings, monkeypatch):
    old, report, upload = approved
    payload = _report_bytes(report)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert archive.read("files/HR/export.csv") == FILE_BODY
    new = Fernet.generate_key().decode()

    _keys(settings, monkeypatch, new, old)
    call_command("rotate_encryption_keys")
    _keys(settings, monkeypatch, new)

    report.refresh_from_db()
    upload.refresh_from_db()
    assert _report_bytes(report) == payload
    assert hashlib.sha256(payload).hexdigest() == report.sha256
    assert _file_bytes(upload) == FILE_BODY
    assert upload.storage_name.startswith(FILE_STORAGE_PREFIX)
    # The file's record follows the blob, so the next report still finds the file.
    assert Record.objects.get(object_type=FILE_TYPE).external_id == upload.storage_name
    assert check_secrets_decrypt() == []
    # Only the rotated blobs are left: the old ones are gone.
    names = set(report_storage.blob_names())
    assert names == {report.storage_name, upload.storage_name}
    stored = {
        p.relative_to(settings.DATA_DIR / "reports").as_posix()
        for p in (settings.DATA_DIR / "reports").rglob("*")
        if p.is_file()
    }
    assert stored == names


def test_the_check_flags_blobs_under_a_removed_key(approved, settings, monkeypatch):
    _old, report, upload = approved
    assert check_secrets_decrypt() == []
    _keys(settings, monkeypatch, Fernet.generate_key().decode())
    errors = check_secrets_decrypt()
    hints = " ".join(e.hint for e in errors)
    assert {e.id for e in errors} == {"portal.E001"}
    assert report.storage_name in hints and upload.storage_name in hints


def test_a_failed_rename_keeps_the_old_blob_and_row(approved, settings, monkeypatch):
    old, report, _upload = approved
    new = Fernet.generate_key().decode()
    _keys(settings, monkeypatch, new, old)
    before = report.storage_name

    def broken(old_name: str, new_name: str) -> None:
        raise RuntimeError("database went away")

    owners = [(label, names, broken) for label, names, _ in report_storage._OWNERS.values()]
    monkeypatch.setattr(report_storage, "_OWNERS", dict(enumerate(owners)))
    with pytest.raises(RuntimeError):
        report_storage.blobs_rotate()
    report.refresh_from_db()
    assert report.storage_name == before
    assert _report_bytes(report)  # the old blob is still there, under the old key
    stored = [p for p in (settings.DATA_DIR / "reports").rglob("*") if p.is_file()]
    assert len(stored) == 2  # the half-done copy was removed
