"""Blobs stored before their row committed, left by a dead worker, are swept after a day."""

from __future__ import annotations

import io
import os
import time

import pytest
from django.utils import timezone

from portal import report_storage
from requests_app import tasks
from requests_app.models import Record, Report
from requests_app.services.direct_contact import FILE_TYPE
from requests_app.services.orphan_blobs import orphan_blobs_sweep
from tests.factories import PrivacyRequestFactory, ResultFactory

pytestmark = pytest.mark.django_db
DAY = 24 * 3600


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def _blob(name: str, *, age_seconds: int, data_dir) -> str:
    stored = report_storage.save_encrypted(io.BytesIO(b"secret"), name)
    when = time.time() - age_seconds
    os.utime(data_dir / "reports" / stored, (when, when))
    return stored


def _exists(name: str) -> bool:
    return report_storage.report_storage().exists(name)


def test_old_blobs_no_row_names_are_removed_and_nothing_else(data_dir):
    old = DAY + 60
    orphan_report = _blob("request-1-dead.zip.enc", age_seconds=old, data_dir=data_dir)
    orphan_upload = _blob("contact-files/dead.enc", age_seconds=old, data_dir=data_dir)
    being_written = _blob("contact-files/new.enc", age_seconds=60, data_dir=data_dir)
    kept_report = _blob("request-2-live.zip.enc", age_seconds=old, data_dir=data_dir)
    kept_upload = _blob("contact-files/live.enc", age_seconds=old, data_dir=data_dir)
    other = data_dir / "reports" / "notes.txt"
    other.write_text("not a blob")
    os.utime(other, (time.time() - 2 * DAY,) * 2)

    request = PrivacyRequestFactory()
    now = timezone.now()
    Report.objects.create(
        request=request,
        round=1,
        storage_name=kept_report,
        sha256="0" * 64,
        size=6,
        record_count=0,
        generated_at=now,
        approved_at=now,
    )
    Record.objects.create(
        result=ResultFactory(request=request),
        object_type=FILE_TYPE,
        external_id=kept_upload,
        data={"file": "files/hr/x.csv"},
        fetched_at=now,
    )

    assert tasks.retention_purge() == {"purged": 0, "orphan_blobs": 2}
    assert not _exists(orphan_report) and not _exists(orphan_upload)
    assert _exists(being_written) and _exists(kept_report) and _exists(kept_upload)
    assert other.exists()
    assert orphan_blobs_sweep() == 0  # nothing more


def test_an_empty_or_missing_storage_is_fine(data_dir):
    assert orphan_blobs_sweep() == 0
