"""Zoom (P3), review and report (P4) and the robustness rows kept from the first bench
(30-second tokens, 3% malformed bodies), each as a row of ``.bench/latest.json``."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections import Counter
from typing import Any

from tests.bench.common import (
    Sim,
    log_counts,
    new_result,
    overridden,
    row,
    run_result,
    run_to_end,
    stored_records,
    timed,
)

# "Six months of call logs": the subject's Zoom Phone history gets this many more call
# logs (about 650 a month, so each month window lists three pages of 300).
P3_EXTRA_CALL_LOGS = int(os.environ.get("BENCH_P3_CALL_LOGS", "4000"))

ZOOM_TYPES = {
    "meetings": "meeting",
    "webinars": "webinar",
    "recordings": "recording",
    "call_logs": "call_log",
    "voice_mails": "voicemail",
    "phone_recordings": "phone_recording",
}


def _zoom_complete(sim: Sim, email: str, per_type: dict[str, int]) -> bool:
    truth = sim.state.expected_zoom_counts(email, "full", lookback_days=365)
    return all(per_type.get(ours, 0) == (truth[key] or 0) for key, ours in ZOOM_TYPES.items())


def _zoom_fetch(sim: Sim, email: str) -> dict[str, Any]:
    from django.db import connections

    since = len(sim.state.requests("zoom"))
    result = new_result(sim, "zoom", email, account="full")
    try:
        cpu = time.process_time()
        with timed() as clock:  # the pipeline's run only; the checks below are not timed
            status = run_to_end(result.pk)
        cpu = time.process_time() - cpu
        outcome = stored_records(result.pk)
    finally:
        connections.close_all()
    own = [r for r in sim.state.requests("zoom")[since:] if r.path != "/zoom/oauth/token"]
    return {
        **log_counts(sim, "zoom", since),
        **clock,
        "cpu_s": round(cpu, 3),
        "log": own,
        "records": sum(outcome["per_type"].values()),
        "correct": status == "succeeded" and _zoom_complete(sim, email, outcome["per_type"]),
    }


def _per_call_seconds(sim: Sim, n: int = 20) -> float:
    """The median time of one call through the product's client, measured now."""
    from connectors.clients import api_client_for
    from tests.factories import simulator_connection

    client = api_client_for(simulator_connection(sim, "zoom", account="full"))
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        client.get("/users/me")
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _slowest_chain(log: list[Any]) -> int:
    """Calls in the longest chain of dependent calls.

    First the user lookup(s) (one after the other: the id is needed by everything
    else). Then, each listing's pages follow each other (a page needs the previous
    page's token), so a chain is a listing's page count. Zoom Phone units wait for the
    phone-user lookup (it says whether Zoom Phone holds anything for the person, and
    the product settles every phone type without a call when it does not), so a phone
    listing's chain adds that call; the other units need only the user's id.
    """
    users = "/zoom/v2/users/"
    phone_users = "/zoom/v2/phone/users/"
    api = [r for r in log if r.path != "/zoom/v2/users/me"]
    lookups = sum(1 for r in api if r.path.startswith(users) and r.path.count("/") == 4)
    phone_user = sum(1 for r in api if r.path.startswith(phone_users) and r.path.count("/") == 5)
    listings = Counter(
        (r.path, tuple(sorted((k, tuple(v)) for k, v in r.query.items() if k != "next_page_token")))
        for r in api
        if r.path.count("/") > 4 and not (r.path.startswith(phone_users) and r.path.count("/") == 5)
    )
    phone = max((n for (path, _), n in listings.items() if path.startswith(phone_users)), default=0)
    other = max(
        (n for (path, _), n in listings.items() if not path.startswith(phone_users)), default=0
    )
    return lookups + max(other, phone_user + phone if phone else phone_user)


