"""Zoom fetcher tests: the simulator on a frozen day, and waits recorded, not slept."""

from __future__ import annotations

import pytest
import time_machine

from tests.connectors.zoom.support import FAST_BUDGET, FROZEN, UNLIMITED_QPS


@pytest.fixture
def fake_clock_start():
    """The Zoom tests' fake clock (``max_jitter_clock``) starts on the frozen day."""
    return FROZEN


@pytest.fixture(autouse=True)
def _waits_are_fake(max_jitter_clock):
    """Every Zoom test waits in fake time, with backoff at the top of its range."""
    return max_jitter_clock


@pytest.fixture
def zoom(simulator, settings):
    """The simulator on a frozen day (a month end), no QPS surprises, a roomy budget."""
    settings.FETCH_LOOKBACK_DAYS = 365
    settings.CONNECTOR_RATE_LIMITS = FAST_BUDGET
    with time_machine.travel(FROZEN, tick=True):
        simulator.reset(zoom_qps=UNLIMITED_QPS)
        yield simulator
