"""The client's address for per-IP rate limits, behind a known number of proxies.

Behind a reverse proxy every request comes from the proxy's address, so one
limit would be shared by everybody. ``TRUSTED_PROXY_COUNT`` says how many proxies
of our own stand in front of the portal: 0 (the default) uses ``REMOTE_ADDR``;
N takes the Nth address from the right of ``X-Forwarded-For`` (each of our
proxies appends the address it saw; anything further left was written by the
client and cannot be trusted). A missing, short or malformed header falls back
to ``REMOTE_ADDR``.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _address(value: str) -> str | None:
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The address every per-IP limit counts (see the module docstring)."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"
    count = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if count <= 0:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
    if len(forwarded) < count:
        return remote
    return _address(forwarded[-count]) or remote
