"""Zoom's token response names the API host (``api_url``) every later call, with the
bearer token, goes to. The check must judge the URL the way ``requests`` will connect.
"""

from __future__ import annotations

import pytest
import requests
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from urllib3.util import parse_url

from connectors.providers.zoom import ZoomProvider, zoom_api_url

CONFIGURED = "http://127.0.0.1:19100/zoom/v2"


@pytest.fixture(autouse=True)
def _configured(settings):
    settings.ZOOM_API_BASE_URL = CONFIGURED


def token_payload(api_url):
    return {"access_token": "at", "refresh_token": "rt", "expires_in": 3599, "api_url": api_url}


def connects_to(url: str) -> tuple[str, int]:
    """(host, port) that requests would open a connection to for ``url``."""
    prepared = requests.Request("GET", url).prepare().url
    parsed = parse_url(prepared)
    port = parsed.port or {"https": 443, "http": 80}[parsed.scheme]
    return (parsed.host or "").lower(), port


def allowed(host: str, port: int) -> bool:
    if (host, port) == ("127.0.0.1", 19100):  # the configured base
        return True
    if port != 443:
        return False
    return host == "api.zoom.us" or (
        host.endswith("api.zoom.us")
        and len(host) == len("eu01api.zoom.us")
        and host[:2].isalpha()
        and host[2:4].isdigit()
        and host.isascii()
    )


@pytest.mark.parametrize(
    "value",
    [
        "https://127.0.0.1:19443\\@api.zoom.us",
        "https://attacker.example\\x.zoom.us",
        "https://attacker.example\\.zoom.us",
        "https://user@api.zoom.us",
        "https://attacker.example@api.zoom.us",
        "https://api.zoom.us@attacker.example",
        "https://attacker.example%40api.zoom.us",
        "https://api.zoom.us%2Eattacker.example",
        "https://api.zoom.us.",
        "https://api.zoom.us:8443",
        "http://api.zoom.us",
        "https://api\u3002zoom.us",
        "https://evil.zoom.us",
        "https://zoom.us",
        "https://api.zoom.us.attacker.example",
        "https://api.zoom.us?x=1",
        "https://api.zoom.us#frag",
        "https://api.zoom.us /x",
        "https://api.zoom.us\t",
        "https://api.zoom.us\n",
        "https://[::1]",
        "https://127.0.0.1:19100",  # configured host, other scheme
        "http://127.0.0.1:19101/zoom",  # configured host, other port
        "ftp://api.zoom.us",
        "",
        None,
        42,
    ],
)
def test_a_dangerous_api_url_is_refused_and_the_configured_base_kept(value, caplog):
    tokens = ZoomProvider().parse_token_response(token_payload(value), requested=())

    assert tokens.api_base_url == ""
    assert ZoomProvider().api_base_url(tokens.api_base_url) == CONFIGURED


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("https://api.zoom.us", "https://api.zoom.us"),
        ("https://eu01api.zoom.us/", "https://eu01api.zoom.us"),
        ("https://SG01API.Zoom.US", "https://sg01api.zoom.us"),
        ("https://api.zoom.us:443", "https://api.zoom.us"),
        ("http://127.0.0.1:19100/zoom", "http://127.0.0.1:19100/zoom"),
    ],
)
def test_zoom_hosts_and_the_configured_host_are_accepted(value, stored):
    tokens = ZoomProvider().parse_token_response(token_payload(value), requested=())

    assert tokens.api_base_url == stored
    assert ZoomProvider().api_base_url(stored) == f"{stored}/v2"


def test_a_refused_api_url_is_logged(caplog):
    ZoomProvider().parse_token_response(
        token_payload("https://127.0.0.1:19443\\@api.zoom.us"), requested=()
    )

    assert "api_url" in caplog.text


def test_a_stored_base_that_would_now_be_refused_is_not_used():
    """Rows saved under the old, bypassable check must not keep sending the token away."""
    provider = ZoomProvider()

    assert provider.api_base_url("https://127.0.0.1:19443\\@api.zoom.us") == CONFIGURED
    assert provider.api_base_url("https://attacker.example") == CONFIGURED


# --- Property: accepted means requests connects to an allowed host ----------------------------

_HOSTS = [
    "api.zoom.us",
    "eu01api.zoom.us",
    "API.ZOOM.US",
    "zoom.us",
    "x.zoom.us",
    "api.zoom.us.",
    "attacker.example",
    "127.0.0.1",
    "127.0.0.1:19100",
    "127.0.0.1:19443",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "api\u3002zoom.us",
    "api\uff0ezoom.us",
    "api\uff61zoom.us",
    "xn--api-zoom-us",
]
_SEPARATORS = ["", "\\", "@", "%40", ":", ":443", ":8443", ":19100", "/", "?", "#", ".", "%2e"]
_SEPARATORS += [" ", "\t", "\x00", "\\x", ";", "[", "]", "%", "\u200b", "\uff20"]


@st.composite
def hostile_urls(draw) -> str:
    scheme = draw(st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "https:/", ""]))
    pieces = draw(
        st.lists(
            st.one_of(st.sampled_from(_HOSTS), st.sampled_from(_SEPARATORS)),
            min_size=1,
            max_size=6,
        )
    )
    tail = draw(st.sampled_from(["", "/", "/zoom", "/v2/", "/..", "?a=b"]))
    return scheme + "".join(pieces) + tail


@hsettings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(hostile_urls(), st.text(max_size=60).map(lambda t: f"https://{t}")))
@example("https://127.0.0.1:19443\\@api.zoom.us")
@example("https://attacker.example\\x.zoom.us")
@example("https://attacker.example%40api.zoom.us")
@example("https://[::1]:19100@api.zoom.us")
@example("https://api.zoom.us\uff0e")
def test_whenever_the_check_accepts_requests_connects_to_an_allowed_host(value):
    accepted = zoom_api_url(value)
    if not accepted:
        return
    # Both the original value and the stored canonical form connect to an allowed host.
    for url in (value, accepted, ZoomProvider().api_base_url(accepted) + "/users/me"):
        host, port = connects_to(url)
        assert allowed(host, port), (value, url, host, port)
