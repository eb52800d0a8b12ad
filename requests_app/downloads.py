"""The one way an approved report leaves the portal over HTTP: the staff page, the
JSON API and the subject's download all stream it through ``report_response``."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

from django.http import StreamingHttpResponse
from django.utils.cache import add_never_cache_headers

from requests_app.models import Report


def report_response(report: Report, blob: Iterable[bytes], filename: str) -> StreamingHttpResponse:
    """The decrypted zip as a download, with its size and recorded SHA-256.

    ``X-Checksum-SHA256`` (hex) and ``Digest: sha-256=<base64>`` let the receiver
    check the bytes against the checksum recorded at approval.
    """
    response = StreamingHttpResponse(blob, content_type="application/zip")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", filename)
    response["Content-Disposition"] = f'attachment; filename="{safe}"'
    response["Content-Length"] = str(report.size)
    response["X-Checksum-SHA256"] = report.sha256
    digest = base64.b64encode(bytes.fromhex(report.sha256)).decode("ascii")
    response["Digest"] = f"sha-256={digest}"
    add_never_cache_headers(response)
    return response
