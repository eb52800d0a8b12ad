"""The shared rate budget: windows, pauses after 429, threads and separate processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from connectors import clock
from connectors.providers import get_provider
from connectors.ratelimit import (
    BudgetWaitTooLong,
    Limit,
    RateBudget,
    configured_limits,
    parse_retry_after,
)

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def fake_clock():
    with clock.use(clock.FakeClock(START)) as c:
        yield c


def test_parse_retry_after_accepts_seconds_http_date_and_iso():
    assert parse_retry_after("7", START) == 7.0
    assert parse_retry_after("1.5", START) == 1.5
    http_date = format_datetime(START + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(http_date, START) == 90.0
    assert parse_retry_after("2026-03-01T12:05:00Z", START) == 300.0
    assert parse_retry_after("2026-03-01T11:00:00Z", START) == 0.0
    assert parse_retry_after("soon", START) is None
    assert parse_retry_after(None, START) is None


def test_defaults_and_settings_override(settings):
    assert configured_limits("webex", get_provider("webex").rate_limits)["default"] == Limit(
        300, 60.0
    )
    assert configured_limits("zoom", get_provider("zoom").rate_limits)["light"] == Limit(80, 1.0)
    assert configured_limits("zoom", get_provider("zoom").rate_limits)["medium"] == Limit(60, 1.0)

    settings.CONNECTOR_RATE_LIMITS = {"zoom": {"light": (30, 1)}}

    assert configured_limits("zoom", get_provider("zoom").rate_limits)["light"] == Limit(30, 1.0)
    assert configured_limits("zoom", get_provider("zoom").rate_limits)["medium"] == Limit(60, 1.0)
    assert RateBudget.for_provider(get_provider("zoom"), key="a").limit("LIGHT") == Limit(30, 1.0)
    assert RateBudget.for_provider(get_provider("zoom"), key="a").limit("unknown") == Limit(60, 1.0)


def test_acquire_waits_for_the_next_window_when_full(fake_clock):
    budget = RateBudget(provider="webex", key="t", limits={"default": (3, 60)})

    waits = [budget.acquire() for _ in range(7)]

    assert waits == [0, 0, 0, 60.0, 0, 0, 60.0]
    assert fake_clock.sleeps == [60.0, 60.0]


def test_acquire_refuses_to_wait_beyond_max_wait(fake_clock):
    budget = RateBudget(provider="webex", key="t", limits={"default": (1, 60)})
    budget.acquire()

    with pytest.raises(BudgetWaitTooLong) as caught:
        budget.acquire(max_wait=10)

    assert caught.value.retry_after == 60.0
    assert fake_clock.sleeps == []


def test_a_429_pauses_every_client_with_the_same_key(fake_clock):
    worker_a = RateBudget.for_provider(get_provider("zoom"), key="account-1")
    worker_b = RateBudget.for_provider(get_provider("zoom"), key="account-1")
    elsewhere = RateBudget.for_provider(get_provider("zoom"), key="account-2")

    worker_a.observe("medium", 429, {"Retry-After": "12"})

    assert worker_b.blocked_for("medium") == 12.0
    assert worker_b.blocked_for("light") == 0.0
    assert elsewhere.blocked_for("medium") == 0.0
    assert worker_b.acquire("medium") == 12.0
    assert fake_clock.sleeps == [12.0]


def test_a_429_without_retry_after_pauses_briefly(fake_clock):
    budget = RateBudget.for_provider(get_provider("zoom"), key="account-1")

    budget.observe("light", 429, {})

    assert budget.blocked_for("light") == 1.0


def test_block_only_moves_later(fake_clock):
    budget = RateBudget.for_provider(get_provider("webex"), key="t")
    budget.block_for("default", 30)
    budget.block_for("default", 5)

    assert budget.blocked_for() == 30.0


@pytest.mark.parametrize(
    ("headers", "pause"),
    [
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(START.timestamp()) + 4)}, 4),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"}, 2),
        ({"X-RateLimit-Remaining": "0", "Retry-After": "2026-03-02T00:00:00Z"}, 12 * 3600),
        ({"X-RateLimit-Remaining": "0"}, 1),
        ({"X-RateLimit-Remaining": "5", "Retry-After": "30"}, 0),
    ],
)
def test_remaining_zero_pauses_until_reset(fake_clock, headers, pause):
    budget = RateBudget.for_provider(get_provider("zoom"), key="account-1")

    budget.observe("light", 200, headers)

    assert budget.blocked_for("light") == pause


def test_cache_keys_never_hold_the_raw_key(fake_clock):
    from django.core.cache import cache

    budget = RateBudget.for_provider(get_provider("webex"), key="SENTINEL-TOKEN-abc")
    budget.acquire()
    budget.block_for("default", 5)

    assert "SENTINEL" not in budget._prefix
    assert cache.get(f"{budget._prefix}:default:blocked") is not None


def test_threads_never_exceed_the_limit_in_a_window(fake_clock):
    budget = RateBudget(provider="zoom", key="acct", limits={"light": (25, 1)})
    granted: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        mine = 0
        for _ in range(10):
            try:
                RateBudget(provider="zoom", key="acct", limits=budget.limits).acquire(
                    "light", max_wait=0
                )
                mine += 1
            except BudgetWaitTooLong:
                pass
        with lock:
            granted.append(mine)

    for _ in range(2):  # two windows: the count starts again in the next one
        granted.clear()
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(granted) == 25  # 80 attempts, exactly the limit granted
        fake_clock.advance(1)


def test_blocking_threads_spread_over_windows(fake_clock):
    budget = RateBudget(provider="zoom", key="acct", limits={"light": (10, 1)})
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        for _ in range(10):
            budget.acquire("light")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # 40 slots at 10 per second cannot all fit before the fourth window.
    assert fake_clock.now() - START >= timedelta(seconds=3)


def _run_worker(config: dict, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.connectors.budget_worker", json.dumps(config), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out.strip()


def test_two_processes_share_one_budget(tmp_path):
    redis_url = getattr(django_settings, "REDIS_URL", "")
    config = {
        "redis_url": redis_url,
        "prefix": f"budget-test-{os.getpid()}-{tmp_path.name}",
        "sqlite_path": str(tmp_path / "cache.sqlite3"),
        "start": START.isoformat(),
        "key": "account-1",
        "limit": 15,
        "go_file": str(tmp_path / "go"),
    }
    _finish(_run_worker(config, "setup"))

    workers = [_run_worker(config, "take", "20") for _ in range(2)]
    (tmp_path / "go").touch()
    granted = [int(_finish(w)) for w in workers]

    # Alone each process would take 15 of its 20; together they share 15.
    assert sum(granted) == 15

    _finish(_run_worker(config, "block", "30"))
    assert float(_finish(_run_worker(config, "blocked"))) == 30.0
