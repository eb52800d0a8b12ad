"""Per-IP limits count the client's address, also behind our own reverse proxies."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from portal.client_ip import client_ip

pytestmark = pytest.mark.django_db


def _request(remote: str = "10.0.0.1", forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request("10.0.0.1", "203.0.113.7")) == "10.0.0.1"
    assert client_ip(_request("10.0.0.1")) == "10.0.0.1"


def test_behind_proxies_the_nth_address_from_the_right_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client wrote "1.2.3.4" itself; our proxy appended what it saw.
    assert client_ip(_request("10.0.0.1", "1.2.3.4, 203.0.113.7")) == "203.0.113.7"
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(_request("10.0.0.1", "1.2.3.4, 203.0.113.7, 10.0.0.2")) == "203.0.113.7"
    assert client_ip(_request("10.0.0.1", "2001:db8::1 , 10.0.0.2")) == "2001:db8::1"


@pytest.mark.parametrize("forwarded", [None, "", "203.0.113.7", "not-an-ip, 10.0.0.2"])
def test_a_missing_short_or_bad_header_falls_back_to_the_connection(settings, forwarded):
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(_request("10.0.0.1", forwarded)) == "10.0.0.1"


def _hits(client: Client, n: int, **extra) -> list[int]:
    return [client.get("/privacy/status/", **extra).status_code for _ in range(n)]


def test_the_link_pages_limit_per_client_behind_a_proxy(settings):
    settings.SUBJECT_LINK_RATE_LIMIT = "2/h"
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = Client(REMOTE_ADDR="10.0.0.1")  # every request arrives from the proxy
    assert _hits(proxy, 3, HTTP_X_FORWARDED_FOR="203.0.113.7") == [404, 404, 429]
    # Another client behind the same proxy has its own count.
    assert _hits(proxy, 1, HTTP_X_FORWARDED_FOR="203.0.113.8") == [404]


def test_without_proxies_a_forged_header_does_not_reset_the_limit(settings):
    settings.SUBJECT_LINK_RATE_LIMIT = "2/h"
    settings.TRUSTED_PROXY_COUNT = 0
    client = Client(REMOTE_ADDR="10.0.0.1")
    assert _hits(client, 2, HTTP_X_FORWARDED_FOR="203.0.113.7") == [404, 404]
    assert _hits(client, 1, HTTP_X_FORWARDED_FOR="203.0.113.9") == [429]
