"""The system contact's link: the secret stays out of logs, URLs and referrers."""

from __future__ import annotations

import datetime as dt
import logging
from datetime import timedelta

import pytest
import time_machine

from requests_app.models import RequestType
from requests_app.services.intake import privacy_request_create
from tests.requests_app.dc_helpers import contact_url, dc_connection, links_to

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


def _task_and_token(django_capture_on_commit_callbacks, contact="owner@corp.example"):
    dc_connection("Webex HQ", contact)
    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_create(
            request_type=RequestType.DELETION,
            email="dana@example.org",
            name="Dana Kowalski",
            regulation="gdpr",
            source="staff",
        )
    ((task_id, token),) = links_to(contact)
    return task_id, token


def _logged(caplog) -> str:
    """What any logger wrote: every record's message and arguments, formatted."""
    return caplog.text + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)


def test_the_secret_is_in_no_log_record_and_no_other_url(
    client, caplog, django_capture_on_commit_callbacks, settings
):
    caplog.set_level(logging.DEBUG)  # every logger, django.request included
    with time_machine.travel(START, tick=False) as frozen:
        task_id, token = _task_and_token(django_capture_on_commit_callbacks)
        caplog.clear()

        # Valid: the token is checked once, then the page lives at a token-free address.
        opened = client.get(contact_url(task_id, token))
        assert opened.status_code == 302
        assert opened["Location"] == f"/contact/{task_id}/"
        assert opened["Referrer-Policy"] == "no-referrer"
        page = client.get(opened["Location"])
        assert page.status_code == 200
        assert page["Referrer-Policy"] == "no-referrer"
        assert token not in page.content.decode()
        assert token not in str(dict(client.session))
        refused = client.post(opened["Location"], {"outcome": "not_deleted"})
        assert refused.status_code == 400  # logged by django.request as a bad request

        # Bad: a made-up secret, and a valid one for another task.
        bad = client.get(contact_url(task_id, token[:-2] + "xx"))
        assert bad.status_code == 404 and bad["Referrer-Policy"] == "no-referrer"
        assert client.get(contact_url(task_id + 1, token)).status_code == 404

        # Expired.
        frozen.move_to(START + timedelta(days=settings.DIRECT_CONTACT_LINK_DAYS))
        assert client.get(contact_url(task_id, token)).status_code == 404
        assert client.get(f"/contact/{task_id}/").status_code == 404

    text = _logged(caplog)
    assert "Not Found" in text and "Bad Request" in text  # django.request did log
    assert token not in text
    assert token[:-2] not in text


def test_the_bare_address_needs_the_link_first(client, django_capture_on_commit_callbacks):
    task_id, _ = _task_and_token(django_capture_on_commit_callbacks)
    response = client.get(f"/contact/{task_id}/")
    assert response.status_code == 404
    assert response["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/privacy/verify/", "/privacy/status/", "/privacy/download/"])
def test_subject_link_pages_send_no_referrer(client, path):
    assert client.get(f"{path}?token={'a' * 43}")["Referrer-Policy"] == "no-referrer"
    assert client.get(path)["Referrer-Policy"] == "no-referrer"
