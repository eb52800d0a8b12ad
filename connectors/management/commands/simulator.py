"""`manage.py simulator`: run the local Webex + Zoom API simulator until Ctrl-C."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.simulator import Knobs, start_in_thread
from connectors.simulator.seed import DEMO_CLIENTS


def parse_knob(text: str) -> tuple[str, Any]:
    """`name=value`, where value is JSON when it parses (numbers, true, {...}) else a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise CommandError(f"--knob expects name=value, got {text!r}")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


class Command(BaseCommand):
    help = "Serve the local Webex + Zoom API simulator (Ctrl-C to stop)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=getattr(settings, "SIMULATOR_PORT", 9100))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--knob",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="set a simulator knob, e.g. --knob rate_5xx=0.1",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        knobs = Knobs()
        try:
            knobs.update(dict(parse_knob(k) for k in options["knob"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if options["seed"] is not None:
            knobs.seed = options["seed"]
        try:
            handle = start_in_thread(options["port"], options["host"], knobs)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc
        for client in DEMO_CLIENTS:
            self.stdout.write(
                f"simulator client provider={client.provider} "
                f"client_id={client.client_id} client_secret={client.client_secret}"
            )
        self.stdout.flush()
        self.stderr.write(f"Simulator listening on {handle.base_url} (Ctrl-C to stop)")
        try:
            handle.thread.join()
        except KeyboardInterrupt:
            pass
        finally:
            handle.stop()
