"""Zoom fetch through the pipeline and from checkpoints: resume, no data, rate limits.

Everything runs against the simulator over real HTTP; what was or was not fetched
again is read from the simulator's request log.
"""

from __future__ import annotations

from collections import Counter

import pytest

from connectors import clients
from connectors.providers import zoom_fetch
from connectors.simulator.seed import SUBJECT_EMAIL, SUBJECT_STORED_EMAIL, UNKNOWN_EMAIL
from requests_app.models import PrivacyRequest, Record, Result
from requests_app.services import fetching
from tests.connectors.zoom.support import (
    collect,
    counts_of,
    expected_counts,
    expected_types,
)
from tests.factories import PrivacyRequestFactory, ResultFactory, simulator_connection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pipeline(monkeypatch):
    """The real pipeline with enqueueing switched off (tests run each attempt themselves)."""
    monkeypatch.setattr(fetching.queue, "enqueue", lambda *, result_id: None)


def uid(sim) -> str:
    return sim.state.expected_zoom_counts(SUBJECT_STORED_EMAIL)["user_id"]


def zoom_result(sim, email: str = SUBJECT_EMAIL, account: str = "full") -> Result:
    request = PrivacyRequestFactory(subject_email=email, status=PrivacyRequest.Status.PROCESSING)
    return ResultFactory(
        request=request,
        connection=simulator_connection(sim, "zoom", account=account),
        status=Result.Status.QUEUED,
    )


def stored_counts(result: Result) -> dict[str, int]:
    counts = Counter(Record.objects.filter(result=result).values_list("object_type", flat=True))
    return {object_type: counts.get(object_type, 0) for object_type in expected_types()}


def make_due(result: Result) -> None:
    """Time has passed: the delayed attempt is due now."""
    Result.objects.filter(pk=result.pk).update(next_attempt_at=None)


def paths(sim) -> list[str]:
    return [entry.path for entry in sim.requests("zoom")]


# --- Through the pipeline ---------------------------------------------------------------------


def test_pipeline_stores_exact_counts_with_progress(zoom, pipeline):
    result = zoom_result(zoom)

    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    result.refresh_from_db()
    assert stored_counts(result) == expected_counts(zoom, SUBJECT_EMAIL)
    assert result.progress["windows_done"] == result.progress["windows_total"] == 45
    assert result.progress["api_calls"] == len(zoom.requests("zoom", "/zoom/v2/"))
    assert "notes" not in result.progress
    assert result.request.status == PrivacyRequest.Status.IN_REVIEW


def test_pipeline_shows_why_phone_and_webinars_are_empty(zoom, pipeline):
    result = zoom_result(zoom, account="basic")

    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    result.refresh_from_db()
    assert stored_counts(result) == expected_counts(zoom, SUBJECT_EMAIL, "basic")
    notes = result.progress["notes"]
    assert notes["webinar"] == zoom_fetch.NO_WEBINARS
    assert notes["call_log"] == notes["phone_user"] == zoom_fetch.NO_PHONE


def test_unknown_email_finishes_as_no_data(zoom, pipeline):
    result = zoom_result(zoom, email=UNKNOWN_EMAIL)

    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.NO_DATA

    result.refresh_from_db()
    assert result.error_code == ""
    assert result.progress["notes"]["subject"] == zoom_fetch.NOT_FOUND
    assert not Record.objects.filter(result=result).exists()


def test_resume_after_failure_skips_completed_units(zoom, pipeline, max_jitter_clock, settings):
    settings.HTTP_MAX_ATTEMPTS = 2
    user_id = uid(zoom)
    zoom.fault(
        provider="zoom", path_prefix=f"/zoom/v2/phone/users/{user_id}/settings", status=503, count=2
    )
    result = zoom_result(zoom)

    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.QUEUED

    result.refresh_from_db()
    done = result.checkpoint["done"]
    assert {"user", "phone_user", "settings", "meeting", "webinar", "recording"} <= set(done)
    assert "phone_settings" not in done
    expected = expected_counts(zoom, SUBJECT_EMAIL)
    partial = stored_counts(result)
    for object_type in ("user", "phone_user", "settings", "meeting", "webinar", "recording"):
        assert partial[object_type] == expected[object_type]

    zoom.state.clear_log()
    make_due(result)
    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    again = paths(zoom)
    base = f"/zoom/v2/users/{user_id}"
    assert f"/zoom/v2/users/{SUBJECT_EMAIL}" not in again  # no second lookup
    for finished in (base, f"{base}/settings", f"{base}/meetings", f"{base}/webinars"):
        assert finished not in again
    assert f"{base}/recordings" not in again
    assert f"/zoom/v2/phone/users/{user_id}" not in again
    assert f"/zoom/v2/phone/users/{user_id}/settings" in again
    result.refresh_from_db()
    assert stored_counts(result) == expected
    assert result.progress["windows_done"] == result.progress["windows_total"]


