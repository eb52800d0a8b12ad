"""The pure retry decision of the HTTP client, without any HTTP."""

from __future__ import annotations

import pytest
import requests

from connectors.http import GiveUp, Retry, retry_decision


def decide(**kwargs):
    options = {
        "attempt": 1,
        "max_attempts": 5,
        "retry_unsafe": True,
        "allowance": 300.0,
        "backoff": lambda attempt: float(2 ** (attempt - 1)),
        **kwargs,
    }
    return retry_decision(**options)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_throttling_and_server_errors_are_retried_after_backoff(status):
    assert decide(status=status, attempt=3) == Retry(4.0)


def test_retry_after_wins_over_backoff():
    assert decide(status=429, retry_after=7.0) == Retry(7.0)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_other_errors_give_up_at_once_keeping_their_retry_after(status):
    assert decide(status=status, retry_after=9.0) == GiveUp("response")


def test_the_last_attempt_gives_up_with_the_wait_it_would_have_made():
    assert decide(status=503, attempt=5) == GiveUp("response", retry_after=16.0)


def test_a_wait_beyond_the_allowance_gives_up():
    assert decide(status=429, retry_after=30.0, allowance=10.0) == GiveUp(
        "response", retry_after=30.0
    )


def test_unsafe_requests_retry_only_what_the_server_did_not_act_on():
    assert decide(status=503, retry_unsafe=False) == GiveUp("response", retry_after=1.0)
    assert decide(status=429, retry_unsafe=False) == Retry(1.0)
    assert decide(failure=requests.ConnectTimeout(), retry_unsafe=False) == Retry(1.0)
    assert decide(failure=requests.ReadTimeout(), retry_unsafe=False) == GiveUp(
        "timeout", retry_after=1.0
    )


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (requests.ReadTimeout(), "timeout"),
        (requests.ConnectionError(), "connection_error"),
        (requests.exceptions.ChunkedEncodingError(), "connection_error"),
    ],
)
def test_transport_failures_are_retried_then_named(failure, kind):
    assert decide(failure=failure) == Retry(1.0)
    assert decide(failure=failure, attempt=5) == GiveUp(kind, retry_after=16.0)


def test_a_malformed_request_is_never_retried():
    assert decide(failure=requests.exceptions.InvalidURL()) == GiveUp("request_error")


def test_backoff_is_drawn_only_when_needed():
    drawn = []

    def backoff(attempt):
        drawn.append(attempt)
        return 1.0

    decide(status=429, retry_after=3.0, backoff=backoff)
    decide(status=404, backoff=backoff)
    assert drawn == []
