"""Settings for ``make bench``: the test settings, with the shared stores of production.

One SQLite file every bench process opens (``DATA_DIR/bench.sqlite3``), and the
default cache the product uses outside tests: Redis when ``REDIS_URL`` is set, else
``portal.cache.NonCullingDatabaseCache``, so the rate budget is shared across
processes as in production. DEBUG is off, as in production.
"""

from portal.settings_test import *  # noqa: F403
from portal.settings_test import DATA_DIR, DATABASES, REDIS_URL

# As in production: with DEBUG on, Django keeps and formats every SQL query it runs.
DEBUG = False

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["NAME"] = str(DATA_DIR / "bench.sqlite3")
    DATABASES["default"].pop("TEST", None)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "bench",
        }
    }
else:
    CACHES = {
        "default": {"BACKEND": "portal.cache.NonCullingDatabaseCache", "LOCATION": "portal_cache"}
    }
