"""System checks that make misconfiguration loud at start-up."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError


@register(Tags.security)
def check_secrets_decrypt(app_configs=None, **kwargs):
    """Stored secrets and blobs must decrypt with FIELD_ENCRYPTION_KEY (the library would
    hide it). Blobs (reports, Direct Contact files) are checked by their header's key id
    only, so the check stays cheap."""
    from portal.crypto import undecryptable_rows
    from portal.report_storage import blobs_under_unknown_keys

    try:
        problems = undecryptable_rows()
        blobs = blobs_under_unknown_keys()
    except DatabaseError:
        return []  # Tables not migrated yet; nothing stored to check.
    return [
        Error(
            "A stored secret does not decrypt with any configured FIELD_ENCRYPTION_KEY.",
            hint=(
                f"{p}. Restore the key that encrypted it (several keys may be listed, "
                "comma-separated) or reconnect the connection."
            ),
            id="portal.E001",
        )
        for p in problems
    ] + [
        Error(
            "A stored file is encrypted with a key FIELD_ENCRYPTION_KEY no longer holds.",
            hint=(
                f"{b}. Restore the key that encrypted it (several keys may be listed, "
                "comma-separated), then run rotate_encryption_keys."
            ),
            id="portal.E001",
        )
        for b in blobs
    ]


@register(Tags.security, deploy=True)
def check_production_cache(app_configs=None, **kwargs):
    """Throttling and the rate-limit budget need a cache every process shares."""
    backend = settings.CACHES["default"]["BACKEND"]
    if backend.endswith(("DummyCache", "LocMemCache")):
        return [
            Warning(
                "The default cache is not shared between processes.",
                hint="Set REDIS_URL so login throttling and provider rate limits hold.",
                id="portal.W001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_field_key_not_secret_key(app_configs=None, **kwargs):
    if settings.SECRET_KEY in settings.FIELD_ENCRYPTION_KEY:
        return [Error("FIELD_ENCRYPTION_KEY must differ from SECRET_KEY.", id="portal.E002")]
    return []


@register()
def check_api_token_rate_limit(app_configs=None, **kwargs):
    """A malformed API_TOKEN_RATE_LIMIT would fail every API call; say so at start-up."""
    from portal.throttle import parse_rate

    try:
        parse_rate(getattr(settings, "API_TOKEN_RATE_LIMIT", ""))
    except ValueError as exc:
        return [Error(str(exc), id="portal.E003")]
    return []
