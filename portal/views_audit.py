"""The staff audit log: every recorded event, filtered, paginated, exportable as CSV.

Events are shown with the words of ``portal/audit_labels.py``, never raw codes. The
connection filter lists connections by name through the app registry (a dotted
name, as ``portal`` refers to the apps above it); links to requests and connections
are built from URL names.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.apps import apps
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from portal.audit import audit_event_list
from portal.audit_labels import (
    audit_action_choices,
    audit_action_label,
    audit_change_text,
    audit_target_label,
    status_words,
)
from portal.models import AuditEvent, User
from portal.permissions import staff_required

PAGE_SIZE = 50
# Detail keys shown as the change itself (from/to) or as links (request, connection).
_SHOWN_ELSEWHERE = {"from", "to", "request_id", "connection_id"}
# Where a target's page is, by target type: URL name and its keyword.
_TARGET_URLS = {
    "requests_app.privacyrequest": "requests:detail",
    "connectors.connection": "connectors:detail",
}


class AuditFilterForm(forms.Form):
    request = forms.IntegerField(label="Request number", required=False, min_value=1)
    connection = forms.TypedChoiceField(
        label="Connection", required=False, coerce=int, empty_value=None
    )
    person = forms.ModelChoiceField(
        label="Person", required=False, queryset=User.objects.none(), empty_label="Anyone"
    )
    action = forms.ChoiceField(label="What happened", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Anything"), *audit_action_choices()]
        self.fields["connection"].choices = [("", "Any"), *_connection_choices()]
        self.fields["person"].queryset = User.objects.filter(is_staff=True).order_by("email")
        self.fields["person"].label_from_instance = lambda user: user.email

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "request_id": data.get("request"),
            "connection_id": data.get("connection"),
            "actor_id": data["person"].pk if data.get("person") else None,
            "action": data.get("action") or "",
            "since": data.get("since"),
            "until": data.get("until"),
        }


def _connection_choices() -> list[tuple[int, str]]:
    if not apps.is_installed("connectors"):
        return []
    model = apps.get_model("connectors", "Connection")
    return list(model.objects.order_by("name").values_list("pk", "name"))


@dataclass(frozen=True)
class AuditRow:
    """One event as the log shows it."""

    when: datetime
    what: str
    code: str
    about: str
    about_url: str
    who: str
    change: str
    details: str
    reason: str


def audit_row(event: AuditEvent) -> AuditRow:
    details = event.details or {}
    about = f"{audit_target_label(event.target_type)} #{event.target_id}"
    extra = []
    if details.get("request_id") and event.target_type != "requests_app.privacyrequest":
        extra.append(f"request #{details['request_id']}")
    if details.get("connection_id") and event.target_type != "connectors.connection":
        extra.append(f"connection #{details['connection_id']}")
    if extra:
        about += f" ({', '.join(extra)})"
    return AuditRow(
        when=event.created_at,
        what=audit_action_label(event.action),
        code=event.action,
        about=about,
        about_url=_target_url(event),
        who=event.actor.email if event.actor else event.get_actor_type_display(),
        change=audit_change_text(details),
        details="; ".join(
            f"{key.replace('_', ' ')}: {_detail_value(key, value)}"
            for key, value in sorted(details.items())
            if key not in _SHOWN_ELSEWHERE and value not in ("", None, [], {})
        ),
        reason=event.reason,
    )


def _detail_value(key: str, value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "status":
        return status_words(value)
    return str(value)


def _target_url(event: AuditEvent) -> str:
    name = _TARGET_URLS.get(event.target_type)
    if name is None and event.details and event.details.get("request_id"):
        name, target_id = "requests:detail", event.details["request_id"]
    else:
        target_id = event.target_id
    if name is None:
        return ""
    try:
        return reverse(name, kwargs={"pk": target_id})
    except NoReverseMatch:
        return ""


@staff_required
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    events = audit_event_list(**form.filters())
    if request.GET.get("format") == "csv" and (not form.is_bound or form.is_valid()):
        return _csv_response(events)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    csv_query = query.copy()
    csv_query["format"] = "csv"
    return render(
        request,
        "portal/audit_log.html",
        {
            "form": form,
            "page_obj": page,
            "rows": [audit_row(e) for e in page.object_list],
            "filtered": bool(form.is_bound and any(v for v in form.filters().values())),
            "query_string": query.urlencode(),
            "csv_query": csv_query.urlencode(),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


_CSV_HEADER = ["When (UTC)", "What happened", "Action code", "About", "Who", "Change", "Details"]


def _csv_cell(value: str) -> str:
    """Text a spreadsheet shows as text: no formula from a leading = + - @ or control.

    Spreadsheets skip leading spaces before reading a formula, so " =1+1" counts too.
    """
    text = str(value)
    if text[:1] in ("\t", "\r") or text.lstrip()[:1] in ("=", "+", "-", "@"):
        return "'" + text
    return text


def _csv_lines(events: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(_CSV_HEADER)
    for event in events.iterator(chunk_size=500):
        row = audit_row(event)
        when = row.when.astimezone(UTC)
        yield writer.writerow(
            [
                _csv_cell(v)
                for v in (
                    when.strftime("%Y-%m-%d %H:%M:%S"),
                    row.what,
                    row.code,
                    row.about,
                    row.who,
                    row.change,
                    "; ".join(p for p in (row.details, row.reason) if p),
                )
            ]
        )


def _csv_response(events: Any) -> StreamingHttpResponse:
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(_csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
    return response
