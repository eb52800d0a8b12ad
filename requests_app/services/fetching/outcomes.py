"""How a fetch run that stopped with an exception ends: one ordered table.

The table is read top to bottom and the first row whose exception type matches
(``isinstance``) wins, exactly as an ``except`` ladder in this order would: a
subclass listed below its base class would never be reached, so specific types come
first and ``Exception`` last. Messages are fixed words staff read; they never quote a
provider body or fetched data (an exception's own message may).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.db import OperationalError

from connectors.exceptions import (
    ApiError,
    ClientError,
    Forbidden,
    GrantRevoked,
    NotFound,
    RateLimited,
    ScopeMissing,
    Transient,
    Unauthorized,
)
from connectors.providers.base import SubjectNotFound
from requests_app.models import Result
from requests_app.services.fetching.lifecycle import StaleRun

BACKOFF_FIRST_SECONDS = 60
BACKOFF_MAX_SECONDS = 3600
RATE_LIMIT_DEFAULT_SECONDS = 60


class Retry(enum.Enum):
    """What happens after the run stops."""

    NONE = "none"  # the status is final for now (paused, failed, no data)
    RATE_LIMIT = "rate_limit"  # wait as long as the provider asked, then continue
    BACKOFF = "backoff"  # count a failure; retry later, or fail after too many in a row


@dataclass(frozen=True)
class Outcome:
    """One row: the exception types it covers and what the Result becomes."""

    types: tuple[type[BaseException], ...]
    # The target status; None means "stop without writing" (another run owns the Result).
    status: str | None
    # The error code; None takes the exception's own ``code``.
    code: str | None = None
    # Shown to staff; ``{exc.status}`` is filled from an ApiError's HTTP status.
    message: str = ""
    retry: Retry = Retry.NONE
    # The grant no longer works: mark the connection as needing re-authorisation.
    needs_reauth: bool = False
    # Keep the exception's message as a note on the Result (it is written for staff).
    note: bool = False
    # Log the exception's class and place: nobody expected it.
    unexpected: bool = False

    def code_for(self, exc: BaseException) -> str:
        return self.code if self.code is not None else getattr(exc, "code", "")

    def message_for(self, exc: BaseException) -> str:
        return self.message.format(exc=exc)


OUTCOMES: tuple[Outcome, ...] = (
    Outcome((StaleRun,), None),
    Outcome((SubjectNotFound,), Result.Status.NO_DATA, code="", note=True),
    Outcome(
        (GrantRevoked,),
        Result.Status.PAUSED,
        code="needs_reauth",
        message="The connection needs re-authorisation; this fetch continues after "
        "someone reconnects it.",
    ),
    Outcome(
        # 401 even with a freshly refreshed token: the grant no longer works.
        (Unauthorized,),
        Result.Status.PAUSED,
        code="needs_reauth",
        message="The provider refused the connection's token; this fetch continues "
        "after someone reconnects it.",
        needs_reauth=True,
    ),
    Outcome(
        (RateLimited,),
        Result.Status.WAITING,
        code="rate_limited",
        message="Waiting on the provider's rate limit.",
        retry=Retry.RATE_LIMIT,
    ),
    Outcome((Transient,), Result.Status.QUEUED, retry=Retry.BACKOFF),
    # Lock timeouts, serialisation failures, a lost connection: worth another go.
    Outcome((OperationalError,), Result.Status.QUEUED, code="database_busy", retry=Retry.BACKOFF),
    Outcome(
        (ScopeMissing, Forbidden),
        Result.Status.FAILED,
        message="The provider refused access: the connection lacks a scope or an "
        "administrator role. Check the connection page, then retry.",
    ),
    Outcome(
        (NotFound, ClientError, ApiError),
        Result.Status.FAILED,
        message="The provider rejected a request (HTTP {exc.status}).",
    ),
    Outcome(
        (Exception,),
        Result.Status.FAILED,
        code="internal_error",
        message="An unexpected error stopped this fetch. Retry it; if it fails again, "
        "contact support.",
        unexpected=True,
    ),
)


def outcome_for(exc: BaseException, table: tuple[Outcome, ...] = OUTCOMES) -> Outcome:
    """The first row, in table order, whose types include ``exc``'s class or a base of it."""
    for outcome in table:
        if isinstance(exc, outcome.types):
            return outcome
    raise LookupError(f"no outcome for {type(exc).__name__}")  # not reached: Exception is last


def backoff_seconds(failures: int) -> int:
    """Wait before retry number ``failures``: doubling from a minute, at most an hour."""
    return min(BACKOFF_FIRST_SECONDS * 2 ** (failures - 1), BACKOFF_MAX_SECONDS)


def rate_limit_seconds(exc: BaseException) -> float:
    """As long as the provider asked (Retry-After), a minute when it did not say."""
    return max(getattr(exc, "retry_after", None) or RATE_LIMIT_DEFAULT_SECONDS, 1)


GIVE_UP_MESSAGE = (
    "The provider kept failing (errors, timeouts or malformed answers) {failures} times "
    "in a row. Retry later."
)
RETRYING_MESSAGE = "Temporary provider problem; retrying automatically (failure {failures})."