def p3(sim: Sim) -> dict[str, Any]:
    """A Zoom request with six months of phone history: independent objects overlap.

    The simulator runs in a process of its own (``BENCH_P3_SIM=thread``: the bench's
    in-process one), so its answers do not take CPU from the client being timed.
    """
    if os.environ.get("BENCH_P3_SIM") == "thread":
        return _p3(sim, "thread")
    from tests.bench.sim_process import remote_simulator

    with (
        remote_simulator() as handle,
        overridden(
            ZOOM_OAUTH_BASE_URL=handle.zoom_oauth_base_url,
            ZOOM_API_BASE_URL=handle.zoom_api_base_url,
        ),
    ):
        return _p3(Sim(handle), "process")


def _p3(sim: Sim, where: str) -> dict[str, Any]:
    from connectors.simulator.seed import SUBJECT_EMAIL

    knobs = {"zoom_extra_call_logs": P3_EXTRA_CALL_LOGS}
    sim.reset(**knobs)
    per_call = _per_call_seconds(sim)
    baseline = _zoom_sequential(sim, SUBJECT_EMAIL, **knobs)
    sim.reset(**knobs)
    fetch = _zoom_fetch(sim, SUBJECT_EMAIL)
    chain = _slowest_chain(fetch["log"])
    chain_s = chain * per_call
    # Zoom's limits are per second and category: n calls of a category need at least
    # ceil(n / limit) - 1 seconds.
    by_category = Counter(_zoom_category(r.path) for r in fetch["log"])
    qps = sim.state.knobs.zoom_qps
    rate_s = max(
        (math.ceil(n / qps.get(cat, 10**6)) - 1 for cat, n in by_category.items()), default=0
    )
    lower = round(max(chain_s, rate_s), 3)
    out = row(
        "P3_zoom_request",
        calls=fetch["calls"],
        wall_s=fetch["wall_s"],
        lower_bound_s=lower,
        baseline_calls=baseline["calls"],
        baseline_wall_s=baseline["wall_s"],
        records=fetch["records"],
        correct=fetch["correct"],
        **{"429s": fetch["429s"]},
        slowest_chain_calls=chain,
        per_call_s=round(per_call, 4),
        # The CPU this process (every thread) spent on the run: with the simulator in a
        # process of its own, the client's. Above the chain, the run cannot be faster
        # than this on one interpreter.
        client_cpu_s=fetch["cpu_s"] if where == "process" else None,
        simulator=where,
        extra_call_logs=P3_EXTRA_CALL_LOGS,
        target="wall <= 1.3 x slowest chain",
    )
    out["ok"] = bool(out["correct"] and out["ratio"] <= 1.3)
    return out


def _zoom_category(path: str) -> str:
    return "Light" if path.count("/") <= 4 or path.endswith("/settings") else "Medium"


def _zoom_sequential(sim: Sim, email: str, **knobs: Any) -> dict[str, Any]:
    """The seed's read: one object type after another."""
    sim.reset(**knobs)
    with overridden(ZOOM_FETCH_CONCURRENCY=1):
        return _zoom_fetch(sim, email)


def p4_review_page(n: int = 10_000) -> dict[str, Any]:
    from tests.bench.review_bench import bench_review_records

    measured = bench_review_records(n)
    out = row(
        "P4_review_records_page_10k",
        records=measured["records"],
        wall_s=measured["seconds"],
        correct=measured["ok"] or measured["p95_ms"] > measured["target_p95_ms"],
        p95_ms=measured["p95_ms"],
        p50_ms=measured["p50_ms"],
        peak_mib=measured["peak_mib"],
        target=f"p95 <= {measured['target_p95_ms']:.0f} ms",
    )
    out["ok"] = measured["ok"]
    return out


