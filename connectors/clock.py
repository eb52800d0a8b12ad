"""The only time source for waits in ``connectors.http`` and ``connectors.ratelimit``.

Production uses the system clock. Tests swap in a ``FakeClock`` with ``use(...)``
so backoff and rate-limit waits advance fake time instantly and are recorded,
instead of really sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.utils import timezone


class Clock(Protocol):
    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time: aware UTC wall clock, monotonic durations, real sleeps."""

    def now(self) -> datetime:
        return timezone.now()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """Time that moves only when someone sleeps; every sleep is recorded in ``sleeps``."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._mono = 1000.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> None:
        """Move time forward without recording a sleep (time passing elsewhere)."""
        with self._lock:
            self._advance(seconds)

    def _advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    @property
    def total_slept(self) -> float:
        return sum(self.sleeps)


_current: Clock = SystemClock()


def now() -> datetime:
    """Aware UTC wall-clock time (shared between processes, used for rate windows)."""
    return _current.now()


def monotonic() -> float:
    """Seconds for measuring durations inside one process."""
    return _current.monotonic()


def sleep(seconds: float) -> None:
    """Wait; the only way http and ratelimit pause."""
    _current.sleep(seconds)


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the time source for the duration of the block (all threads)."""
    global _current
    previous = _current
    _current = clock
    try:
        yield clock
    finally:
        _current = previous
