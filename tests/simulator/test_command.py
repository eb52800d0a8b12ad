"""`manage.py simulator` prints the demo clients and serves until interrupted."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests

from connectors.simulator.seed import DEMO_CLIENTS

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_command_prints_one_line_per_client_and_serves():
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simulator",
            "--port",
            str(port),
            "--knob",
            "webex_rate_per_minute=1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline().strip() for _ in DEMO_CLIENTS]
        assert lines == [
            f"simulator client provider={c.provider} client_id={c.client_id} "
            f"client_secret={c.client_secret}"
            for c in DEMO_CLIENTS
        ]
        response = requests.get(f"http://127.0.0.1:{port}/_sim/knobs", timeout=5)
        assert response.json()["webex_rate_per_minute"] == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0
