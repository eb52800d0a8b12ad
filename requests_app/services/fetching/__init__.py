"""The fetch pipeline: one Result per API connection, run as resumable background work.

``start`` creates, retries, resumes and ends fetches and hands them to django-q2;
``run`` is what a task does; ``sweep`` is the periodic safety net; ``lifecycle`` is
the one place a Result changes status; ``outcomes`` says how a run that raised ends.
The names below are the package's public interface.
"""

from requests_app.services.fetching import queue
from requests_app.services.fetching.lifecycle import (
    FETCHABLE_REQUEST_STATUSES,
    TRANSITIONS,
    StaleRun,
    privacy_request_check_fetched,
    privacy_request_status_set,
    result_transition,
)
from requests_app.services.fetching.outcomes import OUTCOMES, Outcome, Retry, outcome_for
from requests_app.services.fetching.queue import HOOK_PATH, TASK_PATH, enqueue, enqueue_on_commit
from requests_app.services.fetching.run import _store_batch, fetch_execute
from requests_app.services.fetching.start import (
    RETRYABLE_RESULT_STATUSES,
    fetch_end_for_connection,
    fetch_resume_for_connection,
    fetch_retry,
    fetch_start,
    result_hold,
    result_queue_fresh,
)
from requests_app.services.fetching.sweep import fetch_sweep, fetch_task_crashed

__all__ = [
    "FETCHABLE_REQUEST_STATUSES",
    "HOOK_PATH",
    "OUTCOMES",
    "RETRYABLE_RESULT_STATUSES",
    "TASK_PATH",
    "TRANSITIONS",
    "Outcome",
    "Retry",
    "StaleRun",
    "_store_batch",  # the benchmark (tests/bench) times it directly
    "enqueue",
    "enqueue_on_commit",
    "fetch_end_for_connection",
    "fetch_execute",
    "fetch_resume_for_connection",
    "fetch_retry",
    "fetch_start",
    "fetch_sweep",
    "fetch_task_crashed",
    "outcome_for",
    "privacy_request_check_fetched",
    "privacy_request_status_set",
    "queue",
    "result_hold",
    "result_queue_fresh",
    "result_transition",
]
