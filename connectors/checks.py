"""System checks: provider base URLs are plain absolute http(s) URLs (https in
production, http only to the local simulator in development), and the provider
registry matches the model's provider choices."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.checks import Error, Tags, register

from connectors.models import Connection
from connectors.providers import choices

_PROVIDER_URL_SETTINGS = ("WEBEX_BASE_URL", "ZOOM_OAUTH_BASE_URL", "ZOOM_API_BASE_URL")
_URL_SETTINGS = (*_PROVIDER_URL_SETTINGS, "PORTAL_BASE_URL")

_SHAPE = re.compile(r"(?P<scheme>[^:/?#]+)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)(?P<tail>.*)")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PATH = re.compile(r"(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*")


@dataclass(frozen=True)
class BaseUrl:
    scheme: str
    host: str
    port: int | None

    @property
    def is_local(self) -> bool:
        """This machine, or a ``.invalid`` placeholder (never resolves, RFC 6761)."""
        if self.host == "localhost" or self.host.endswith(".invalid"):
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False


class MalformedBaseUrl(ValueError):
    """``str(exc)`` says in plain words what is wrong; ``not_http`` picks the check id."""

    def __init__(self, reason: str, *, not_http: bool = False) -> None:
        super().__init__(reason)
        self.not_http = not_http


def parse_base_url(value: object) -> BaseUrl:
    """Parse a configured base URL strictly, or raise ``MalformedBaseUrl``.

    Stricter than ``urlsplit``: whatever another parser (the HTTP library's) might
    read differently is refused (userinfo, backslashes, percent-escapes in the host,
    whitespace, queries, fragments, odd hosts or ports).
    """
    if not isinstance(value, str) or not value:
        raise MalformedBaseUrl("it is empty", not_http=True)
    if not value.isascii() or any(c.isspace() or not c.isprintable() for c in value):
        raise MalformedBaseUrl("it contains whitespace, control or non-ASCII characters")
    if "\\" in value:
        raise MalformedBaseUrl("it contains a backslash")
    shape = _SHAPE.fullmatch(value)
    if shape is None or shape["scheme"].lower() not in ("http", "https"):
        raise MalformedBaseUrl("it is not an absolute http(s) URL", not_http=True)
    authority = shape["authority"]
    if not authority:
        raise MalformedBaseUrl("it names no host", not_http=True)
    if shape["tail"]:
        raise MalformedBaseUrl("it has a query or a fragment")
    if "@" in authority:
        raise MalformedBaseUrl("it has a user name or password before the host")
    if "%" in authority:
        raise MalformedBaseUrl("its host contains a percent-escape")
    host, port = _host_and_port(authority)
    if not _PATH.fullmatch(shape["path"]):
        raise MalformedBaseUrl("its path contains characters a URL path cannot hold")
    return BaseUrl(scheme=shape["scheme"].lower(), host=host, port=port)


def _host_and_port(authority: str) -> tuple[str, int | None]:
    if authority.startswith("["):
        literal, bracket, rest = authority[1:].partition("]")
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            raise MalformedBaseUrl("its host is not a valid IPv6 address") from None
        if not bracket or (rest and not rest.startswith(":")):
            raise MalformedBaseUrl("its host is not a valid IPv6 address")
        host, port_text = f"[{literal.lower()}]", rest[1:] if rest else None
    else:
        host, colon, port_text = authority.partition(":")
        port_text = port_text if colon else None
        if not _valid_host_name(host):
            raise MalformedBaseUrl("its host is not a valid host name or IP address")
        host = host.lower()
    if port_text is None:
        return host, None
    if not (port_text.isdigit() and len(port_text) <= 5 and 0 < int(port_text) <= 65535):
        raise MalformedBaseUrl("its port is not a number from 1 to 65535")
    return host, int(port_text)


def _valid_host_name(host: str) -> bool:
    if not host or len(host) > 253:
        return False
    labels = host.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    if all(label.isdigit() for label in labels):  # looks like IPv4: must be one
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    return True


@register(Tags.security)
def check_base_urls(app_configs=None, **kwargs):
    errors = []
    for name in _URL_SETTINGS:
        value = getattr(settings, name, "")
        try:
            url = parse_base_url(value)
        except MalformedBaseUrl as exc:
            errors.append(
                Error(
                    f"{name} is not an absolute http(s) URL."
                    if exc.not_http
                    else f"{name} is malformed: {exc}.",
                    hint=f"Got {value!r}.",
                    id="connectors.E001" if exc.not_http else "connectors.E004",
                )
            )
            continue
        if url.scheme == "https":
            continue
        if settings.IS_PRODUCTION:
            errors.append(Error(f"{name} must use https in production.", id="connectors.E002"))
        elif name in _PROVIDER_URL_SETTINGS and not url.is_local:
            # Tokens and client secrets travel to these hosts: in clear text only to
            # the local simulator (or a placeholder host nothing answers for).
            errors.append(
                Error(
                    f"{name} must use https unless it points at this machine (the simulator).",
                    hint=f"Got {value!r}.",
                    id="connectors.E005",
                )
            )
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
