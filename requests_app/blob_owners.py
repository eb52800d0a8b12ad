"""The stored blobs this app owns, for key rotation and the start-up check in portal.

portal cannot import requests_app, so ``RequestsAppConfig.ready()`` registers these
with ``portal.report_storage.blob_owner_register``. A rename rewrites only the name
of the blob (the same plaintext under the newest key); the report's checksum and
content do not change, which is why it bypasses ``Report.save``'s immutability guard.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from requests_app.models import DirectContactFile, Record, Report


def report_blob_names() -> Iterable[str]:
    return Report.objects.order_by("pk").values_list("storage_name", flat=True)


def report_blob_renamed(old: str, new: str) -> None:
    Report.objects.filter(storage_name=old).update(storage_name=new)


def contact_file_blob_names() -> Iterable[str]:
    return DirectContactFile.objects.order_by("pk").values_list("storage_name", flat=True)


def contact_file_blob_renamed(old: str, new: str) -> None:
    """The upload row and its review record (whose ``external_id`` is the blob name)."""
    from requests_app.services.direct_contact import FILE_TYPE  # kept out of app loading

    with transaction.atomic():
        DirectContactFile.objects.filter(storage_name=old).update(storage_name=new)
        Record.objects.filter(object_type=FILE_TYPE, external_id=old).update(external_id=new)
