"""django-q2 and timeout settings keep their order: HTTP call < refresh lock < task < redelivery."""

from django.conf import settings

from tests.portal.helpers import production_env, run_python


def test_q_cluster_delivers_at_least_once_without_overlap():
    q = settings.Q_CLUSTER
    assert q["retry"] >= q["timeout"] * 1.3  # a slow task is not redelivered while alive
    assert 1 <= q["max_attempts"] <= 10
    assert q["catch_up"] is False
    assert q["ack_failures"] is True


def test_timeouts_are_ordered_token_call_lock_task():
    from connectors.http import token_call_max_seconds

    lock, task = settings.TOKEN_REFRESH_LOCK_TIMEOUT, settings.Q_CLUSTER["timeout"]
    assert token_call_max_seconds() < lock < task
    # A fetch slice ends well inside the task timeout; a stale heartbeat means a dead worker.
    slice_seconds, stale_after = settings.FETCH_SLICE_SECONDS, settings.FETCH_STALE_AFTER_SECONDS
    assert slice_seconds < task < stale_after


def test_django_q_conf_imports_without_warnings_in_production(tmp_path):
    result = run_python(
        ["-W", "error", "-c", "import django; django.setup(); import django_q.conf"],
        production_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
