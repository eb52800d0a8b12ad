"""The request page's Direct Contact card reads its tasks through these tags."""

from __future__ import annotations

from django import template

from connectors.models import Connection
from portal.audit import audit_events_for
from requests_app.models import DirectContactTask, PrivacyRequest
from requests_app.services.direct_contact import direct_contact_tasks

register = template.Library()


@register.simple_tag
def dc_tasks(privacy_request: PrivacyRequest) -> list[DirectContactTask]:
    return direct_contact_tasks(privacy_request)


@register.simple_tag
def dc_history(task: DirectContactTask) -> list:
    """The task's history: the audit trail of its Result, oldest first."""
    return list(reversed(list(audit_events_for(task.result)[:50])))


@register.simple_tag
def dc_addable_connections(privacy_request: PrivacyRequest) -> list[Connection]:
    """Connections without a Direct Contact task on this request."""
    taken = privacy_request.results.filter(direct_contact__isnull=False).values_list(
        "connection_id", flat=True
    )
    return list(Connection.objects.exclude(pk__in=list(taken)).order_by("name"))
