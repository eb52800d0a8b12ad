"""Benchmark: build the released report for many records into an encrypted blob.

``bench_report(n)`` streams n synthetic Zoom-meeting-like records (generated
lazily, three passes: JSON, HTML, CSV) into the zip, encrypts it on the way to
the report storage, then decrypts it and checks the checksum and the record
count. The row has the shape of the rows in ``tests.bench.run``.

Alone: ``python -m tests.bench.report_bench [n]`` (no database needed).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import resource
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEAK_MIB_TARGET = 250
SECONDS_TARGET = 60.0

COLUMNS = [
    "id",
    "uuid",
    "topic",
    "type",
    "start_time",
    "duration",
    "timezone",
    "agenda",
    "created_at",
    "settings.host_video",
    "settings.participant_video",
    "settings.join_before_host",
    "settings.mute_upon_entry",
    "settings.audio",
    "settings.auto_recording",
    "tracking_fields",
]


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def synthetic_meetings(n: int) -> Iterator[dict]:
    """n meeting records shaped like Zoom's, made on demand (nothing kept)."""
    start = dt.datetime(2024, 1, 1, 8, 0, tzinfo=dt.UTC)
    for i in range(n):
        when = start + dt.timedelta(hours=3 * i)
        yield {
            "id": 80_000_000_000 + i,
            "uuid": f"u{i:010d}/Ab+Cd==",
            "host_id": "KDcuGIm1QgePTO8WbOqwIQ",
            "topic": f"Weekly sync #{i} - café <planning> =SUM(A1)" if i % 97 == 0 else f"Sync {i}",
            "type": 2,
            "start_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration": 30 + i % 60,
            "timezone": "Europe/Berlin",
            "agenda": ("Review the roadmap, budget and hiring plan. " * 5)[: 120 + i % 80],
            "created_at": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "join_url": f"https://zoom.example/j/{i}?pwd=SECRET",  # not released
            "settings": {
                "host_video": True,
                "participant_video": i % 2 == 0,
                "join_before_host": False,
                "mute_upon_entry": True,
                "audio": "both",
                "auto_recording": "none",
                "alternative_hosts": "someone.else@example.com",  # not released
            },
            "tracking_fields": [{"field": "cost centre", "value": str(i % 13)}],
        }


def _tail(raw, size: int) -> str:
    """The last ``size`` bytes of a zip entry, read in bounded chunks."""
    tail = b""
    while chunk := raw.read(1 << 20):
        tail = (tail + chunk)[-size:]
    return tail.decode("utf-8", "replace")


def _verify(name: str, digest, n: int) -> dict:
    """Decrypt the stored blob; check its checksum, then count the records in the zip."""
    from portal import report_storage

    sha256, size = report_storage.plaintext_digest(name)
    with tempfile.TemporaryFile() as plain:
        for chunk in report_storage.open_decrypted(name):
            plain.write(chunk)
        plain.seek(0)
        with zipfile.ZipFile(plain) as archive:
            csv_name = next(n for n in archive.namelist() if n.startswith("csv/"))
            with archive.open(csv_name) as raw:
                rows = sum(1 for _ in csv.reader(io.TextIOWrapper(raw, "utf-8-sig", newline="")))
            with archive.open("report.json") as raw:
                tail = _tail(raw, 4096)
    # Each object type ends with its record_count; the tail holds every one of them here.
    json_count = sum(int(c) for c in re.findall(r'"record_count": (\d+)', tail))
    correct = (
        sha256 == digest.sha256
        and size == digest.size
        and digest.record_count == n
        and rows - 1 == n
        and json_count == n
    )
    return {"correct": correct, "csv_rows": rows - 1}


def bench_report(n: int = 100_000) -> dict:
    """Build, encrypt and store a report of n records; a row for ``.bench/latest.json``."""
    from portal import report_storage
    from requests_app.reports import ReportMeta, ReportSection, write_report_zip

    meta = ReportMeta(
        reference="DSR-BENCH-0001",
        request_type="access",
        regulation="GDPR",
        subject_name="Bench Subject",
        subject_email="subject@example.com",
        received_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        generated_at=dt.datetime(2025, 1, 15, 12, 0, tzinfo=dt.UTC),
    )
    sections = [
        ReportSection(
            system="Zoom (Bench)",
            provider="zoom",
            object_type="meetings",
            label="Meetings",
            columns=COLUMNS,
            records=lambda: synthetic_meetings(n),
        ),
        ReportSection(
            system="Zoom (Bench)",
            provider="zoom",
            object_type="phone_calls",
            label="Phone calls",
            columns=["id", "date_time"],
            records=lambda: iter(()),
            notes=["Zoom Phone is not enabled for this account"],
        ),
    ]
    rss_before = _max_rss_mib()
    started = time.perf_counter()
    name, digest = report_storage.save_encrypted_from(
        lambda f: write_report_zip(meta, sections, f), "bench-report.zip.enc"
    )
    seconds = time.perf_counter() - started
    peak = _max_rss_mib()
    stored_bytes = report_storage.report_storage().size(name)
    verify_started = time.perf_counter()
    try:
        verified = _verify(name, digest, n)
    finally:
        report_storage.delete(name)
    row = {
        "name": f"report_build_{n // 1000}k" if n % 1000 == 0 else f"report_build_{n}",
        "seconds": round(seconds, 3),
        "peak_mib": round(peak, 1),
        "peak_growth_mib": round(peak - rss_before, 1),
        "records": n,
        "zip_mib": round(digest.size / 2**20, 1),
        "stored_mib": round(stored_bytes / 2**20, 1),
        "verify_seconds": round(time.perf_counter() - verify_started, 3),
        **verified,
        "target_seconds": SECONDS_TARGET,
        "target_peak_mib": PEAK_MIB_TARGET,
    }
    row["ok"] = bool(
        row["correct"] and seconds <= SECONDS_TARGET and row["peak_mib"] <= PEAK_MIB_TARGET
    )
    return row


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_test")
        os.environ["DATA_DIR"] = data_dir
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        row = bench_report(n)
    print(json.dumps(row, indent=2))
    return 0 if row["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
