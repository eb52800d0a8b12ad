"""P5: four worker processes share one Webex connection through Redis; eight requests.

Each worker is a separate Python process (as django-q2 workers are), with the bench's
settings: the same SQLite file and the same Redis cache, so the rate budget, the
learned rate and the index's single flight are shared only through the stores.
Run alone as ``python -m tests.bench.p5_workers RESULT_ID...`` (what the scenario
starts): sets Django up, prints ``ready``, waits for a line on stdin, then runs those
Results one after another and exits; the wall clock runs from that line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.bench.common import WEBEX_RATE, Sim, log_counts, new_result, row, timed, webex_truth

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
REQUESTS = 8
P5_EXTRA = 1_000
READY, GO = "ready", "go\n"


def redis_reachable() -> str | None:
    """Why P5 cannot run, or None when Redis answers."""
    from django.conf import settings

    if not getattr(settings, "REDIS_URL", ""):
        return "skipped: REDIS_URL is not set (P5 needs Redis shared by worker processes)"
    try:
        from django.core.cache import cache

        cache.set("bench:ping", 1, 5)
        if cache.get("bench:ping") != 1:
            return "skipped: Redis did not answer"
    except Exception as exc:  # any connection failure means: not reachable
        return f"skipped: Redis not reachable ({type(exc).__name__})"
    return None


def p5(sim: Sim, webex_base_url: str) -> dict[str, Any]:
    from connectors.simulator.seed import BENCH_SUBJECT_EMAIL
    from requests_app.models import Record, Result
    from tests.factories import simulator_connection

    reason = redis_reachable()
    if reason:
        out = row("P5_four_workers_redis", note=reason, target="429s <= 1% and ratio <= 1.2")
        out["ok"] = None
        return out
    sim.reset(webex_extra_instances=P5_EXTRA, webex_extra_subjects=REQUESTS)
    connection = simulator_connection(sim, "webex")
    emails = [BENCH_SUBJECT_EMAIL.format(i) for i in range(REQUESTS)]
    results = [new_result(sim, "webex", email, connection) for email in emails]
    env = {**os.environ, "BENCH_WEBEX_BASE_URL": webex_base_url}
    # Workers are long-running in production: each one starts Python and Django first,
    # says so, and waits; the clock starts when all are ready and told to go.
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.bench.p5_workers", *map(str, ids)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for ids in ([r.pk for r in results[i::WORKERS]] for i in range(WORKERS))
    ]
    for worker in workers:
        if worker.stdout.readline().strip() != READY:  # type: ignore[union-attr]
            raise RuntimeError("a P5 worker did not start")
    with timed() as clock:
        for worker in workers:
            worker.stdin.write(GO)  # type: ignore[union-attr]
            worker.stdin.close()  # type: ignore[union-attr]
        for worker in workers:
            worker.wait()
    counts = log_counts(sim, "webex")
    statuses = set(
        Result.objects.filter(pk__in=[r.pk for r in results]).values_list("status", flat=True)
    )
    correct = statuses <= {"succeeded", "no_data"} and all(
        set(
            Record.objects.filter(result=r, object_type="meeting").values_list(
                "external_id", flat=True
            )
        )
        == webex_truth(sim, email)
        for r, email in zip(results, emails, strict=True)
    )
    out = row(
        "P5_four_workers_redis",
        calls=counts["calls"],
        wall_s=clock["wall_s"],
        lower_bound_s=round(counts["counted"] / WEBEX_RATE, 3),
        records=Record.objects.filter(result__in=results).count(),
        correct=correct,
        **{"429s": counts["429s"]},
        workers=WORKERS,
        requests=REQUESTS,
        target="429s <= 1% of calls and ratio <= 1.2",
    )
    out["ok"] = bool(correct and counts["429s"] <= 0.01 * counts["calls"] and out["ratio"] <= 1.2)
    return out


def _worker(result_ids: list[int]) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.bench.settings"
    sys.path.insert(0, str(ROOT))
    import logging

    import django
    from django.conf import settings

    django.setup()
    logging.disable(logging.INFO)
    settings.WEBEX_BASE_URL = os.environ["BENCH_WEBEX_BASE_URL"]
    settings.FETCH_PARTICIPANT_CONCURRENCY = 8
    from tests.bench.common import run_result

    print(READY, flush=True)
    sys.stdin.readline()  # the go signal
    for result_id in result_ids:
        run_result(result_id)


if __name__ == "__main__":
    _worker([int(a) for a in sys.argv[1:]])
