"""Uploaded files stay in memory: never a plaintext temporary file on disk.

Django's default handlers spool an upload over 2.5 MB to a temporary file in
plaintext; a contact's upload is personal data and is stored only encrypted.
"""

from __future__ import annotations

import pytest
from django.core.files import uploadedfile

from requests_app.models import DirectContactFile, RequestType
from requests_app.services.intake import privacy_request_create
from tests.requests_app.dc_helpers import contact_path, dc_connection, links_to, upload

pytestmark = pytest.mark.django_db

BIG = 3 * 2**20  # over Django's default FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB)


@pytest.fixture
def contact_link(client, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.DATA_DIR = tmp_path
    settings.DIRECT_CONTACT_UPLOAD_EXTENSIONS = ["csv", "txt"]
    dc_connection("Files Inc", "owner@corp.example")
    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_create(
            request_type=RequestType.ACCESS,
            email="dana@example.org",
            name="Dana",
            regulation="gdpr",
            source="staff",
        )
    ((task_id, token),) = links_to("owner@corp.example")
    return contact_path(client, task_id, token)


@pytest.fixture
def no_temp_files(monkeypatch):
    made = []

    def refuse(self, *args, **kwargs):
        made.append(args)
        raise AssertionError("an upload was spooled to a plaintext temporary file")

    monkeypatch.setattr(uploadedfile.TemporaryUploadedFile, "__init__", refuse)
    return made


def test_a_large_upload_creates_no_temporary_file(client, contact_link, no_temp_files):
    response = client.post(contact_link, {"files": [upload("calls.csv", b"a,b\n" * (BIG // 4))]})
    assert response.status_code == 302, response.content[:500]
    assert no_temp_files == []
    (stored,) = DirectContactFile.objects.all()
    assert stored.size == BIG


def test_a_body_beyond_the_upload_limits_is_refused_not_spooled(
    client, contact_link, no_temp_files, settings
):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 2**20
    response = client.post(contact_link, {"files": [upload("calls.csv", b"x" * 2 * 2**20)]})
    assert response.status_code == 400
    assert no_temp_files == []
    assert not DirectContactFile.objects.exists()


def test_the_memory_bound_covers_the_contact_page_limits(settings):
    from portal import settings as portal_settings

    assert portal_settings.FILE_UPLOAD_MAX_MEMORY_SIZE >= (
        portal_settings.DIRECT_CONTACT_UPLOAD_MAX_BYTES
        * portal_settings.DIRECT_CONTACT_UPLOAD_MAX_FILES
    )
    assert settings.FILE_UPLOAD_HANDLERS == ["portal.uploads.BoundedMemoryFileUploadHandler"]
