"""Template tags for the review pages: readable values, rule badges, role checks, queue counts.

Load with ``{% load review_tags %}``. Values are escaped here (``format_html``), so a
hostile title from a provider shows as text, never as markup.
"""

from __future__ import annotations

import json
from html import escape as _escape  # what django.utils.html.escape calls
from typing import Any

from django import template
from django.template.defaultfilters import urlencode
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from portal.roles import user_can
from requests_app import selectors
from requests_app.services import approval

register = template.Library()

FOLD_AT = 120  # characters: longer texts fold into a <details>
SUMMARY_CHARS = 60
FOLD_ITEMS = 5  # lists and objects with more entries than this fold too
_RULE_CSS = {"credential": "text-bg-danger", "other_people": "text-bg-warning"}


def _escaped(text: str) -> SafeString:
    """``format_html("{}", text)`` without its per-call overhead (a page has ~1,000 cells)."""
    return mark_safe(_escape(text))  # noqa: S308 - escaped here


def _muted(text: str) -> SafeString:
    return format_html('<span class="text-body-secondary fst-italic">{}</span>', text)


def _short(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:SUMMARY_CHARS].rstrip() + "…"


def _fold(summary: str, body: SafeString) -> SafeString:
    return format_html(
        '<details class="value-fold"><summary>{}</summary>{}</details>', summary, body
    )


def _value_html(value: Any, depth: int = 0) -> SafeString:
    if value is None:
        return _muted("empty")
    if value is True:
        return mark_safe("yes")
    if value is False:
        return mark_safe("no")
    if isinstance(value, str):
        if value == "":
            return _muted("empty text")
        if len(value) > FOLD_AT or "\n" in value:
            return _fold(_short(value), format_html('<div class="value-long">{}</div>', value))
        return _escaped(value)
    if isinstance(value, dict):
        if not value:
            return _muted("empty object")
        body = format_html(
            '<dl class="value-object">{}</dl>',
            format_html_join(
                "",
                "<dt>{}</dt><dd>{}</dd>",
                (
                    (str(k), _value_html(v, depth + 1))
                    for k, v in sorted(value.items(), key=lambda kv: str(kv[0]).casefold())
                ),
            ),
        )
        if len(value) > FOLD_ITEMS or depth >= 2:
            n = len(value)
            return _fold(f"Object with {n} field{'s' if n != 1 else ''}", body)
        return body
    if isinstance(value, list | tuple):
        if not value:
            return _muted("empty list")
        body = format_html(
            '<ol class="value-list">{}</ol>',
            format_html_join("", "<li>{}</li>", ((_value_html(v, depth + 1),) for v in value)),
        )
        if len(value) > FOLD_ITEMS or len(json.dumps(value, default=str)) > FOLD_AT:
            n = len(value)
            return _fold(f"List of {n} item{'s' if n != 1 else ''}", body)
        return body
    return _escaped(str(value))


@register.simple_tag
def review_value(value: Any) -> SafeString:
    """One value for a person: text as text, long text folded, objects and lists nested."""
    return _value_html(value)


# One records-table cell. Every ``{}`` is filled with escaped text or with HTML this
# module built (values, originals), so the cell is safe to mark as such.
_CELL = (
    '<td class="review-cell{edited}">\n'
    "            {value}\n"
    "            {original}\n"
    '            <div class="cell-actions">\n'
    '              <a class="small" href="{url}?path={path_q}&amp;next={back}">{label}'
    '<span class="visually-hidden"> {path} of record {record}</span></a>\n'
    "              {revert}\n"
    "            </div>\n"
    "          </td>"
)
_EDITED = (
    '<div class="small mt-1"><span class="badge text-bg-info">Edited</span> '
    '<span class="text-body-secondary">was</span> <span class="cell-original">{}</span></div>'
)
_REVERT = (
    '<button type="submit" form="revert-{}" class="btn btn-link btn-sm p-0 align-baseline">'
    'Revert<span class="visually-hidden"> {} of record {}</span></button>'
)


@register.simple_tag(takes_context=True)
def review_cells(context: template.Context, row: Any, columns: list[Any]) -> SafeString:
    """The value cells of one records-table row: the value after edits, the original
    beside an edited one, and the edit and revert links.

    One tag per row, built with plain string formatting, instead of template nodes per
    cell: a page has 50 rows of up to a few dozen columns, and per-cell rendering (a
    ``{% url %}``, filters and ``format_html`` each) was most of the page's time.
    """
    record = row.record
    editable = bool(context.get("editable"))
    url = _escape(reverse("requests:record_edit", args=[context["privacy_request"].pk, record.pk]))
    back = _escape(urlencode(context.get("here", "")))
    external_id = _escape(str(record.external_id))
    cells = []
    for column in columns:
        path = _escape(column.path)
        edit = row.edits.get(column.path)
        label = ("Change" if edit else "Edit") if editable else "Details"
        cells.append(
            _CELL.format(
                edited=" cell-edited" if edit else "",
                value=_value_html(row.cells.get(column.path)),
                original=_EDITED.format(review_original(edit)) if edit else "",
                url=url,
                path_q=_escape(urlencode(column.path)),
                back=back,
                label=label,
                path=path,
                record=external_id,
                revert=_REVERT.format(edit.pk, path, external_id) if edit and editable else "",
            )
        )
    return mark_safe("\n          ".join(cells))  # noqa: S308 - every part escaped above


@register.simple_tag
def review_original(edit: Any) -> SafeString:
    """The value an edit replaced, or a note that the record had no such field."""
    if getattr(edit, "original_missing", False):
        return _muted("not in the fetched data")
    return _value_html(getattr(edit, "original", None))


@register.inclusion_tag("requests_app/review/_rule_badge.html")
def rule_badge(rule: Any) -> dict[str, Any]:
    """Why a field is withheld by default: a badge with the kind, and the reason in words."""
    if rule is None:
        return {"rule": None}
    kind = getattr(rule, "kind", "")
    return {
        "rule": rule,
        "label": getattr(rule, "kind_label", "") or str(kind).replace("_", " ").capitalize(),
        "css": _RULE_CSS.get(kind, "text-bg-secondary"),
        "reason": getattr(rule, "reason", ""),
    }


@register.filter
def can(user: Any, action: str) -> bool:
    """``user|can:"approve"``: whether the role allows an action (buttons and nav follow it)."""
    return user_can(user, action)


@register.simple_tag
def review_queue_counts() -> dict[str, int]:
    """Requests in review, of them ready to approve, and approved ones (for list headers)."""
    return selectors.review_queue_counts()


@register.filter
def field_summary(fields: Any) -> dict[str, int]:
    """Counts for a type's fields: released, withheld, and flagged by a data rule."""
    fields = list(fields or [])
    released = sum(1 for f in fields if f.selected)
    return {
        "total": len(fields),
        "released": released,
        "withheld": len(fields) - released,
        "flagged": sum(1 for f in fields if f.rule is not None),
    }


@register.simple_tag
def current_report(privacy_request: Any) -> Any:
    """The approved report in force for a request, or None (for the request page)."""
    return approval.report_current(privacy_request)
