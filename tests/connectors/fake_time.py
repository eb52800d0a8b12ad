"""Run a fetch against the simulator in frozen time, with every provider request taking time.

A fetch against the simulator takes a few real seconds, so short-lived tokens never
come due. Here time stands still (``time_machine``, which the simulator's clock and
``timezone.now()`` both follow) except that each request the simulator answers moves
it ``step`` seconds on: a fetch of N calls lasts about ``N * step`` seconds for both
sides, deterministically.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from connectors.simulator import server

TOKEN_PATHS = {"webex": "/webex/v1/access_token", "zoom": "/zoom/oauth/token"}


@contextmanager
def requests_take_time(monkeypatch: pytest.MonkeyPatch, *, step: float) -> Iterator[Any]:
    """Freeze time; each provider request the simulator answers moves it ``step`` on."""
    answer = server._with_faults
    with time_machine.travel(timezone.now(), tick=False) as traveller:

        def taking_time(state, provider, req):
            traveller.shift(step)
            return answer(state, provider, req)

        monkeypatch.setattr(server, "_with_faults", taking_time)
        try:
            yield traveller
        finally:
            monkeypatch.setattr(server, "_with_faults", answer)


def token_calls(sim: Any, provider: str) -> list:
    """Successful token-endpoint calls (refreshes) in the simulator's log."""
    return [r for r in sim.requests(provider, TOKEN_PATHS[provider]) if r.status == 200]
