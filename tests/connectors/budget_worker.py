"""A separate process that uses a RateBudget through a cache shared with its siblings.

Run as ``python -m tests.connectors.budget_worker CONFIG_JSON ACTION``. CONFIG_JSON
names the cache (Redis when ``redis_url`` is set, else a database cache in a
SQLite file) and a fixed fake start time, so every process sees the same window.
Actions: ``setup`` (create the cache table), ``take N`` (try N non-blocking
acquisitions after the ``go`` file appears and print how many were granted),
``block SECONDS`` (record a 429 pause) and ``blocked`` (print the seconds left).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path


def configure(config: dict) -> None:
    import django
    from django.conf import settings

    if config.get("redis_url"):
        cache = {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": config["redis_url"],
            "KEY_PREFIX": config["prefix"],
        }
    else:
        cache = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "budget"}
    settings.configure(
        USE_TZ=True,
        INSTALLED_APPS=[],
        CACHES={"default": cache},
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": config["sqlite_path"],
                "OPTIONS": {
                    "timeout": 20,
                    "transaction_mode": "IMMEDIATE",
                    "init_command": "PRAGMA journal_mode=WAL;",
                },
            }
        },
    )
    django.setup()


def main(argv: list[str]) -> None:
    config = json.loads(argv[0])
    action = argv[1]
    configure(config)
    if action == "setup":
        from django.core.management import call_command

        if not config.get("redis_url"):
            call_command("createcachetable", verbosity=0)
        return

    from connectors import clock
    from connectors.ratelimit import BudgetWaitTooLong, RateBudget

    budget = RateBudget(provider="zoom", key=config["key"], limits={"light": (config["limit"], 60)})
    with clock.use(clock.FakeClock(datetime.fromisoformat(config["start"]))):
        if action == "take":
            go = Path(config["go_file"])
            deadline = time.monotonic() + 20
            while not go.exists() and time.monotonic() < deadline:
                time.sleep(0.005)  # wait for the parent's start signal, not for luck
            granted = 0
            for _ in range(int(argv[2])):
                try:
                    budget.acquire("light", max_wait=0)
                    granted += 1
                except BudgetWaitTooLong:
                    pass
            print(granted)
        elif action == "block":
            budget.observe("light", 429, {"Retry-After": argv[2]})
        elif action == "blocked":
            print(budget.blocked_for("light"))


if __name__ == "__main__":
    main(sys.argv[1:])
