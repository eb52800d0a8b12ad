"""Shared helpers for the Direct Contact and retention tests."""

from __future__ import annotations

import re

from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from connectors.models import Connection
from requests_app.models import DirectContactTask
from tests.factories import ConnectionFactory

LINK = re.compile(r"https?://[^\s\"<]+/contact/(\d+)/\?token=([A-Za-z0-9_\-]+)")


def dc_connection(name: str, contact: str, **fields) -> Connection:
    return ConnectionFactory(
        name=name,
        contact_email=contact,
        access_mode=Connection.AccessMode.DIRECT_CONTACT,
        **fields,
    )


def links_to(address: str) -> list[tuple[int, str]]:
    """(task id, token) of every contact link mailed to ``address``, oldest first."""
    found = []
    for message in mail.outbox:
        if address in message.to:
            match = LINK.search(message.body)
            if match:
                found.append((int(match.group(1)), match.group(2)))
    return found


def contact_url(task_id: int, token: str) -> str:
    """The link as mailed (path and query)."""
    return f"/contact/{task_id}/?token={token}"


def contact_open(client, task_id: int, token: str):
    """Open a mailed link in ``client``'s session; the (followed) response."""
    return client.get(contact_url(task_id, token), follow=True)


def contact_path(client, task_id: int, token: str) -> str:
    """Open the link in ``client``'s session and return the token-free page address."""
    opened = client.get(contact_url(task_id, token))
    assert opened.status_code == 302, opened.status_code
    assert token not in opened["Location"]
    return opened["Location"]


def upload(name: str, content: bytes = b"hello", content_type: str = "text/plain"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def task_of(result) -> DirectContactTask:
    return DirectContactTask.objects.get(result=result)
