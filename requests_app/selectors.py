"""Reads for the staff pages and the API: querysets and counts, no side effects."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from connectors.emails import email_normalize
from connectors.models import Connection
from portal.models import AuditEvent
from requests_app.models import PrivacyRequest, Record, Report, Result
from requests_app.services.due_dates import due_soon_cutoff

DUE_OVERDUE = "overdue"
DUE_SOON = "due_soon"


def privacy_request_list(
    *,
    status: str = "",
    request_type: str = "",
    regulation: str = "",
    due: str = "",
    email: str = "",
    now: datetime | None = None,
) -> QuerySet[PrivacyRequest]:
    """Requests matching the list filters, soonest deadline first.

    ``due`` is ``overdue`` (open and past due) or ``due_soon`` (open, not yet
    overdue, due within ``DUE_SOON_DAYS``); ``email`` matches part of the address.
    """
    now = now or timezone.now()
    qs = PrivacyRequest.objects.all()
    if status:
        qs = qs.filter(status=status)
    if request_type:
        qs = qs.filter(request_type=request_type)
    if regulation:
        qs = qs.filter(regulation=regulation)
    if due == DUE_OVERDUE:
        qs = privacy_request_open(qs).filter(due_at__lt=now)
    elif due == DUE_SOON:
        qs = privacy_request_open(qs).filter(due_at__gte=now, due_at__lte=due_soon_cutoff(now=now))
    if email:
        qs = qs.filter(subject_email__icontains=email_normalize(email))
    return qs.order_by("due_at", "id")


def privacy_request_open(qs: QuerySet[PrivacyRequest] | None = None) -> QuerySet[PrivacyRequest]:
    qs = PrivacyRequest.objects.all() if qs is None else qs
    return qs.filter(status__in=PrivacyRequest.OPEN_STATUSES)


def privacy_request_get(*, pk: int) -> PrivacyRequest:
    """One request with what its detail page needs; raises DoesNotExist."""
    return PrivacyRequest.objects.select_related("possible_duplicate_of", "created_by").get(pk=pk)


def privacy_request_results(*, privacy_request: PrivacyRequest) -> QuerySet[Result]:
    return privacy_request.results.select_related("connection").annotate(
        record_count=Count("records")
    )


def privacy_request_record_counts(*, privacy_request: PrivacyRequest) -> dict[int, dict[str, int]]:
    """Records per object type for each Result of the request: {result id: {type: n}}."""
    counts: dict[int, dict[str, int]] = {}
    rows = (
        Record.objects.filter(result__request=privacy_request)
        .values("result_id", "object_type")
        .annotate(n=Count("id"))
        .order_by("result_id", "object_type")
    )
    for row in rows:
        counts.setdefault(row["result_id"], {})[row["object_type"]] = row["n"]
    return counts


def privacy_request_results_live(*, privacy_request: PrivacyRequest) -> bool:
    """True while any Result may still change on its own (the page keeps refreshing)."""
    return privacy_request.results.exclude(
        status__in=[*Result.FINISHED_STATUSES, Result.Status.PAUSED]
    ).exists()


def privacy_request_duplicates(*, privacy_request: PrivacyRequest) -> QuerySet[PrivacyRequest]:
    """Other open requests of the same type for the same subject email."""
    return (
        privacy_request_open()
        .filter(
            subject_email=privacy_request.subject_email,
            request_type=privacy_request.request_type,
        )
        .exclude(pk=privacy_request.pk)
        .order_by("received_at", "id")
    )


def privacy_request_new_connections(*, privacy_request: PrivacyRequest) -> int:
    """API connections that have no Result for this request yet (what a fetch would add)."""
    return (
        Connection.objects.filter(access_mode=Connection.AccessMode.API)
        .exclude(results__request=privacy_request)
        .count()
    )


def privacy_request_timeline(*, privacy_request: PrivacyRequest, limit: int = 200) -> list:
    """Audit events of the request and of its fetches, newest first."""
    result_ids = [str(pk) for pk in privacy_request.results.values_list("pk", flat=True)]
    return list(
        AuditEvent.objects.filter(
            Q(target_type=PrivacyRequest._meta.label_lower, target_id=str(privacy_request.pk))
            | Q(target_type=Result._meta.label_lower, target_id__in=result_ids)
        )
        .select_related("actor")
        .order_by("-created_at", "-id")[:limit]
    )


def dashboard_request_summary(*, now: datetime | None = None, limit: int = 10) -> dict:
    """What the dashboard shows: overdue, due soon and in-review requests, with counts."""
    now = now or timezone.now()
    overdue = privacy_request_list(due=DUE_OVERDUE, now=now)
    due_soon = privacy_request_list(due=DUE_SOON, now=now)
    in_review = privacy_request_list(status=PrivacyRequest.Status.IN_REVIEW, now=now)
    return {
        "open_count": privacy_request_open().count(),
        "overdue": list(overdue[:limit]),
        "overdue_count": overdue.count(),
        "due_soon": list(due_soon[:limit]),
        "due_soon_count": due_soon.count(),
        "in_review": list(in_review[:limit]),
        "in_review_count": in_review.count(),
    }


def review_queue_counts() -> dict[str, int]:
    """What waits on review staff: requests in review, of them those ready to approve
    (every API fetch finished), and approved requests not yet delivered."""
    in_review = PrivacyRequest.objects.filter(status=PrivacyRequest.Status.IN_REVIEW)
    unfinished = Result.objects.filter(
        request_id=OuterRef("pk"), workflow=Result.Workflow.API
    ).exclude(status__in=Result.FINISHED_STATUSES)
    return {
        "in_review": in_review.count(),
        "ready_to_approve": in_review.exclude(Exists(unfinished)).count(),
        "approved": PrivacyRequest.objects.filter(status=PrivacyRequest.Status.APPROVED).count(),
    }


def privacy_request_reports(*, privacy_request: PrivacyRequest) -> QuerySet[Report]:
    """Every report of the request, newest round first (superseded ones included)."""
    return privacy_request.reports.select_related("approved_by").order_by("-round")


def connection_status_counts() -> list[dict]:
    """Connections per status, every status listed (zero included), for the health panel."""
    counts = dict(
        Connection.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return [
        {"status": value, "label": label, "count": counts.get(value, 0)}
        for value, label in Connection.Status.choices
    ]
