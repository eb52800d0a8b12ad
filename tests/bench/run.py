"""Benchmarks: `make bench` prints a table and writes .bench/latest.json.

Measured against the local simulator on an isolated SQLite database, with the
rate-limit budget raised so the numbers show our own cost, not a provider's
quota. Each row has a target; a missed target makes the command exit 1.

Robustness rows run a full fetch with simulator knobs set and also miss when a
record of the simulator's truth is missing: ``*_30s_tokens`` (30-second access
tokens and slow answers; ``refreshes`` should be about ``fetch_seconds / 15``) and
``webex_malformed_3pct`` (3% of answers a 200 with a malformed body; ``runs`` must
stay 1, ``repeated_requests`` counts the pages asked for again).
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


TOKEN_PATHS = {"webex": "/webex/v1/access_token", "zoom": "/zoom/oauth/token"}


def _complete(state, provider: str, email: str, result_records: dict[str, int]) -> bool:
    """Whether the stored records match the simulator's truth (the last 365 days)."""
    if provider == "webex":
        return result_records.get("meeting", 0) == len(state.expected_webex_meetings(email))
    truth = state.expected_zoom_counts(email, "full", lookback_days=365)
    types = {
        "meetings": "meeting",
        "webinars": "webinar",
        "recordings": "recording",
        "call_logs": "call_log",
        "voice_mails": "voicemail",
        "phone_recordings": "phone_recording",
    }
    return all(result_records.get(ours, 0) == (truth[key] or 0) for key, ours in types.items())


def _robustness(handle, sim, provider: str, email: str, knobs: dict, **mint) -> dict:
    """A full fetch with simulator knobs set: wall time, calls, refreshes, repeats, and
    whether every record of the simulator's truth was stored, in one run."""
    from collections import Counter

    from requests_app.models import Record, Result

    state = handle.state
    state.reset(None, webex_rate_per_minute=100_000, **knobs)
    try:
        started = time.perf_counter()
        measured = _fetch(sim, provider, email, **mint)
        seconds = time.perf_counter() - started
        log = state.requests(provider)
        result = Result.objects.order_by("-pk").first()
        per_type = Counter(
            Record.objects.filter(result=result).values_list("object_type", flat=True)
        )
        asked = Counter(  # the same API request sent again (token calls aside)
            (r.path, tuple(sorted((k, tuple(v)) for k, v in r.query.items())))
            for r in log
            if r.path != TOKEN_PATHS[provider]
        )
        return {
            **measured,
            "runs": result.attempts,
            "complete": measured["status"] == "succeeded"
            and _complete(state, provider, email, per_type),
            "refreshes": sum(1 for r in log if r.path == TOKEN_PATHS[provider] and r.status == 200),
            "fetch_seconds": round(seconds, 1),
            "repeated_requests": sum(n - 1 for n in asked.values()),
            "error_answers": dict(Counter(r.status for r in log if r.status >= 400)),
        }
    finally:
        state.reset(None, webex_rate_per_minute=100_000)


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

        from connectors.simulator.seed import DEMO_CLIENTS

        webex_client = next(c.client_id for c in DEMO_CLIENTS if c.provider == "webex")
        zoom_client = next(c.client_id for c in DEMO_CLIENTS if c.account == "full")

        def short_tokens(
            provider: str, client_id: str, latency: float, **mint
        ) -> Callable[[], dict]:
            # Each request takes ``latency`` seconds, so the fetch outlives many tokens.
            knobs = {"access_lifetime_by_client": {client_id: 30}, "latency": latency}
            return lambda: _robustness(
                handle, Sim, provider, SUBJECT_EMAIL, knobs, lifetime=30, **mint
            )

        malformed = {"rate_bad_body": 0.03, "fault_provider": "webex"}
        rows = [
            ("webex_fetch_365d", 20.0, lambda: _fetch(Sim, "webex", SUBJECT_EMAIL)),
            ("zoom_fetch_365d", 10.0, lambda: _fetch(Sim, "zoom", SUBJECT_EMAIL, account="full")),
            ("record_upsert_10k", 10.0, lambda: _upsert(10_000)),
            ("http_get_500", 5.0, lambda: _http_gets(Sim, 500)),
            # 30-second access tokens, slow answers: refreshes about fetch_seconds / 15.
            ("webex_30s_tokens", 120.0, short_tokens("webex", webex_client, 0.25)),
            ("zoom_30s_tokens", 120.0, short_tokens("zoom", zoom_client, 1.5, account="full")),
            # 3% of answers a 200 with a malformed body: one run, no window repeated.
            (
                "webex_malformed_3pct",
                60.0,
                lambda: _robustness(handle, Sim, "webex", SUBJECT_EMAIL, malformed),
            ),
        ]
        results = {}
        for name, target, fn in rows:
            measured = _measure(fn)
            measured["target_seconds"] = target
            measured["target_peak_mib"] = PEAK_MIB_TARGET
            measured["ok"] = (
                measured["seconds"] <= target
                and measured["peak_mib"] <= PEAK_MIB_TARGET
                and measured.get("complete", True)
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
