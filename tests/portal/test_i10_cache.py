"""The default cache without Redis never evicts a live key (issue 10, item 1).

The rate budget and allauth's login throttling keep counters in the default
cache. The behaviour tests run with the backend ``portal.settings`` configures
when REDIS_URL is unset (read in a fresh interpreter), with a small MAX_ENTRIES
and far more live keys than that, so a culling cache would lose the counters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from connectors.ratelimit import BudgetWaitTooLong, RateBudget
from tests.factories import TEST_PASSWORD
from tests.portal.helpers import ROOT, production_env, run_python

pytestmark = pytest.mark.django_db

SMALL_MAX_ENTRIES = 50
FLOOD_KEYS = 600

_PRINT_CACHE = """
import json, django
django.setup()
from django.conf import settings
print(json.dumps(settings.CACHES["default"]))
"""


def _configured_cache(env: dict[str, str]) -> dict:
    result = run_python(["-c", _PRINT_CACHE], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def default_cache_config(tmp_path_factory) -> dict:
    """``CACHES['default']`` as portal.settings builds it for a fresh clone (no REDIS_URL)."""
    tmp = tmp_path_factory.mktemp("defaults")
    env = production_env(tmp, REDIS_URL=None, DJANGO_ENV=None)
    return _configured_cache(env)


@pytest.fixture
def small_default_cache(default_cache_config):
    """The configured no-Redis cache, with a table in the test database and few entries."""
    config = {
        **default_cache_config,
        "LOCATION": "i10_cache",
        "OPTIONS": {**default_cache_config.get("OPTIONS", {}), "MAX_ENTRIES": SMALL_MAX_ENTRIES},
    }
    with override_settings(CACHES={"default": config}):
        call_command("createcachetable", verbosity=0)
        yield config


def _flood(start: int, count: int) -> None:
    """Live keys sorting after everything else, so a key-order cull hits the counters first."""
    for i in range(start, start + count):
        cache.set(f"zz-flood-{i:05d}", i, timeout=3600)


def _flood_survives(count: int) -> bool:
    keys = [f"zz-flood-{i:05d}" for i in range(count)]
    return len(cache.get_many(keys)) == count


@pytest.mark.parametrize("django_env", ["development", "production"])
def test_default_cache_without_redis_never_culls_live_keys(tmp_path, django_env):
    env = production_env(tmp_path, REDIS_URL=None, DJANGO_ENV=django_env)
    config = _configured_cache(env)
    assert config["BACKEND"] == "portal.cache.NonCullingDatabaseCache"
    assert config["LOCATION"] == "portal_cache"


def test_rate_budget_is_exact_with_more_keys_than_the_cull_limit(small_default_cache):
    budget = RateBudget(provider="webex", key="k", limits={"default": (300, 60)})
    granted = 0
    for i in range(1000):
        cache.set(f"zz-flood-{i:05d}", i, timeout=3600)
        try:
            budget.acquire(max_wait=0)
            granted += 1
        except BudgetWaitTooLong:
            pass
    assert granted == 300
    with pytest.raises(BudgetWaitTooLong):
        budget.acquire(max_wait=0)
    assert _flood_survives(1000)


def test_login_throttle_counters_survive_a_flood_of_keys(client, small_default_cache, staff_user):
    url = reverse("account_login")
    for attempt in range(5):
        _flood(attempt * 200, 200)
        response = client.post(url, {"login": staff_user.email, "password": "wrong password"})
        assert response.status_code == 200
    _flood(1000, 200)
    # The sixth attempt is refused even with the right password: the counter was kept.
    response = client.post(url, {"login": staff_user.email, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "Too many failed login attempts" in response.content.decode()
    assert _flood_survives(1200)


@pytest.mark.parametrize("cull_frequency", [3, 0])
def test_expired_rows_are_still_removed(small_default_cache, cull_frequency):
    with override_settings(
        CACHES={
            "default": {
                **small_default_cache,
                "OPTIONS": {"MAX_ENTRIES": SMALL_MAX_ENTRIES, "CULL_FREQUENCY": cull_frequency},
            }
        }
    ):
        for i in range(100):
            cache.set(f"short-{i}", i, timeout=5)
        _flood(0, 100)
        with time_machine.travel(datetime.now(UTC) + timedelta(minutes=1)):
            cache.set("trigger", 1, timeout=60)  # a write above MAX_ENTRIES sweeps
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("SELECT cache_key FROM i10_cache")
                stored = {row[0] for row in cursor.fetchall()}
        assert not any(":short-" in key for key in stored)
        assert sum(":zz-flood-" in key for key in stored) == 100
        assert ":1:trigger" in stored


# --- Two processes sharing the budget through the database cache -----------------------

# Runs tests/connectors/budget_worker.py unchanged, with the cache it configures replaced
# by the no-Redis default backend (small MAX_ENTRIES); "flood" adds live keys first.
_WORKER = """
import json, sys
import django.conf

_configure = django.conf.LazySettings.configure

def configure(self, **kwargs):
    kwargs["CACHES"] = {"default": json.loads(cache_config)}
    return _configure(self, **kwargs)

django.conf.LazySettings.configure = configure
cache_config = sys.argv.pop()
from tests.connectors import budget_worker

if sys.argv[2] == "flood":
    budget_worker.configure(json.loads(sys.argv[1]))
    from django.core.cache import cache
    for i in range(int(sys.argv[3])):
        cache.set(f"zz-flood-{i:05d}", i, timeout=3600)
else:
    budget_worker.main(sys.argv[1:])
"""


def _run_worker(config: dict, cache_config: dict, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, json.dumps(config), *args, json.dumps(cache_config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.strip()


def test_two_processes_share_an_exact_budget_on_the_default_cache(tmp_path, default_cache_config):
    config = {
        "redis_url": "",
        "prefix": "",
        "sqlite_path": str(tmp_path / "cache.sqlite3"),
        "start": datetime(2026, 3, 2, 12, 0, 5, tzinfo=UTC).isoformat(),
        "key": "account-1",
        "limit": 40,
        "go_file": str(tmp_path / "go"),
    }
    cache_config = {
        **default_cache_config,
        "OPTIONS": {"MAX_ENTRIES": SMALL_MAX_ENTRIES},
    }
    _finish(_run_worker(config, cache_config, "setup"))
    _finish(_run_worker(config, cache_config, "flood", str(FLOOD_KEYS)))

    workers = [_run_worker(config, cache_config, "take", "60") for _ in range(2)]
    (tmp_path / "go").touch()
    granted = [int(_finish(w)) for w in workers]

    assert sum(granted) == 40
