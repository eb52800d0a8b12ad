"""Template tags for the review pages: readable values, rule badges, role checks, queue counts.

Load with ``{% load review_tags %}``. Values are escaped here (``format_html``), so a
hostile title from a provider shows as text, never as markup.
"""

from __future__ import annotations

import json
from typing import Any

from django import template
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
        return format_html("{}", value)
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
    return format_html("{}", str(value))


@register.simple_tag
def review_value(value: Any) -> SafeString:
    """One value for a person: text as text, long text folded, objects and lists nested."""
    return _value_html(value)


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
