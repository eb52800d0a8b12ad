"""What every bench scenario shares: the simulator handle, a fetch through the real
pipeline, the counts read from the simulator's request log, and the row shape of
``.bench/latest.json``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

LATENCY = 0.02  # seconds per provider answer: a realistic round trip
WEBEX_RATE = 50  # calls per second per token: the hidden limit, never told to the product
TOKEN_PATHS = {"webex": "/webex/v1/access_token", "zoom": "/zoom/oauth/token"}


@dataclass
class Sim:
    """The running simulator, in the shape ``tests.factories.simulator_connection`` wants."""

    handle: Any

    @property
    def state(self) -> Any:
        return self.handle.state

    @property
    def zoom_api_base_url(self) -> str:
        return self.handle.zoom_api_base_url

    def mint_token(self, provider: str, **options: Any) -> dict[str, Any]:
        return self.handle.state.mint_token(provider=provider, **options)

    def reset(self, **knobs: Any) -> None:
        """Fresh data, tokens and log, with the bench's latency and hidden Webex limit."""
        defaults = {
            "latency": LATENCY,
            "webex_rate_per_minute": WEBEX_RATE,
            "webex_rate_window": 1.0,
        }
        self.handle.state.reset(None, **{**defaults, **knobs})


def row(name: str, **fields: Any) -> dict[str, Any]:
    """A scenario's row: the interface fields first (None where they do not apply)."""
    base = {
        "name": name,
        "calls": None,
        "wall_s": None,
        "lower_bound_s": None,
        "ratio": None,
        "baseline_calls": None,
        "baseline_wall_s": None,
        "records": None,
        "correct": None,
        "429s": None,
    }
    base.update(fields)
    if base["ratio"] is None and base["wall_s"] and base["lower_bound_s"]:
        base["ratio"] = round(base["wall_s"] / base["lower_bound_s"], 3)
    return base


def log_counts(sim: Sim, provider: str, since: int = 0) -> dict[str, int]:
    """API calls (token calls aside) and 429 answers in the simulator's log after ``since``."""
    entries = [r for r in sim.state.requests(provider)[since:] if r.path != TOKEN_PATHS[provider]]
    return {
        "calls": len(entries),
        "429s": sum(1 for r in entries if r.status == 429),
        "counted": sum(1 for r in entries if r.status != 429),
    }


def new_result(sim: Sim, provider: str, email: str, connection: Any = None, **mint: Any) -> Any:
    """A queued Result for a new request on ``connection`` (a new one when None)."""
    from requests_app.models import Result
    from tests.factories import PrivacyRequestFactory, ResultFactory, simulator_connection

    connection = connection or simulator_connection(sim, provider, **mint)
    return ResultFactory(
        request=PrivacyRequestFactory(subject_email=email),
        connection=connection,
        status=Result.Status.QUEUED,
    )


def run_result(result_id: int) -> dict[str, Any]:
    """Run one Result to the end through the real pipeline (time slices included)."""
    from django.db import connections

    try:
        status = run_to_end(result_id)
        return {"status": status, **stored_records(result_id)}
    finally:
        connections.close_all()


def run_to_end(result_id: int) -> str:
    """The pipeline's runs of one Result until it leaves the queue; its status."""
    from requests_app.models import Result
    from requests_app.services.fetching import fetch_execute

    status = fetch_execute(result_id=result_id)
    for _ in range(50):  # a time slice ended: the worker would pick it up again
        if status != Result.Status.QUEUED:
            break
        status = fetch_execute(result_id=result_id)
    return status


def stored_records(result_id: int) -> dict[str, Any]:
    """What the run stored: the meeting ids and the number of records per object type."""
    from requests_app.models import Record

    ids = set(
        Record.objects.filter(result_id=result_id, object_type="meeting").values_list(
            "external_id", flat=True
        )
    )
    per_type: dict[str, int] = {}
    for object_type in Record.objects.filter(result_id=result_id).values_list(
        "object_type", flat=True
    ):
        per_type[object_type] = per_type.get(object_type, 0) + 1
    return {"meeting_ids": ids, "per_type": per_type}


def webex_truth(sim: Sim, email: str) -> set[str]:
    return {m["id"] for m in sim.state.expected_webex_meetings(email)}


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    box: dict[str, float] = {}
    started = time.perf_counter()
    try:
        yield box
    finally:
        box["wall_s"] = round(time.perf_counter() - started, 3)


@contextmanager
def overridden(**values: Any) -> Iterator[None]:
    """Django settings changed for one scenario, restored after."""
    from django.conf import settings

    missing = object()
    previous = {k: getattr(settings, k, missing) for k in values}
    for key, value in values.items():
        setattr(settings, key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is missing:
                delattr(settings, key)
            else:
                setattr(settings, key, value)
