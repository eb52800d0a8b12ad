"""Start the demo: web server, django-q2 worker and the Webex/Zoom simulator together."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from connectors.demo import demo_connections_ensure, demo_subjects


def _start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Our own manage.py with fixed arguments: no untrusted input reaches the command line.
    return subprocess.Popen(argv, env=env)  # noqa: S603


class Command(BaseCommand):
    help = "Run the web server, the background worker and the simulator; Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, addr: str, **options):
        call_command("ensure_demo_admin")
        call_command("setup_schedules", verbosity=0)
        env = dict(os.environ)
        procs: list[tuple[str, subprocess.Popen]] = []
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        if settings.SIMULATOR_ENABLED:
            demo_connections_ensure()
            procs.append(
                (
                    "simulator",
                    _start([*manage, "simulator", "--port", str(settings.SIMULATOR_PORT)], env),
                )
            )
        procs.append(("worker", _start([*manage, "qcluster"], env)))
        procs.append(("web", _start([*manage, "runserver", addr, "--noreload"], env)))
        self.stdout.write(self.style.SUCCESS(f"\nPortal: http://{addr}/  (sign-in details above)"))
        if settings.SIMULATOR_ENABLED:
            self.stdout.write(
                f"Simulator: http://127.0.0.1:{settings.SIMULATOR_PORT}/  — open Connections, "
                "pick a simulator connection and press Connect."
            )
            self.stdout.write("Try a new access request for one of these sample people:")
            for subject in demo_subjects():
                self.stdout.write(f"  {subject['email']}: {subject['holds']}")
        self.stdout.write(
            f"Public request form for data subjects: http://{addr}/privacy/  — the emails it "
            "sends (verification links, download codes) print in this terminal."
        )
        self.stdout.write("Press Ctrl-C to stop everything.\n")
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, proc in procs:
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping.")
                        stopping = True
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for _, proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 10
            for _, proc in procs:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.stdout.write("Stopped.")