def p4_records_api(n: int = 10_000, loads: int = 30) -> dict[str, Any]:
    """p95 of ``GET /api/v1/requests/<pk>/records?page=`` through Django's test client."""
    import random

    from django.test import Client

    from portal.api_tokens import api_token_create
    from tests.bench.review_bench import PAGE_P95_MS_TARGET, _p95, _request_with_records
    from tests.factories import StaffFactory

    result = _request_with_records(n)
    _, raw = api_token_create(user=StaffFactory(email="bench-api@example.com"), name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = f"/api/v1/requests/{result.request.pk}/records"
    first = client.get(url)
    body = first.json()
    pages = max(1, int(body.get("pages") or body.get("num_pages") or math.ceil(n / 50)))
    rng = random.Random(11)
    samples, seen = [], 0
    for page in [1, *(rng.randint(1, pages) for _ in range(loads - 1))]:
        started = time.perf_counter()
        answer = client.get(url, {"page": page})
        samples.append((time.perf_counter() - started) * 1000)
        if answer.status_code == 200:
            seen += 1
    p95 = _p95(samples)
    out = row(
        "P4_records_api_10k",
        records=n,
        wall_s=round(sum(samples) / 1000, 3),
        correct=first.status_code == 200 and seen == len(samples),
        p95_ms=round(p95, 1),
        p50_ms=round(statistics.median(samples), 1),
        target=f"p95 <= {PAGE_P95_MS_TARGET:.0f} ms",
    )
    out["ok"] = bool(out["correct"] and p95 <= PAGE_P95_MS_TARGET)
    return out


def p4_report_build(n: int = 100_000) -> dict[str, Any]:
    from tests.bench.report_bench import bench_report

    measured = bench_report(n)
    out = row(
        "P4_report_build_100k",
        records=measured["records"],
        wall_s=measured["seconds"],
        correct=measured["correct"],
        peak_mib=measured["peak_mib"],
        peak_growth_mib=measured["peak_growth_mib"],
        zip_mib=measured["zip_mib"],
        target=f"<= {measured['target_seconds']:.0f} s, peak <= {measured['target_peak_mib']} MiB",
        note="peak_mib is the bench process's (earlier scenarios included); alone: "
        "python -m tests.bench.report_bench",
    )
    # In the shared bench process the peak includes earlier scenarios: judge the growth.
    out["ok"] = bool(
        measured["correct"]
        and measured["seconds"] <= measured["target_seconds"]
        and measured["peak_growth_mib"] <= 50
    )
    return out


def robustness(sim: Sim, name: str, provider: str, knobs: dict[str, Any], **mint: Any) -> dict:
    """A full fetch with simulator knobs set; every record of the truth must be stored."""
    from connectors.simulator.seed import SUBJECT_EMAIL
    from requests_app.models import Result

    sim.reset(webex_rate_per_minute=100_000, **knobs)
    result = new_result(sim, provider, SUBJECT_EMAIL, **mint)
    with overridden(FETCH_PARTICIPANT_CONCURRENCY=4), timed() as clock:
        outcome = run_result(result.pk)
    log = sim.state.requests(provider)
    token_path = "/webex/v1/access_token" if provider == "webex" else "/zoom/oauth/token"
    asked = Counter(
        (r.path, tuple(sorted((k, tuple(v)) for k, v in r.query.items())))
        for r in log
        if r.path != token_path
    )
    if provider == "webex":
        from tests.bench.common import webex_truth

        complete = outcome["meeting_ids"] == webex_truth(sim, SUBJECT_EMAIL)
    else:
        complete = _zoom_complete(sim, SUBJECT_EMAIL, outcome["per_type"])
    counts = log_counts(sim, provider)
    out = row(
        name,
        calls=counts["calls"],
        wall_s=clock["wall_s"],
        records=sum(outcome["per_type"].values()),
        correct=outcome["status"] == "succeeded" and complete,
        **{"429s": counts["429s"]},
        runs=Result.objects.get(pk=result.pk).attempts,
        refreshes=sum(1 for r in log if r.path == token_path and r.status == 200),
        repeated_requests=sum(n - 1 for n in asked.values()),
        error_answers=dict(Counter(r.status for r in log if r.status >= 400)),
    )
    return out
