"""Benchmarks: `make bench` prints a table and writes .bench/latest.json.

Measured against the local simulator on an isolated SQLite database, with the
rate-limit budget raised so the numbers show our own cost, not a provider's
quota. Each row has a target; a missed target makes the command exit 1.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PEAK_MIB_TARGET = 300  # the whole process, simulator included


def _setup_django(data_dir: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_test")
    os.environ["DATA_DIR"] = data_dir
    sys.path.insert(0, str(ROOT))
    import django
    from django.conf import settings

    django.setup()
    logging.disable(logging.INFO)  # one log line per call would dominate the timings
    settings.CONNECTOR_RATE_LIMITS = {
        "webex": {"default": (100_000, 60.0)},
        "zoom": {"light": (10_000, 1.0), "medium": (10_000, 1.0), "default": (10_000, 1.0)},
    }
    from django.test.utils import setup_test_environment

    setup_test_environment()
    from django.db import connection

    connection.creation.create_test_db(verbosity=0, autoclobber=True)


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _measure(fn: Callable[[], dict]) -> dict:
    """Wall time, and how far the process's peak memory rose (tracemalloc would slow
    the HTTP path tenfold and distort the time)."""
    rss_before = _max_rss_mib()
    started = time.perf_counter()
    extra = fn()
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "peak_mib": round(_max_rss_mib(), 1),
        "peak_growth_mib": round(_max_rss_mib() - rss_before, 1),
        **extra,
    }


def _fetch(simulator, provider: str, email: str, **mint) -> dict:
    from requests_app.models import Record, Result
    from requests_app.services.fetching import fetch_execute
    from tests.factories import PrivacyRequestFactory, ResultFactory, simulator_connection

    connection = simulator_connection(simulator, provider, **mint)
    result = ResultFactory(
        request=PrivacyRequestFactory(subject_email=email),
        connection=connection,
        status=Result.Status.QUEUED,
    )
    status = fetch_execute(result_id=result.pk)
    result.refresh_from_db()
    return {
        "status": status,
        "records": Record.objects.filter(result=result).count(),
        "api_calls": result.progress.get("api_calls", 0),
    }


def _upsert(n: int) -> dict:
    from connectors.providers.base import Batch
    from requests_app.models import Record
    from requests_app.services.fetching import _store_batch
    from tests.factories import ResultFactory

    result = ResultFactory(status="running")
    import uuid

    token = uuid.uuid4()
    type(result).objects.filter(pk=result.pk).update(run_token=token)
    payload = {"title": "Weekly sync", "agenda": "x" * 500, "telephony": {"callInNumbers": []}}
    for start in range(0, n, 500):
        batch = Batch(
            "meeting", [(f"m-{i}", {**payload, "id": f"m-{i}"}) for i in range(start, start + 500)]
        )
        _store_batch(result.pk, token, batch, api_calls=0)
    return {"records": Record.objects.filter(result=result).count()}


def _http_gets(simulator, n: int) -> dict:
    from connectors.clients import api_client_for
    from tests.factories import simulator_connection

    client = api_client_for(simulator_connection(simulator, "webex"))
    for _ in range(n):
        client.get("/people/me")
    return {"calls": n}


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        _setup_django(data_dir)
        from django.conf import settings

        from connectors.simulator import start_in_thread
        from connectors.simulator.seed import SUBJECT_EMAIL

        handle = start_in_thread(port=0)
        # Quotas raised on both sides: the rows measure our cost, not Webex's 300/min.
        handle.state.configure(webex_rate_per_minute=100_000)
        settings.WEBEX_BASE_URL = handle.webex_base_url
        settings.ZOOM_OAUTH_BASE_URL = handle.zoom_oauth_base_url
        settings.ZOOM_API_BASE_URL = handle.zoom_api_base_url

        class Sim:  # the shape tests.factories.simulator_connection expects
            zoom_api_base_url = handle.zoom_api_base_url

            @staticmethod
            def mint_token(provider, **options):
                return handle.state.mint_token(provider=provider, **options)

        rows = [
            ("webex_fetch_365d", 20.0, lambda: _fetch(Sim, "webex", SUBJECT_EMAIL)),
            ("zoom_fetch_365d", 10.0, lambda: _fetch(Sim, "zoom", SUBJECT_EMAIL, account="full")),
            ("record_upsert_10k", 10.0, lambda: _upsert(10_000)),
            ("http_get_500", 5.0, lambda: _http_gets(Sim, 500)),
        ]
        results = {}
        for name, target, fn in rows:
            measured = _measure(fn)
            measured["target_seconds"] = target
            measured["target_peak_mib"] = PEAK_MIB_TARGET
            measured["ok"] = (
                measured["seconds"] <= target and measured["peak_mib"] <= PEAK_MIB_TARGET
            )
            results[name] = measured
        handle.stop()

    print(f"{'benchmark':<20} {'seconds':>8} {'target':>7} {'peak MiB':>9}  details")
    for name, m in results.items():
        details = ", ".join(
            f"{k}={v}"
            for k, v in m.items()
            if k not in {"seconds", "target_seconds", "peak_mib", "target_peak_mib", "ok"}
        )
        flag = "" if m["ok"] else "  MISSED"
        timing = f"{m['seconds']:>8.2f} {m['target_seconds']:>7.0f} {m['peak_mib']:>9.1f}"
        print(f"{name:<20} {timing}  {details}{flag}")
    out = ROOT / ".bench"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "results": results,
            },
            indent=2,
        )
    )
    print(f"written {out / 'latest.json'}")
    return 0 if all(m["ok"] for m in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
