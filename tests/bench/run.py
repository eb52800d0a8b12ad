"""Benchmarks: `make bench` prints a table and writes .bench/latest.json.

Every figure is measured in the same run, against the local simulator with a
realistic 20 ms per answer and a Webex limit of 50 calls a second per token that
the product is not told (it starts at its configured 300 a minute and learns).
Each scenario's records are checked against the simulator's truth helpers
(``correct``); ``lower_bound_s`` is the physical bound (calls the provider counted
/ the allowed rate, or Zoom's slowest chain of dependent calls) and ``ratio`` is
``wall_s / lower_bound_s``. Baselines are the seed's way of reading, measured here.

``BENCH_ONLY=P1,P3`` runs the scenarios whose names start with those prefixes.
P5 needs ``REDIS_URL`` (four worker processes sharing Redis); without it the row
says it was skipped. A missed target makes the command exit 1.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ("calls", "wall_s", "lower_bound_s", "ratio", "baseline_calls", "baseline_wall_s")


def _setup_django(data_dir: str) -> None:
    """The bench settings on a fresh SQLite file in ``data_dir``, migrated."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.bench.settings"
    os.environ["DATA_DIR"] = data_dir
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    logging.disable(logging.INFO)  # one log line per call would dominate the timings
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)


def _scenarios(sim: Any, handle: Any) -> list[tuple[str, Callable[[dict], dict]]]:
    from connectors.simulator.seed import DEMO_CLIENTS
    from tests.bench import other_scenarios as other
    from tests.bench import p5_workers
    from tests.bench import webex_scenarios as webex

    webex_client = next(c.client_id for c in DEMO_CLIENTS if c.provider == "webex")
    zoom_client = next(c.client_id for c in DEMO_CLIENTS if c.account == "full")

    def short_tokens(name: str, provider: str, client: str, latency: float, **mint: Any):
        knobs = {"access_lifetime_by_client": {client: 30}, "latency": latency}

        def run(rows: dict) -> dict:
            out = other.robustness(sim, name, provider, knobs, lifetime=30, **mint)
            out["target"] = "all records; refreshes about wall_s / 15"
            out["ok"] = bool(out["correct"] and out["refreshes"] >= int(out["wall_s"] // 30))
            return out

        return run

    def malformed(rows: dict) -> dict:
        knobs = {"rate_bad_body": 0.03, "fault_provider": "webex", "latency": 0.0}
        out = other.robustness(sim, "webex_malformed_3pct", "webex", knobs)
        out["target"] = "all records in one run"
        out["ok"] = bool(out["correct"] and out["runs"] == 1)
        return out

    def calls_of(rows: dict, name: str) -> int | None:
        return (rows.get(name) or {}).get("calls")

    return [
        ("P1_baseline_seed_read", lambda rows: webex.p1_baseline(sim)),
        (
            "P1_webex_scan",
            lambda rows: webex.p1(sim, baseline=rows.get("P1_baseline_seed_read")),
        ),
        (
            "P1_webex_scan_10pct_429",
            lambda rows: webex.p1(
                sim, baseline=rows.get("P1_baseline_seed_read"), injected_429=0.1
            ),
        ),
        (
            "P2_webex_warm_request",
            lambda rows: webex.p2(sim, p1_calls=calls_of(rows, "P1_webex_scan")),
        ),
        (
            "P2b_webex_20_cold_requests",
            lambda rows: webex.p2b(sim, scan_calls=calls_of(rows, "P1_webex_scan")),
        ),
        ("P3_zoom_request", lambda rows: other.p3(sim)),
        ("P4_review_records_page_10k", lambda rows: other.p4_review_page()),
        ("P4_records_api_10k", lambda rows: other.p4_records_api()),
        ("P4_report_build_100k", lambda rows: other.p4_report_build()),
        ("P5_four_workers_redis", lambda rows: p5_workers.p5(sim, handle.webex_base_url)),
        ("webex_30s_tokens", short_tokens("webex_30s_tokens", "webex", webex_client, 0.25)),
        (
            "zoom_30s_tokens",
            short_tokens("zoom_30s_tokens", "zoom", zoom_client, 1.5, account="full"),
        ),
        ("webex_malformed_3pct", malformed),
    ]


def _selected(name: str) -> bool:
    only = [p.strip() for p in os.environ.get("BENCH_ONLY", "").split(",") if p.strip()]
    return not only or any(name.startswith(p) for p in only)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _print(rows: list[dict]) -> None:
    header = f"{'scenario':<28} " + " ".join(f"{c:>15}" for c in COLUMNS)
    print(header + f" {'records':>8} {'correct':>7} {'429s':>5}  target")
    for r in rows:
        cells = " ".join(f"{_cell(r.get(c)):>15}" for c in COLUMNS)
        flag = {True: "", False: "  MISSED", None: "  (not run)"}[r.get("ok")]
        print(
            f"{r['name']:<28} {cells} {_cell(r.get('records')):>8} "
            f"{_cell(r.get('correct')):>7} {_cell(r.get('429s')):>5}  "
            f"{r.get('target', '')}{flag}"
        )
        extra = {
            k: v
            for k, v in r.items()
            # ``judged`` (the budget's every second) is kept for .bench/latest.json only.
            if k not in {*COLUMNS, "name", "records", "correct", "429s", "target", "ok", "judged"}
        }
        if extra:
            print(f"{'':<28}   " + ", ".join(f"{k}={v}" for k, v in extra.items()))


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        _setup_django(data_dir)
        from django.conf import settings

        from connectors.simulator import start_in_thread
        from tests.bench.common import Sim

        handle = start_in_thread(port=0)
        settings.WEBEX_BASE_URL = handle.webex_base_url
        settings.ZOOM_OAUTH_BASE_URL = handle.zoom_oauth_base_url
        settings.ZOOM_API_BASE_URL = handle.zoom_api_base_url
        sim = Sim(handle)
        rows: dict[str, dict] = {}
        try:
            for name, scenario in _scenarios(sim, handle):
                if not _selected(name):
                    continue
                print(f"running {name} ...", flush=True)
                rows[name] = scenario(rows)
        finally:
            handle.stop()

    _print(list(rows.values()))
    out = ROOT / ".bench"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "scenarios": list(rows.values()),
            },
            indent=2,
            default=str,
        )
    )
    print(f"written {out / 'latest.json'}")
    return 0 if all(r.get("ok") is not False for r in rows.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
