"""The simulator in a process of its own, for scenarios that time the product's client.

In the bench process the threaded simulator shares the GIL with the product's fetch
threads: every simulated answer (routing, JSON, the request log) then takes CPU from
the client being measured. ``remote_simulator()`` starts ``connectors.simulator`` in a
child process on a free port and gives a handle shaped like ``start_in_thread``'s:
base URLs and a ``state`` that forwards to the ``/_sim/...`` control endpoints
(reset with knobs, mint tokens, the request log, the truth counts).

``python -m tests.bench.sim_process`` is the child: it prints one JSON line with the
base URL and serves until its stdin closes (so it never outlives the bench).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class RemoteState:
    """The parts of ``SimulatorState`` the bench uses, over the control endpoints."""

    def __init__(self, base_url: str) -> None:
        import requests

        self.base_url = base_url
        self.http = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, f"{self.base_url}/_sim{path}", timeout=30, **kwargs)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def reset(self, seed_value: int | None = None, **knobs: Any) -> None:
        self._call("POST", "/reset", json={"seed": seed_value, "knobs": knobs})

    def configure(self, **knobs: Any) -> None:
        self._call("POST", "/knobs", json=knobs)

    @property
    def knobs(self) -> Any:
        from connectors.simulator import Knobs

        return Knobs(**self._call("GET", "/knobs"))

    def mint_token(self, provider: str, **options: Any) -> dict[str, Any]:
        return self._call("POST", "/tokens", json={"provider": provider, **options})

    def requests(self, provider: str | None = None, path_prefix: str = "") -> list[Any]:
        from connectors.simulator.state import LoggedRequest

        params = {"path_prefix": path_prefix, **({"provider": provider} if provider else {})}
        entries = self._call("GET", "/requests", params=params)["requests"]
        return [LoggedRequest(**entry) for entry in entries]

    def expected_zoom_counts(
        self, email: str, account: str = "full", lookback_days: int = 365
    ) -> dict[str, Any]:
        params = {"email": email, "account": account, "lookback_days": lookback_days}
        return self._call("GET", "/truth/zoom-counts", params=params)


class RemoteHandle:
    """Base URLs and a ``RemoteState``, like ``SimulatorHandle``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.webex_base_url = f"{base_url}/webex/v1"
        self.zoom_oauth_base_url = f"{base_url}/zoom"
        self.zoom_api_base_url = f"{base_url}/zoom/v2"
        self.state = RemoteState(base_url)


@contextmanager
def remote_simulator() -> Iterator[RemoteHandle]:
    """A simulator in a child process for the duration of the block."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.sim_process"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise RuntimeError("the simulator process did not start")
        yield RemoteHandle(json.loads(line)["base_url"])
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main() -> None:
    from connectors.simulator import start_in_thread

    handle = start_in_thread(port=0)
    print(json.dumps({"base_url": handle.base_url}), flush=True)
    try:
        sys.stdin.read()  # the parent closes our stdin (or exits): stop
    finally:
        handle.stop()


if __name__ == "__main__":
    main()
