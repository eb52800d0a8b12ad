"""Test settings: fast hashing, in-memory email, tasks run synchronously."""

import os
import secrets

from cryptography.fernet import Fernet

# Fresh keys per test run, exported so worker subprocesses started by tests share them.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", Fernet.generate_key().decode())
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

from portal.settings import *  # noqa: F403
from portal.settings import CACHES, DATA_DIR, DATABASES, Q_CLUSTER, REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
PORTAL_REQUIRE_MFA = False
WEBEX_BASE_URL = "http://webex.simulator.invalid/v1"
ZOOM_OAUTH_BASE_URL = "http://zoom.simulator.invalid"
ZOOM_API_BASE_URL = "http://zoom.simulator.invalid/v2"
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": f"test-{os.getpid()}"}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so the end-to-end tests' worker processes share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}
