"""Provider base URLs must be absolute http(s) URLs; production requires https."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

_URL_SETTINGS = ("WEBEX_BASE_URL", "ZOOM_OAUTH_BASE_URL", "ZOOM_API_BASE_URL", "PORTAL_BASE_URL")


@register(Tags.security)
def check_base_urls(app_configs=None, **kwargs):
    errors = []
    for name in _URL_SETTINGS:
        value = getattr(settings, name, "")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(
                Error(
                    f"{name} is not an absolute http(s) URL.",
                    hint=f"Got {value!r}.",
                    id="connectors.E001",
                )
            )
        elif settings.IS_PRODUCTION and parts.scheme != "https" and not settings.SIMULATOR_ENABLED:
            errors.append(Error(f"{name} must use https in production.", id="connectors.E002"))
    return errors
