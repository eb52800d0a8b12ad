"""The base-URL system check: every provider and portal base URL is a plain absolute
http(s) URL, https in production; http only to the local simulator in development."""

from __future__ import annotations

import pytest

from connectors.checks import check_base_urls

GOOD = {
    "WEBEX_BASE_URL": "https://webexapis.com/v1",
    "ZOOM_OAUTH_BASE_URL": "https://zoom.us",
    "ZOOM_API_BASE_URL": "https://api.zoom.us/v2",
    "PORTAL_BASE_URL": "https://dsar.example.com",
}


@pytest.fixture
def configure(settings):
    def apply(*, production: bool = False, **values):
        for name, value in {**GOOD, **values}.items():
            setattr(settings, name, value)
        settings.IS_PRODUCTION = production
        settings.SIMULATOR_ENABLED = False
        return [(e.id, e.msg) for e in check_base_urls()]

    return apply


def test_the_defaults_pass(configure):
    assert configure() == []
    assert configure(production=True) == []


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:9100/webex/v1",
        "http://localhost:9100/webex/v1",
        "http://[::1]:9100/webex/v1",
        "https://webexapis.com:8443/v1",
        "https://WEBEXAPIS.com/v1/",
    ],
)
def test_well_formed_urls_pass_in_development(configure, value):
    assert configure(WEBEX_BASE_URL=value) == []


@pytest.mark.parametrize(
    "value",
    [
        "https://webexapis.com/v1?x=1",
        "https://webexapis.com/v1?",
        "https://webexapis.com/v1#frag",
        "https://user:pass@webexapis.com/v1",
        "https://evil.example@webexapis.com/v1",
        "https://127.0.0.1:19443\\@webexapis.com/v1",
        "https://webexapis.com\\x/v1",
        "https://webex apis.com/v1",
        "https://webexapis.com/v 1",
        "https://webexapis.com/v1\n",
        "https://webexapis%2Ecom/v1",
        "https://webexapis.com./v1",
        "https://.webexapis.com/v1",
        "https://webexapis..com/v1",
        "https://-webexapis.com/v1",
        "https://webex_apis.com/v1",
        "https://webexapis\u3002com/v1",
        "https://webexapis.com:0/v1",
        "https://webexapis.com:99999/v1",
        "https://webexapis.com:/v1",
        "https://webexapis.com:abc/v1",
        "https://[::1/v1",
        "https://[not-an-ip]/v1",
        "https://" + "a" * 64 + ".example/v1",
        "https:///v1",
        "https:webexapis.com/v1",
        "//webexapis.com/v1",
        "ftp://webexapis.com/v1",
        "javascript://webexapis.com/v1",
        "webexapis.com/v1",
        "",
    ],
)
def test_malformed_urls_are_refused(configure, value):
    errors = configure(WEBEX_BASE_URL=value)

    assert errors, value
    assert all("WEBEX_BASE_URL" in msg for _, msg in errors)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_production_requires_https_everywhere(configure, name):
    errors = configure(production=True, **{name: "http://127.0.0.1:9100/x"})

    assert [i for i, _ in errors] == ["connectors.E002"]


@pytest.mark.parametrize("name", ["WEBEX_BASE_URL", "ZOOM_OAUTH_BASE_URL", "ZOOM_API_BASE_URL"])
def test_provider_urls_over_http_only_reach_the_local_simulator(configure, name):
    assert configure(**{name: "http://127.0.0.1:9100/x"}) == []
    assert configure(**{name: "http://zoom.simulator.invalid/x"}) == []  # never resolves

    errors = configure(**{name: "http://webexapis.com/v1"})

    assert [i for i, _ in errors] == ["connectors.E005"]


def test_the_portal_may_be_served_over_http_in_development(configure):
    assert configure(PORTAL_BASE_URL="http://devbox.lan:8000") == []
