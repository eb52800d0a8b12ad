"""The staff dashboard: deadlines at risk, what waits for review and approval, connections."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from connectors.demo import demo_subjects
from portal.permissions import staff_required
from requests_app import selectors


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "requests_app/dashboard.html",
        {
            **selectors.dashboard_request_summary(),
            "connection_health": selectors.connection_status_counts(),
            "review_queue": selectors.review_queue_counts(),
            # The demo's sample people, so a first try returns data.
            "demo_subjects": demo_subjects() if settings.SIMULATOR_ENABLED else [],
        },
    )
