"""The system contact's link: the secret stays out of logs, URLs and referrers."""

from __future__ import annotations

import datetime as dt
import logging
from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from requests_app.models import DirectContactFile, RequestType
from requests_app.services.intake import privacy_request_create
from tests.requests_app.dc_helpers import contact_path, contact_url, dc_connection, links_to

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


# --- rate limits and the size of a request body --------------------------------------------


def test_the_contact_page_is_rate_limited_per_ip(client, settings):
    settings.DIRECT_CONTACT_IP_RATE_LIMIT = "3/h"
    settings.DIRECT_CONTACT_TASK_RATE_LIMIT = "0"
    with time_machine.travel(START, tick=False):
        codes = [client.get(f"/contact/{n}/?token=x").status_code for n in range(1, 5)]
        assert codes == [404, 404, 404, 429]
        other = Client(REMOTE_ADDR="10.9.9.9")
        assert other.get("/contact/9/?token=x").status_code == 404
        assert client.get("/contact/9/")["Referrer-Policy"] == "no-referrer"


def test_the_contact_page_is_rate_limited_per_task(settings, django_capture_on_commit_callbacks):
    settings.DIRECT_CONTACT_IP_RATE_LIMIT = "0"
    settings.DIRECT_CONTACT_TASK_RATE_LIMIT = "2/h"
    with time_machine.travel(START, tick=False):
        task_id, token = _task_and_token(django_capture_on_commit_callbacks)
        ips = (f"10.0.0.{n}" for n in range(1, 10))
        assert Client(REMOTE_ADDR=next(ips)).get(contact_url(task_id, token)).status_code == 302
        assert Client(REMOTE_ADDR=next(ips)).get(contact_url(task_id, token)).status_code == 302
        refused = Client(REMOTE_ADDR=next(ips)).get(contact_url(task_id, token))
        assert refused.status_code == 429 and b"Too many attempts" in refused.content
        # Another task is counted on its own.
        assert Client(REMOTE_ADDR=next(ips)).get(f"/contact/{task_id + 1}/").status_code == 404


def test_an_oversized_body_is_refused_before_it_is_read(
    client, settings, monkeypatch, django_capture_on_commit_callbacks, data_dir
):
    from django.http import multipartparser

    from requests_app.views.contact import BODY_MARGIN_BYTES, body_limit

    settings.DIRECT_CONTACT_UPLOAD_MAX_FILES = 2
    settings.DIRECT_CONTACT_UPLOAD_MAX_BYTES = 1000
    assert body_limit() == 2000 + BODY_MARGIN_BYTES
    dc_connection("Files Inc", "owner@corp.example")
    with django_capture_on_commit_callbacks(execute=True):
        privacy_request_create(
            request_type=RequestType.ACCESS,
            email="dana@example.org",
            name="Dana",
            regulation="gdpr",
            source="staff",
        )
    ((task_id, token),) = links_to("owner@corp.example")
    page = contact_path(client, task_id, token)

    def never(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(multipartparser.MultiPartParser, "parse", never)
    big = SimpleUploadedFile("big.csv", b"x" * (body_limit() + 1), content_type="text/csv")
    refused = client.post(page, {"files": [big]})
    assert refused.status_code == 413
    assert b"Nothing was saved" in refused.content and b"at most 2 files" in refused.content
    assert not DirectContactFile.objects.exists()
    assert not (data_dir / "reports" / "contact-files").exists()


def test_the_contact_form_still_needs_its_csrf_token(django_capture_on_commit_callbacks):
    task_id, token = _task_and_token(django_capture_on_commit_callbacks)
    browser = Client(enforce_csrf_checks=True)
    page = contact_path(browser, task_id, token)
    assert browser.post(page, {"outcome": "deleted"}).status_code == 403
    form = browser.get(page)
    csrf = form.context["csrf_token"]
    answered = browser.post(page, {"outcome": "deleted", "csrfmiddlewaretoken": str(csrf)})
    assert answered.status_code == 302
