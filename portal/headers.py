"""Response headers for pages that a mailed link (carrying a secret) opens."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponseBase


def no_referrer(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Send ``Referrer-Policy: no-referrer`` on every answer of ``view``.

    The site-wide policy (``same-origin``) still names the page's address to our
    own pages; a page that was opened with ``?token=`` must name it to nobody,
    redirects and error pages included.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapped
