"""Zoom fetcher tests: the simulator on a frozen day, and waits recorded, not slept."""

from __future__ import annotations

import pytest
import time_machine

from connectors import clock, http
from tests.connectors.doubles import MaxJitter
from tests.connectors.zoom.support import FAST_BUDGET, FROZEN, UNLIMITED_QPS


@pytest.fixture
def zoom(simulator, settings):
    """The simulator on a frozen day (a month end), no QPS surprises, a roomy budget."""
    settings.FETCH_LOOKBACK_DAYS = 365
    settings.CONNECTOR_RATE_LIMITS = FAST_BUDGET
    with time_machine.travel(FROZEN, tick=True):
        simulator.reset(zoom_qps=UNLIMITED_QPS)
        yield simulator


@pytest.fixture
def fake_clock(monkeypatch):
    """Replaces the suite's clock here: starts on the frozen day, top-of-range jitter."""
    monkeypatch.setattr(http, "jitter", MaxJitter())
    with clock.use(clock.FakeClock(start=FROZEN)) as fake:
        yield fake
