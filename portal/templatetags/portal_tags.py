"""Badges and helpers shared by every app's staff pages: colour plus words, never colour alone.

Tags about privacy requests live in ``requests_app/templatetags/request_tags.py``.
"""

from __future__ import annotations

from typing import Any

from django import template

from portal.audit_labels import audit_action_label, audit_change_text

register = template.Library()

# Bootstrap contextual classes per status value (request, result and connection statuses).
_STATUS_CLASSES = {
    # PrivacyRequest.Status
    "awaiting_verification": "text-bg-secondary",
    "processing": "text-bg-info",
    "in_review": "text-bg-primary",
    "approved": "text-bg-success",
    "delivered": "text-bg-success",
    "closed": "text-bg-dark",
    "denied": "text-bg-danger",
    "cancelled": "text-bg-secondary",
    # Result.Status
    "pending": "text-bg-secondary",
    "queued": "text-bg-secondary",
    "running": "text-bg-info",
    "waiting": "text-bg-warning",
    "succeeded": "text-bg-success",
    "no_data": "text-bg-light border",
    "skipped": "text-bg-light border",
    # Shared by several
    "paused": "text-bg-warning",
    "failed": "text-bg-danger",
    # Connection.Status
    "not_connected": "text-bg-secondary",
    "active": "text-bg-success",
    "needs_reauth": "text-bg-warning",
    "error": "text-bg-danger",
    "disconnected": "text-bg-secondary",
}


@register.inclusion_tag("portal/_badge.html")
def status_badge(value: str, label: str) -> dict[str, str]:
    """A status badge: ``{% status_badge obj.status obj.get_status_display %}``."""
    return {"css": _STATUS_CLASSES.get(value, "text-bg-secondary"), "label": label}


@register.simple_tag(takes_context=True)
def nav_current(context: template.Context, prefix: str) -> str:
    """``"page"`` when the current path is in the navigation section ``prefix``, else ``""``."""
    request = context.get("request")
    if request is None:
        return ""
    path = request.path
    active = path == prefix if prefix == "/" else path.startswith(prefix)
    return "page" if active else ""


@register.simple_tag
def form_widget(field: Any) -> str:
    """Render a bound field's widget with Bootstrap classes (and ``is-invalid`` on errors)."""
    widget_type = getattr(field, "widget_type", "")
    if widget_type in ("select", "selectmultiple"):
        css = "form-select"
    elif widget_type in ("radioselect", "checkboxselectmultiple"):
        return field.as_widget()  # a container of inputs: style the inputs, not the box
    elif widget_type == "checkbox":
        css = "form-check-input"
    else:
        css = "form-control"
    if field.errors:
        css += " is-invalid"
    existing = field.field.widget.attrs.get("class", "")
    return field.as_widget(attrs={"class": f"{existing} {css}".strip()})


@register.filter
def audit_label(action: str) -> str:
    """``request.fetch_started`` → ``Fetching started``, from the one table in ``audit_labels``."""
    return audit_action_label(action)


@register.filter
def audit_change(details: dict | None) -> str:
    """``Status: processing → in review`` where an event's details carry from and to."""
    return audit_change_text(details)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    """``mapping|get_item:key`` for dicts keyed by ids (templates cannot index by variable)."""
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.filter
def humanize_type(object_type: str) -> str:
    """``call_log`` → ``Call log``: object types as words."""
    return str(object_type).replace("_", " ").capitalize()
