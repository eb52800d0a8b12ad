"""A real django-q2 worker fetches; killed mid-fetch, a new one resumes without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection as db
from django.utils import timezone

from connectors.simulator.seed import SUBJECT_EMAIL
from requests_app.models import PrivacyRequest, Record, Result
from requests_app.services import fetching
from tests.factories import PrivacyRequestFactory, ResultFactory, simulator_connection

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    params = db.settings_dict
    if db.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    user, host, port = params["USER"], params["HOST"] or "127.0.0.1", params["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{params['NAME']}"


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: we kill the whole cluster
    )


def _stop(proc: subprocess.Popen, sig: int) -> None:
    """Signal the worker's whole process group; never leave it running."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_for(condition, *, timeout: float, what: str, log: Path) -> None:
    """Poll the database until ``condition`` holds; a bounded wait, not a sleep for luck."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


def test_killed_worker_is_recovered_and_the_fetch_completes_once(simulator, tmp_path, monkeypatch):
    from django_q.conf import Conf

    call_command("createcachetable", "portal_cache", verbosity=0)  # the worker's cache
    lookback = 120
    monkeypatch.setattr(settings, "FETCH_LOOKBACK_DAYS", lookback)
    monkeypatch.setattr(settings, "FETCH_STALE_AFTER_SECONDS", 2)  # as the worker's env says
    simulator.configure(latency=0.01)  # slow enough to be killed mid-fetch
    connection = simulator_connection(simulator, "webex")
    request = PrivacyRequestFactory(
        subject_email=SUBJECT_EMAIL, status=PrivacyRequest.Status.PROCESSING
    )
    result = ResultFactory(request=request, connection=connection, status=Result.Status.QUEUED)
    cluster = f"e2e-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": _database_url(),
        "DATA_DIR": str(tmp_path),
        "Q_CLUSTER_NAME": cluster,
        "Q_WORKERS": "1",
        "Q_TASK_TIMEOUT": "60",
        "FETCH_SLICE_SECONDS": "2",
        "FETCH_STALE_AFTER_SECONDS": "2",
        "FETCH_LOOKBACK_DAYS": str(lookback),
        "WEBEX_BASE_URL": simulator.webex_base_url,
        "ZOOM_OAUTH_BASE_URL": simulator.zoom_oauth_base_url,
        "ZOOM_API_BASE_URL": simulator.zoom_api_base_url,
        "LOG_LEVEL": "WARNING",
    }
    # Enqueue into the worker's queue instead of running the task in this process.
    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "PREFIX", cluster)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", cluster)
    log = tmp_path / "worker.log"
    started = timezone.now()
    first = _start_worker(env, log)
    second = None
    try:
        fetching.enqueue(result_id=result.pk)
        records = Record.objects.filter(result=result)
        _wait_for(lambda: records.count() > 0, timeout=90, what="first records", log=log)
        _stop(first, signal.SIGKILL)
        stored_at_kill = records.count()
        result.refresh_from_db()
        assert result.status in (Result.Status.RUNNING, Result.Status.QUEUED)
        checkpoint_at_kill = result.checkpoint

        second = _start_worker(env, log)
        # What the periodic sweeper does: re-enqueue the run whose heartbeat went stale.
        _wait_for(
            lambda: fetching.fetch_sweep() > 0 or _finished(result),
            timeout=30,
            what="the sweeper to recover the run",
            log=log,
        )
        _wait_for(lambda: _finished(result), timeout=180, what="the fetch to finish", log=log)
    finally:
        _stop(first, signal.SIGKILL)
        if second is not None:
            _stop(second, signal.SIGKILL)

    result.refresh_from_db()
    assert result.status == Result.Status.SUCCEEDED, (result.error_code, log.read_text()[-2000:])
    all_ids = list(records.values_list("object_type", "external_id"))
    assert len(all_ids) == len(set(all_ids))  # nothing stored twice
    ids = [external_id for object_type, external_id in all_ids if object_type == "meeting"]
    assert stored_at_kill <= len(all_ids)
    # The worker's window is [its now - lookback, its now]; it started between these instants.
    finished, span = timezone.now(), timedelta(days=lookback)
    state = simulator.state
    surely = {
        m["id"] for m in state.expected_webex_meetings(SUBJECT_EMAIL, finished - span, started)
    }
    at_most = {
        m["id"] for m in state.expected_webex_meetings(SUBJECT_EMAIL, started - span, finished)
    }
    assert surely <= set(ids) <= at_most
    assert len(surely) > 10
    assert checkpoint_at_kill  # the kill happened after at least one checkpoint
    assert request.__class__.objects.get(pk=request.pk).status == PrivacyRequest.Status.IN_REVIEW


def _finished(result: Result) -> bool:
    return Result.objects.filter(pk=result.pk, status__in=Result.FINISHED_STATUSES).exists()
