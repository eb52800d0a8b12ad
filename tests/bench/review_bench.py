"""Benchmarks of review and release, shaped like the rows of ``tests.bench.run``.

``bench_review_records(n)``: p95 of the review records page service over page loads
of one object type with n records. ``bench_report_approval(n)``: approving a request
with n Record rows, which builds the encrypted report through the real service path
(selection, edits, three formats, encryption, storage); wall time and peak RSS.

Both need a database: call them after ``tests.bench.run``'s Django setup, or alone:
``python -m tests.bench.review_bench [records|approval] [n]``.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE_P95_MS_TARGET = 300.0
PEAK_MIB_TARGET = 250
APPROVAL_SECONDS_TARGET = 120.0
_BATCH = 2000


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _request_with_records(n: int):
    """A request in review with one finished Zoom Result holding n meeting records."""
    from requests_app.models import PrivacyRequest, Record, Result
    from tests.bench.report_bench import synthetic_meetings
    from tests.factories import in_review_result

    result = in_review_result("zoom", subject_email="subject@example.com")
    assert result.request.status == PrivacyRequest.Status.IN_REVIEW
    assert result.status == Result.Status.SUCCEEDED
    batch: list[Record] = []
    for i, data in enumerate(synthetic_meetings(n)):
        batch.append(Record(result=result, object_type="meeting", external_id=str(i), data=data))
        if len(batch) == _BATCH:
            Record.objects.bulk_create(batch)
            batch = []
    if batch:
        Record.objects.bulk_create(batch)
    return result


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def bench_review_records(n: int = 10_000, loads: int = 30) -> dict:
    """p95 (ms) of ``review_records_page`` over ``loads`` page loads; the first is cold."""
    from django.core.cache import cache

    from requests_app.services.review import review_records_page

    result = _request_with_records(n)
    cache.clear()
    pages = max(1, -(-n // 50))
    rng = random.Random(11)
    wanted = [1, pages, *(rng.randint(1, pages) for _ in range(loads - 2))]
    samples = []
    shown = 0
    for page in wanted:
        started = time.perf_counter()
        view = review_records_page(result, "meeting", page)
        shown += len(view.records) and len(view.records[0].cells)
        samples.append((time.perf_counter() - started) * 1000)
    p95 = _p95(samples)
    row = {
        "name": f"review_records_page_{n // 1000}k" if n % 1000 == 0 else f"review_page_{n}",
        "records": n,
        "loads": len(samples),
        "cold_ms": round(samples[0], 1),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(max(samples), 1),
        "seconds": round(sum(samples) / 1000, 3),
        "peak_mib": round(_max_rss_mib(), 1),
        "target_p95_ms": PAGE_P95_MS_TARGET,
    }
    row["ok"] = bool(shown and p95 <= PAGE_P95_MS_TARGET)
    return row


def bench_report_approval(n: int = 100_000) -> dict:
    """Approve a request with n records: the report built, encrypted and stored once."""
    from portal import report_storage
    from portal.roles import Role
    from requests_app.models import Record
    from requests_app.services.approval import privacy_request_approve
    from requests_app.services.review import field_set_selected, record_edit
    from tests.factories import StaffFactory

    result = _request_with_records(n)
    request = result.request
    reviewer = StaffFactory(email="bench-reviewer@example.com")
    approver = StaffFactory(email="bench-approver@example.com", roles=[Role.APPROVER])
    # A little review, so the path includes withheld fields and applied edits.
    first = Record.objects.filter(result=result).order_by("id").first()
    record_edit(request, first, "topic", "Corrected topic", "bench", actor=reviewer)
    field_set_selected(request, result, "meeting", "agenda", False, actor=reviewer)
    rss_before = _max_rss_mib()
    started = time.perf_counter()
    report = privacy_request_approve(request, actor=approver)
    seconds = time.perf_counter() - started
    peak = _max_rss_mib()
    sha256, size = report_storage.plaintext_digest(report.storage_name)
    correct = sha256 == report.sha256 and size == report.size and report.record_count == n
    report_storage.delete(report.storage_name)
    row = {
        "name": f"report_approve_{n // 1000}k" if n % 1000 == 0 else f"report_approve_{n}",
        "records": n,
        "seconds": round(seconds, 3),
        "peak_mib": round(peak, 1),
        "peak_before_mib": round(rss_before, 1),
        "peak_growth_mib": round(peak - rss_before, 1),
        "zip_mib": round(report.size / 2**20, 1),
        "correct": correct,
        "target_seconds": APPROVAL_SECONDS_TARGET,
        "target_peak_mib": PEAK_MIB_TARGET,
    }
    row["ok"] = bool(correct and peak <= PEAK_MIB_TARGET and seconds <= APPROVAL_SECONDS_TARGET)
    return row


def main() -> int:
    which = sys.argv[1] if len(sys.argv) > 1 else "records"
    with tempfile.TemporaryDirectory() as data_dir:
        from tests.bench.run import _setup_django

        _setup_django(data_dir)
        if which == "approval":
            n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
            row = bench_report_approval(n)
        else:
            n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
            row = bench_review_records(n)
    print(json.dumps(row, indent=2))
    return 0 if row["ok"] else 1


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_test")
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
