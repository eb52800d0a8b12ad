"""Staff pages for privacy requests: list, create, detail and the extension action."""

from __future__ import annotations

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portal.permissions import staff_required
from portal.roles import role_required
from requests_app import presenters, selectors
from requests_app.forms import (
    PrivacyRequestCreateForm,
    PrivacyRequestExtendForm,
    PrivacyRequestFilterForm,
)
from requests_app.models import PrivacyRequest, RequestType
from requests_app.services.due_dates import privacy_request_extend
from requests_app.services.fetching import RETRYABLE_RESULT_STATUSES, fetch_retry, fetch_start
from requests_app.services.intake import privacy_request_create, privacy_request_create_once

PAGE_SIZE = 50
_FORM_TOKEN = re.compile(r"[0-9a-f]{32}")


@staff_required
def request_list(request: HttpRequest) -> HttpResponse:
    form = PrivacyRequestFilterForm(request.GET or None)
    filters = form.filters() if request.GET else {}
    page = Paginator(selectors.privacy_request_list(**filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "requests_app/request_list.html",
        {
            "form": form,
            "page_obj": page,
            "requests": page.object_list,
            "filtered": any(filters.values()),
            "query_string": query.urlencode(),
        },
    )


@role_required("review")
@require_http_methods(["GET", "POST"])
def request_new(request: HttpRequest) -> HttpResponse:
    form = PrivacyRequestCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {
            "request_type": data["request_type"],
            "email": data["email"],
            "name": data["name"],
            "regulation": data["regulation"],
            "source": PrivacyRequest.Source.STAFF,
            "received_at": data["received_at"],
            "created_by": request.user,
        }
        form_token = data.get("form_token", "")
        created = True
        try:
            if _FORM_TOKEN.fullmatch(form_token):
                # Any body: a resubmitted form is the same submission, even if edited.
                privacy_request, created = privacy_request_create_once(
                    key=f"form:{form_token}", fingerprint="staff-form", **fields
                )
            else:  # a client that did not render the form
                privacy_request = privacy_request_create(**fields)
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            if not created:
                messages.info(
                    request,
                    f"This form was already submitted; {privacy_request} is the request it "
                    "created. Nothing new was created.",
                )
                return redirect("requests:detail", pk=privacy_request.pk)
            messages.success(request, f"{privacy_request} created.")
            if privacy_request.possible_duplicate_of_id:
                kind = privacy_request.get_request_type_display().lower()
                messages.warning(
                    request,
                    f"Another open {kind} request for this email address exists "
                    f"(#{privacy_request.possible_duplicate_of_id}); this one is flagged as a "
                    "likely duplicate.",
                )
            return redirect("requests:detail", pk=privacy_request.pk)
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "requests_app/request_form.html", {"form": form}, status=status)


@staff_required
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    privacy_request = _get_or_404(pk)
    return render(
        request,
        "requests_app/request_detail.html",
        _detail_context(privacy_request, extend_form=PrivacyRequestExtendForm()),
    )


@role_required("review")
@require_POST
def request_extend(request: HttpRequest, pk: int) -> HttpResponse:
    privacy_request = _get_or_404(pk)
    form = PrivacyRequestExtendForm(request.POST)
    if form.is_valid():
        try:
            privacy_request_extend(
                privacy_request=privacy_request,
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, "The due date was extended.")
            return redirect("requests:detail", pk=privacy_request.pk)
    return render(
        request,
        "requests_app/request_detail.html",
        _detail_context(privacy_request, extend_form=form),
        status=400,
    )


@staff_required
def request_results(request: HttpRequest, pk: int) -> HttpResponse:
    """The page's live regions (status, actions, results, timeline), polled while
    fetches run; static/js/portal.js swaps each in place by its id."""
    privacy_request = _get_or_404(pk)
    return render(
        request,
        "requests_app/_request_live.html",
        _detail_context(privacy_request, extend_form=PrivacyRequestExtendForm()),
    )


@role_required("review")
@require_POST
def request_fetch(request: HttpRequest, pk: int) -> HttpResponse:
    """Start (or extend to new connections) the API fetch of an access request."""
    privacy_request = _get_or_404(pk)
    if privacy_request.request_type != RequestType.ACCESS:
        messages.error(request, "Only access requests are fetched.")
        return redirect("requests:detail", pk=pk)
    before = set(privacy_request.results.values_list("pk", flat=True))
    try:
        results = fetch_start(privacy_request=privacy_request, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        added = [r for r in results if r.pk not in before]
        if not results:
            messages.warning(request, "There are no connections yet: add one, then fetch.")
        elif added:
            n = len(added)
            messages.success(request, f"Fetching from {n} new connection{'s' if n != 1 else ''}.")
        else:
            messages.info(
                request, "Nothing new to fetch: every connection already has a result here."
            )
    return redirect("requests:detail", pk=pk)


@role_required("review")
@require_POST
def result_retry(request: HttpRequest, pk: int, result_pk: int) -> HttpResponse:
    privacy_request = _get_or_404(pk)
    result = privacy_request.results.filter(pk=result_pk).first()
    if result is None:
        raise Http404("No such result.")
    if result.status not in RETRYABLE_RESULT_STATUSES:
        messages.info(request, "That fetch is not failed, paused or skipped; nothing to retry.")
        return redirect("requests:detail", pk=pk)
    try:
        fetch_retry(result=result, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Retrying {result.connection_name}; it resumes where it stopped."
        )
    return redirect("requests:detail", pk=pk)


def _results_context(privacy_request: PrivacyRequest) -> dict:
    results = list(selectors.privacy_request_results(privacy_request=privacy_request))
    counts = selectors.privacy_request_record_counts(privacy_request=privacy_request)
    return {
        "privacy_request": privacy_request,
        "results": results,
        "rows": presenters.result_rows(results, counts),
        "record_counts": counts,
        "live": selectors.privacy_request_results_live(privacy_request=privacy_request),
        "fetch_action": presenters.fetch_action(
            privacy_request,
            has_results=bool(results),
            new_connections=selectors.privacy_request_new_connections(
                privacy_request=privacy_request
            ),
        ),
    }


def _get_or_404(pk: int) -> PrivacyRequest:
    try:
        return selectors.privacy_request_get(pk=pk)
    except PrivacyRequest.DoesNotExist as exc:
        raise Http404("No such request.") from exc


def _detail_context(privacy_request: PrivacyRequest, *, extend_form) -> dict:
    context = _results_context(privacy_request)
    events = selectors.privacy_request_timeline(privacy_request=privacy_request)
    return {
        **context,
        "duplicates": presenters.duplicate_others(
            privacy_request,
            list(selectors.privacy_request_duplicates(privacy_request=privacy_request)),
        ),
        "events": events,
        "timeline": presenters.timeline_entries(
            events, connection_names={r.pk: r.connection_name for r in context["results"]}
        ),
        "extend_form": extend_form,
    }


def _add_service_errors(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field where it names one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
