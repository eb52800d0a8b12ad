"""Shared set-up for the Zoom fetch tests (no tests here): a frozen day, connections, truth."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from connectors.clients import api_client_for
from connectors.http import ApiClient
from connectors.providers import zoom_fetch
from connectors.providers.base import Batch
from connectors.simulator.seed import DEMO_CLIENTS
from tests.factories import simulator_connection

# A month end, so month arithmetic has to clamp (Sep 30, Feb 28...).
FROZEN = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
TODAY = FROZEN.date()
# Truth keys (connectors.simulator.truth.zoom_counts) -> our object types.
TRUTH_TYPES = {
    "settings": "settings",
    "meetings": "meeting",
    "webinars": "webinar",
    "recordings": "recording",
    "phone_profile": "phone_user",
    "phone_settings": "phone_settings",
    "call_logs": "call_log",
    "voice_mails": "voicemail",
    "phone_recordings": "phone_recording",
}
FAST_BUDGET = {"zoom": {"light": (10000, 1.0), "medium": (10000, 1.0)}}
UNLIMITED_QPS = {"Light": 100000, "Medium": 100000}


def demo(account: str):
    return next(c for c in DEMO_CLIENTS if c.provider == "zoom" and c.account == account)


def client_for(sim: Any, account: str = "full", **mint: Any) -> ApiClient:
    return api_client_for(simulator_connection(sim, "zoom", account=account, **mint))


def collect(batches: list[Batch]) -> dict[str, dict[str, dict]]:
    """Records per object type keyed by external id, as the pipeline's upsert keeps them."""
    found: dict[str, dict[str, dict]] = {}
    for batch in batches:
        bucket = found.setdefault(batch.object_type, {})
        for external_id, data in batch.records:
            bucket[external_id] = data
    return found


def notes(batches: list[Batch]) -> dict[str, str]:
    return {b.object_type: b.note for b in batches if b.note}


def expected_counts(sim: Any, email: str, account: str = "full") -> dict[str, int]:
    truth = sim.state.expected_zoom_counts(email, account, lookback_days=365)
    assert truth["found"]
    counts = {"user": 1}
    for key, object_type in TRUTH_TYPES.items():
        counts[object_type] = truth[key] or 0
    return counts


def counts_of(records: dict[str, dict[str, dict]]) -> dict[str, int]:
    return {object_type: len(records.get(object_type, {})) for object_type in expected_types()}


def expected_types() -> list[str]:
    return ["user", *TRUTH_TYPES.values()]


def fetch_all(client: ApiClient, email: str, **kwargs: Any) -> list[Batch]:
    return list(zoom_fetch.fetch_access(client, email, **kwargs))


def window_requests(sim: Any, suffix: str) -> list[tuple[date, date]]:
    """(from, to) of every logged request whose path ends with ``suffix``."""
    windows = []
    for entry in sim.requests("zoom"):
        if entry.path.endswith(suffix):
            windows.append(
                (
                    date.fromisoformat(entry.query["from"][0]),
                    date.fromisoformat(entry.query["to"][0]),
                )
            )
    return windows


def statuses(sim: Any) -> Counter:
    return Counter(entry.status for entry in sim.requests("zoom"))


def shift_months(day: date, months: int) -> date:
    """Calendar months later (or earlier), clamped; written independently of the fetcher."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last = [31, 29 if year % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return date(year, month, min(day.day, last))


def six_months_before(day: date) -> date:
    return shift_months(day, -6)


def one_month_after(day: date) -> date:
    return shift_months(day, 1)
