"""Webex scenarios: P1 (a full scan at a rate the product is not told, with and without
injected 429s), its baseline (the seed's read: sequential, no index, at the true rate),
P2 (a warm request in a large organisation) and P2b (20 requests at once, cold index).

The lower bound of a scan is the calls the provider counted (429 answers are not
counted against the limit) divided by the hidden rate.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.bench.common import (
    WEBEX_RATE,
    Sim,
    log_counts,
    new_result,
    overridden,
    row,
    run_result,
    timed,
    webex_truth,
)

P1_EXTRA = 1_850  # with the seed's ~400 in the last year: more than 2,000 ended instances
P2_EXTRA = 4_700  # more than 5,000
P2B_REQUESTS = 20
CONCURRENCY = 24  # reads at once: 50 a second, with 10% refused reads each waiting 1 s
# P2b runs 20 requests in one process, each with its own pool: 8 reads at once each
# (as the P5 workers) rather than 480 threads in the process that also serves the
# simulator, whose late answers then bunch against its own sliding window.
P2B_CONCURRENCY = 8


def _index_setting() -> dict[str, Any]:
    """Turn the participant index off (the seed's read) where the setting exists."""
    from django.conf import settings

    return (
        {"WEBEX_PARTICIPANT_INDEX": False} if hasattr(settings, "WEBEX_PARTICIPANT_INDEX") else {}
    )


def _scan(sim: Sim, email: str, *, connection: Any = None) -> dict[str, Any]:
    since = len(sim.state.requests("webex"))
    result = new_result(sim, "webex", email, connection)
    with timed() as clock:
        outcome = run_result(result.pk)
    counts = log_counts(sim, "webex", since)
    stamps = [r.at for r in sim.state.requests("webex")[since:]]
    per_second: dict[int, int] = {}
    for at in stamps:
        per_second[int(at - stamps[0])] = per_second.get(int(at - stamps[0]), 0) + 1
    counts["per_second"] = [per_second.get(i, 0) for i in range(max(per_second, default=-1) + 1)]
    return {
        **counts,
        **clock,
        "result": result,
        "records": len(outcome["meeting_ids"]),
        "correct": outcome["status"] in ("succeeded", "no_data")
        and outcome["meeting_ids"] == webex_truth(sim, email),
        "status": outcome["status"],
    }


def p1(sim: Sim, *, baseline: dict[str, Any] | None, injected_429: float = 0.0) -> dict[str, Any]:
    """A full scan of the organisation for the usual subject, on a new connection."""
    from connectors.simulator.seed import SUBJECT_EMAIL

    knobs: dict[str, Any] = {"webex_extra_instances": P1_EXTRA}
    if injected_429:
        knobs.update(rate_429=injected_429, fault_provider="webex")
    sim.reset(**knobs)
    with overridden(FETCH_PARTICIPANT_CONCURRENCY=CONCURRENCY), _judgements() as judged:
        scan = _scan(sim, SUBJECT_EMAIL)
    name = f"P1_webex_scan_{int(injected_429 * 100)}pct_429" if injected_429 else "P1_webex_scan"
    target = 1.3 if injected_429 else 1.15
    lower = round(scan["counted"] / WEBEX_RATE, 3)
    out = row(
        name,
        calls=scan["calls"],
        wall_s=scan["wall_s"],
        lower_bound_s=lower,
        baseline_calls=(baseline or {}).get("calls"),
        baseline_wall_s=(baseline or {}).get("wall_s"),
        records=scan["records"],
        correct=scan["correct"],
        **{"429s": scan["429s"]},
        instances=_ended_instances(sim),
        learned_rate=_learned_rate(scan["result"]),
        calls_per_second=scan["per_second"],
        judged=judged,
        target=f"ratio <= {target}",
    )
    out["ok"] = bool(out["correct"] and out["ratio"] <= target)
    return out


def p1_baseline(sim: Sim) -> dict[str, Any]:
    """The seed's read: one participant list at a time, no index, the true rate told."""
    from connectors.simulator.seed import SUBJECT_EMAIL

    sim.reset(webex_extra_instances=P1_EXTRA)
    told = {"webex": {"default": (WEBEX_RATE, 1.0)}}
    with overridden(
        FETCH_PARTICIPANT_CONCURRENCY=1,
        CONNECTOR_RATE_LIMITS=told,
        CONNECTOR_RATE_CEILINGS=told,
        **_index_setting(),
    ):
        scan = _scan(sim, SUBJECT_EMAIL)
    out = row(
        "P1_baseline_seed_read",
        calls=scan["calls"],
        wall_s=scan["wall_s"],
        lower_bound_s=round(scan["counted"] / WEBEX_RATE, 3),
        records=scan["records"],
        correct=scan["correct"],
        **{"429s": scan["429s"]},
        target="reference (sequential, no index)",
    )
    out["ok"] = bool(out["correct"])
    return out


def p2(sim: Sim, *, p1_calls: int | None) -> dict[str, Any]:
    """A warm request: the index was built by an earlier request on the connection."""
    from connectors.simulator.seed import BENCH_SUBJECT_EMAIL
    from tests.factories import simulator_connection

    sim.reset(webex_extra_instances=P2_EXTRA, webex_extra_subjects=2, webex_rate_per_minute=10**6)
    connection = simulator_connection(sim, "webex")
    with overridden(FETCH_PARTICIPANT_CONCURRENCY=CONCURRENCY):
        warm_up = _scan(sim, BENCH_SUBJECT_EMAIL.format(1), connection=connection)
        sim.state.configure(webex_rate_per_minute=WEBEX_RATE)
        subject = BENCH_SUBJECT_EMAIL.format(0)
        since = len(sim.state.requests("webex"))
        scan = _scan(sim, subject, connection=connection)
    own = sim.state.requests("webex")[since:]
    pages = sum(1 for r in own if r.path == "/webex/v1/meetings" and r.status == 200)
    matches = scan["records"]
    allowed = (0.01 * p1_calls if p1_calls else 0) + 2 * matches + pages
    out = row(
        "P2_webex_warm_request",
        calls=scan["calls"],
        wall_s=scan["wall_s"],
        lower_bound_s=round(max(scan["counted"], 1) / WEBEX_RATE, 3),
        baseline_calls=warm_up["calls"],
        baseline_wall_s=warm_up["wall_s"],
        records=matches,
        correct=scan["correct"],
        **{"429s": scan["429s"]},
        instances=_ended_instances(sim),
        listing_pages=pages,
        allowed_calls=round(allowed, 1),
        target="calls <= 1% of P1 + 2 per match + listing pages; same meetings as a scan",
        note="baseline: the cold request that built the index (limit raised for it)",
    )
    out["ok"] = bool(out["correct"] and p1_calls and scan["calls"] <= allowed)
    return out


def p2b(sim: Sim, *, scan_calls: int | None) -> dict[str, Any]:
    """20 requests for different subjects at once on one connection with a cold index."""
    from connectors.simulator.seed import BENCH_SUBJECT_EMAIL
    from tests.factories import simulator_connection

    sim.reset(webex_extra_instances=P1_EXTRA, webex_extra_subjects=P2B_REQUESTS)
    connection = simulator_connection(sim, "webex")
    emails = [BENCH_SUBJECT_EMAIL.format(i) for i in range(P2B_REQUESTS)]
    results = [new_result(sim, "webex", email, connection) for email in emails]
    outcomes: dict[int, dict[str, Any]] = {}

    def work(result_id: int) -> None:
        outcomes[result_id] = run_result(result_id)

    threads = [threading.Thread(target=work, args=(r.pk,)) for r in results]
    with overridden(FETCH_PARTICIPANT_CONCURRENCY=P2B_CONCURRENCY), timed() as clock:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    counts = log_counts(sim, "webex")
    correct = all(
        outcomes.get(r.pk, {}).get("meeting_ids") == webex_truth(sim, email)
        for r, email in zip(results, emails, strict=True)
    )
    matches = sum(len(o["meeting_ids"]) for o in outcomes.values())
    allowed = 1.1 * scan_calls + 2 * matches if scan_calls else None
    out = row(
        "P2b_webex_20_cold_requests",
        calls=counts["calls"],
        wall_s=clock["wall_s"],
        lower_bound_s=round(counts["counted"] / WEBEX_RATE, 3),
        records=matches,
        correct=correct,
        **{"429s": counts["429s"]},
        requests=P2B_REQUESTS,
        scan_calls=scan_calls,
        allowed_calls=round(allowed, 1) if allowed else None,
        target="calls <= 1.1 scans + 2 per match",
    )
    out["ok"] = bool(correct and allowed and counts["calls"] <= allowed)
    return out


def _ended_instances(sim: Sim) -> int:
    from datetime import timedelta

    now = sim.state.now()
    return sum(
        1
        for inst in sim.state.org.webex.instances
        if now - timedelta(days=365) <= inst.start and inst.end <= now
    )


@contextmanager
def _judgements() -> Iterator[list[list[Any]]]:
    """What the adaptive budget judged each second, as ``[ok, 429s, verdict, rate after,
    noise after]``: a run that went wrong (a limit learned as noise) leaves its
    evidence in ``.bench/latest.json``."""
    from connectors.ratelimit import _Learned

    judged: list[list[Any]] = []
    judge = _Learned.judge

    def recording(self: Any, ok: int, throttled: int, adaptive: Any) -> str:
        verdict = judge(self, ok, throttled, adaptive)
        judged.append([ok, throttled, verdict, round(self.rate, 1), round(self.noise, 3)])
        return verdict

    _Learned.judge = recording  # type: ignore[method-assign]
    try:
        yield judged
    finally:
        _Learned.judge = judge  # type: ignore[method-assign]


def _learned_rate(result: Any) -> float | None:
    from connectors.clients import api_client_for

    budget = api_client_for(result.connection).budget
    return round(budget.rate(), 1) if budget and budget.rate() else None
