"""Blobs in the report storage that no row names: remove them once they are old.

A report or a contact's upload is stored before the database row that names it
commits (a transaction must not stay open while a large file is written). If the
worker dies in between, the blob is left behind with nobody to delete it. The
sweep lists the two places blobs live (reports at the storage's top level,
uploads under ``contact-files/``) and deletes every encrypted blob that no
``Report``, ``DirectContactFile`` or attached-file record names and that is older
than ``ORPHAN_BLOB_MIN_AGE``, so a blob whose row is still being written is never
touched. It runs with the hourly retention purge.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from portal import report_storage
from requests_app.models import DirectContactFile, Record, Report
from requests_app.services.direct_contact import FILE_STORAGE_PREFIX, FILE_TYPE

logger = logging.getLogger(__name__)
ORPHAN_BLOB_MIN_AGE = timedelta(days=1)
# Where blobs are written: (folder in the storage, with a trailing slash or empty).
BLOB_FOLDERS = ("", FILE_STORAGE_PREFIX)
BLOB_SUFFIX = ".enc"


def _named() -> set[str]:
    """Every storage name a row still points at."""
    names = set(Report.objects.values_list("storage_name", flat=True))
    names.update(DirectContactFile.objects.values_list("storage_name", flat=True))
    names.update(Record.objects.filter(object_type=FILE_TYPE).values_list("external_id", flat=True))
    return names


def orphan_blobs_sweep(now: datetime | None = None) -> int:
    """Delete old blobs no row names; returns how many. Safe on several workers."""
    now = now or timezone.now()
    storage = report_storage.report_storage()
    cutoff = now - ORPHAN_BLOB_MIN_AGE
    removed = 0
    for folder in BLOB_FOLDERS:
        try:
            _, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        # Rows are read after the listing: a blob listed here and named by a row that
        # commits meanwhile is seen as named.
        named = _named()
        for base in files:
            name = f"{folder}{base}"
            if not base.endswith(BLOB_SUFFIX) or name in named:
                continue
            try:
                if storage.get_modified_time(name) > cutoff:
                    continue
                report_storage.delete(name)
            except FileNotFoundError:
                continue
            removed += 1
            logger.info("removed an orphaned blob", extra={"folder": folder or "/"})
    return removed
