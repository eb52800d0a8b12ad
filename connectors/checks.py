"""System checks: provider base URLs are absolute http(s) URLs (https in production),
and the provider registry matches the model's provider choices."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register

from connectors.models import Connection
from connectors.providers import choices

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


@register()
def check_provider_registry(app_configs=None, **kwargs):
    """The provider registry and ``Connection.provider``'s choices must list the same
    providers, or a connection could name a provider the code does not know."""
    registered = sorted(choices())
    on_model = sorted(
        (str(v), str(label)) for v, label in Connection._meta.get_field("provider").choices
    )
    if registered == on_model:
        return []
    return [
        Error(
            "The provider registry and Connection.provider's choices differ.",
            hint=f"Registry: {registered}; model choices: {on_model}.",
            obj="connectors.Connection.provider",
            id="connectors.E003",
        )
    ]