def test_rate_limit_beyond_retries_waits_then_finishes_with_nothing_lost(
    zoom, pipeline, max_jitter_clock, settings
):
    settings.HTTP_MAX_ATTEMPTS = 3
    user_id = uid(zoom)
    voicemails = f"/zoom/v2/phone/users/{user_id}/voice_mails"
    zoom.fault(provider="zoom", path_prefix=voicemails, status=429, count=40)
    result = zoom_result(zoom)

    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.WAITING
    result.refresh_from_db()
    assert result.error_code == "rate_limited"

    zoom.state.clear_faults()
    make_due(result)
    assert fetching.fetch_execute(result_id=result.pk) == Result.Status.SUCCEEDED

    result.refresh_from_db()
    assert stored_counts(result) == expected_counts(zoom, SUBJECT_EMAIL)


# --- From a checkpoint in the middle of a window ------------------------------------------------


def stop_inside(batches, prefix: str):
    """Consume batches until the checkpoint says a ``prefix`` window is half read."""
    taken = []
    for batch in batches:
        taken.append(batch)
        cursor = batch.checkpoint.get("cursor")
        if cursor and cursor["unit"].startswith(prefix):
            batches.close()
            return taken, batch.checkpoint
    raise AssertionError("no checkpoint inside a window")


def test_resume_inside_a_window_continues_from_its_page_token(zoom):
    client = clients.api_client_for(simulator_connection(zoom, "zoom", account="full"))
    first, checkpoint = stop_inside(
        zoom_fetch.fetch_access(client, SUBJECT_EMAIL, page_size=4, gather=False), "call_log:"
    )
    cursor = checkpoint["cursor"]
    window_start = cursor["unit"].split(":", 1)[1]
    zoom.state.clear_log()

    rest = list(zoom_fetch.fetch_access(client, SUBJECT_EMAIL, checkpoint=checkpoint, page_size=4))

    assert counts_of(collect(first + rest)) == expected_counts(zoom, SUBJECT_EMAIL)
    logged = zoom.requests("zoom")
    user_id = uid(zoom)
    calls = [e for e in logged if e.path.endswith(f"/phone/users/{user_id}/call_logs")]
    resumed = [e for e in calls if e.query["from"] == [window_start]]
    assert resumed[0].query["next_page_token"] == [cursor["next_page_token"]]
    earlier = {e.query["from"][0] for e in calls}
    done_windows = {k.split(":", 1)[1] for k in checkpoint["done"] if k.startswith("call_log:")}
    assert not earlier & done_windows  # finished windows are not asked again
    finished = {"/zoom/v2/users/" + SUBJECT_EMAIL, f"/zoom/v2/users/{user_id}/settings"}
    finished |= {f"/zoom/v2/users/{user_id}/{name}" for name in ("meetings", "recordings")}
    assert not finished & {e.path for e in logged}


def test_an_expired_page_token_restarts_only_its_window(zoom):
    client = clients.api_client_for(simulator_connection(zoom, "zoom", account="full"))
    first, checkpoint = stop_inside(
        zoom_fetch.fetch_access(client, SUBJECT_EMAIL, page_size=4, gather=False), "recording:"
    )
    window_start = checkpoint["cursor"]["unit"].split(":", 1)[1]
    zoom.state.expire_cursors()  # more than 15 minutes passed
    zoom.state.clear_log()

    rest = list(zoom_fetch.fetch_access(client, SUBJECT_EMAIL, checkpoint=checkpoint, page_size=4))

    assert counts_of(collect(first + rest)) == expected_counts(zoom, SUBJECT_EMAIL)
    window = [
        (e.status, "next_page_token" in e.query)
        for e in zoom.requests("zoom", f"/zoom/v2/users/{uid(zoom)}/recordings")
        if e.query["from"] == [window_start]
    ]
    assert window[0] == (400, True)  # the old token is refused...
    assert window[1] == (200, False)  # ...and the window is listed from its first page
