"""Staff pages for review and release: choose, correct, preview, approve, download.

Views parse input and call one service from ``requests_app.services.review`` or
``.approval``; the services check roles again, validate, write and audit. Every
view checks the role itself too, so a forbidden action is a 403 before any work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.audit import audit_events_for, audit_record
from portal.roles import role_required, user_can
from requests_app import selectors
from requests_app.downloads import report_response
from requests_app.forms import RecordEditForm, ReviewReasonForm
from requests_app.models import PrivacyRequest, Record, RecordEdit, Report, Result
from requests_app.reports import report_style_csp_source, value_at
from requests_app.services import approval, review

RECORDS_PER_PAGE = 50
_TRISTATE = {"on": True, "off": False, "default": None}


# --- helpers ---------------------------------------------------------------------------------


def _get_request(pk: int) -> PrivacyRequest:
    try:
        return selectors.privacy_request_get(pk=pk)
    except PrivacyRequest.DoesNotExist as exc:
        raise Http404("No such request.") from exc


def _get_result(privacy_request: PrivacyRequest, result_pk: int) -> Result:
    result = privacy_request.results.filter(pk=result_pk).first()
    if result is None:
        raise Http404("No such result for this request.")
    return result


def _get_record(privacy_request: PrivacyRequest, record_pk: int) -> Record:
    record = (
        Record.objects.select_related("result")
        .filter(pk=record_pk, result__request=privacy_request)
        .first()
    )
    if record is None:
        raise Http404("No such record for this request.")
    return record


def _tristate(value: str | None) -> bool | None:
    """``on``/``off``/``default`` from a form button; anything else is a bad request."""
    if value not in _TRISTATE:
        raise ValidationError("Choose to include, leave out, or go back to the default.")
    return _TRISTATE[value]


def _safe_next(request: HttpRequest, fallback: str) -> str:
    """The page the form came from (same site only), else ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _next_or(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(_safe_next(request, fallback))


def _error(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def _records_page(result: Result, object_type: str, number: int) -> review.RecordsPage:
    try:
        return review.review_records_page(result, object_type, number, per_page=RECORDS_PER_PAGE)
    except Record.DoesNotExist as exc:
        raise Http404("This connection returned no objects of that type.") from exc


def _roles(request: HttpRequest, privacy_request: PrivacyRequest) -> dict:
    """What the signed-in user may do on this request now (buttons follow it)."""
    can_review = user_can(request.user, "review")
    can_approve = user_can(request.user, "approve")
    in_review = privacy_request.status == PrivacyRequest.Status.IN_REVIEW
    return {
        "can_review": can_review,
        "can_approve": can_approve,
        "can_download": can_review or can_approve,
        "can_reopen": can_review or can_approve,
        "editable": can_review and in_review,
        "in_review": in_review,
        "four_eyes_blocked": bool(
            settings.REVIEW_FOUR_EYES
            and can_approve
            and privacy_request.review_last_editor_id == request.user.pk
        ),
    }


def _group_by_result(types: list) -> list[dict]:
    """Overview rows per connection (Result), object types in order."""
    groups: dict[int, dict] = {}
    for item in types:
        group = groups.setdefault(item.result.pk, {"result": item.result, "types": []})
        group["types"].append(item)
    return list(groups.values())


def _review_context(
    request: HttpRequest,
    privacy_request: PrivacyRequest,
    *,
    deny_form: ReviewReasonForm | None = None,
    reopen_form: ReviewReasonForm | None = None,
) -> dict:
    types = review.review_object_types(privacy_request)
    reports = list(selectors.privacy_request_reports(privacy_request=privacy_request))
    unfinished = [
        r
        for r in privacy_request.results.all()
        if r.workflow == Result.Workflow.API and not r.is_finished
    ]
    return {
        "privacy_request": privacy_request,
        "groups": _group_by_result(types),
        "type_count": len(types),
        "reports": reports,
        "current_report": next((r for r in reports if r.is_current), None),
        "unfinished_results": unfinished,
        "deny_form": deny_form or ReviewReasonForm(prefix="deny"),
        "reopen_form": reopen_form or ReviewReasonForm(prefix="reopen"),
        "events": audit_events_for(privacy_request)[:15],
        **_roles(request, privacy_request),
    }


# --- overview and records ----------------------------------------------------------------------


@role_required("view")
@require_GET
def review_overview(request: HttpRequest, pk: int) -> HttpResponse:
    """Connections, then object types with their fields: what the report will hold."""
    privacy_request = _get_request(pk)
    return render(
        request, "requests_app/review/overview.html", _review_context(request, privacy_request)
    )


@role_required("view")
@require_GET
def review_type(request: HttpRequest, pk: int, result_pk: int, object_type: str) -> HttpResponse:
    """One object type's records, a page at a time, columns = released field paths."""
    privacy_request = _get_request(pk)
    result = _get_result(privacy_request, result_pk)
    page = _records_page(result, object_type, _int(request.GET.get("page")) or 1)
    item = page.type_review
    return render(
        request,
        "requests_app/review/records.html",
        {
            "privacy_request": privacy_request,
            "result": result,
            "item": item,
            "page_obj": page,
            "rows": page.records,
            "columns": [f for f in item.fields if f.selected],
            "hidden_fields": item.hidden_fields,
            # Each record stands for an uploaded file, released or withheld whole with it.
            "attached_files": item.object_type in review.ATTACHED_FILE_TYPES,
            "here": request.get_full_path(),
            **_roles(request, privacy_request),
        },
    )


# --- selection ------------------------------------------------------------------------------


@role_required("review")
@require_POST
def review_type_toggle(
    request: HttpRequest, pk: int, result_pk: int, object_type: str
) -> HttpResponse:
    """Include, leave out, or reset a whole object type of one connection."""
    privacy_request = _get_request(pk)
    result = _get_result(privacy_request, result_pk)
    try:
        included = _tristate(request.POST.get("included"))
        review.object_type_set_included(
            privacy_request, result, object_type, included, actor=request.user
        )
    except ValidationError as exc:
        _error(request, exc)
    else:
        word = {True: "included", False: "left out", None: "back to the default"}[included]
        messages.success(request, f"{_label(object_type)} from {result.connection_name}: {word}.")
    return _next_or(request, reverse("requests:review", args=[pk]))


@role_required("review")
@require_POST
def review_field_toggle(
    request: HttpRequest, pk: int, result_pk: int, object_type: str
) -> HttpResponse:
    """Release, withhold, or reset one field (dotted path) for every record of a type."""
    privacy_request = _get_request(pk)
    result = _get_result(privacy_request, result_pk)
    path = request.POST.get("path", "")
    try:
        selected = _tristate(request.POST.get("selected"))
        review.field_set_selected(
            privacy_request, result, object_type, path, selected, actor=request.user
        )
    except ValidationError as exc:
        _error(request, exc)
    else:
        word = {True: "released", False: "withheld", None: "back to the default"}[selected]
        messages.success(request, f"Field “{path}” of {_label(object_type).lower()}: {word}.")
    return _next_or(request, reverse("requests:review", args=[pk]))


@role_required("review")
@require_POST
def records_include(
    request: HttpRequest, pk: int, result_pk: int, object_type: str
) -> HttpResponse:
    """Save the include checkboxes of one page of records, or reset one record.

    Only records whose checkbox disagrees with their current state change, so a
    default stays a default until someone decides otherwise.
    """
    privacy_request = _get_request(pk)
    result = _get_result(privacy_request, result_pk)
    fallback = reverse("requests:review_type", args=[pk, result.pk, object_type])
    records = {r.pk: r for r in _page_records(request, result, object_type)}
    try:
        if request.POST.get("reset"):
            record = records.get(_int(request.POST["reset"]))
            if record is None:
                raise ValidationError("That record is not on this page.")
            review.record_set_included(privacy_request, record, None, actor=request.user)
            messages.success(request, "The record follows the default again.")
            return _next_or(request, fallback)
        checked = {_int(v) for v in request.POST.getlist("included")}
        page = _records_page(result, object_type, _int(request.POST.get("page")) or 1)
        changed = 0
        for row in page.records:
            if row.record.pk not in records:
                continue
            wanted = row.record.pk in checked
            if wanted != row.included:
                review.record_set_included(privacy_request, row.record, wanted, actor=request.user)
                changed += 1
    except ValidationError as exc:
        _error(request, exc)
    else:
        if changed:
            messages.success(request, f"{changed} record{'s' if changed != 1 else ''} updated.")
        else:
            messages.info(request, "Nothing changed.")
    return _next_or(request, fallback)


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return 0


def _page_records(request: HttpRequest, result: Result, object_type: str) -> list[Record]:
    """The records the form listed (``records`` ids), checked to belong to this type."""
    ids = [_int(v) for v in request.POST.getlist("records")] + [_int(request.POST.get("reset"))]
    return list(result.records.filter(object_type=object_type, pk__in=[i for i in ids if i]))


# --- edits ------------------------------------------------------------------------------------


@role_required("view")
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, pk: int, record_pk: int) -> HttpResponse:
    """Correct one value: the original stays beside it and a reason is required."""
    privacy_request = _get_request(pk)
    record = _get_record(privacy_request, record_pk)
    path = (request.POST.get("path") or request.GET.get("path") or "").strip()
    if path not in review.object_type_paths(record.result, record.object_type):
        raise Http404("These records have no such field.")
    roles = _roles(request, privacy_request)
    if request.method == "POST" and not roles["can_review"]:
        raise _forbidden("review")
    edits = list(record.edits.filter(path=path).select_related("edited_by", "reverted_by"))
    active = next((e for e in edits if e.is_active), None)
    original = active.original if active else value_at(record.data, path)
    original_missing = active.original_missing if active else not _has_path(record.data, path)
    current = active.value if active else original
    back = _safe_next(
        request, reverse("requests:review_type", args=[pk, record.result_id, record.object_type])
    )
    if request.method == "POST":
        form = RecordEditForm(request.POST)
        if form.is_valid():
            try:
                review.record_edit(
                    privacy_request,
                    record,
                    path,
                    form.cleaned_data["parsed_value"],
                    form.cleaned_data["reason"],
                    actor=request.user,
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, f"“{path}” corrected; the original is kept beside it.")
                return _next_or(request, back)
    else:
        form = RecordEditForm(initial=_edit_initial(None if original_missing else current))
    return render(
        request,
        "requests_app/review/record_edit.html",
        {
            "privacy_request": privacy_request,
            "record": record,
            "path": path,
            "form": form,
            "original": original,
            "original_missing": original_missing,
            "active_edit": active,
            "history": edits,
            "back": back,
            **roles,
        },
        status=400 if form.is_bound and form.errors else 200,
    )


@role_required("review")
@require_POST
def record_edit_revert(request: HttpRequest, pk: int, edit_pk: int) -> HttpResponse:
    """Undo a correction: the record shows its fetched value again; the edit stays on file."""
    privacy_request = _get_request(pk)
    edit = (
        RecordEdit.objects.select_related("record")
        .filter(pk=edit_pk, record__result__request=privacy_request)
        .first()
    )
    if edit is None:
        raise Http404("No such edit for this request.")
    try:
        review.record_edit_revert(privacy_request, edit, actor=request.user)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, f"The edit of “{edit.path}” was reverted.")
    record = edit.record
    return _next_or(
        request, reverse("requests:review_type", args=[pk, record.result_id, record.object_type])
    )


def _has_path(data: dict, path: str) -> bool:
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _edit_initial(value: object) -> dict:
    """Strings are edited as text, everything else as JSON."""
    if value is None or isinstance(value, str):
        return {"value": value or "", "value_format": RecordEditForm.FORMAT_TEXT}
    return {
        "value": json.dumps(value, ensure_ascii=False, indent=2),
        "value_format": RecordEditForm.FORMAT_JSON,
    }


def _form_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _forbidden(action: str) -> PermissionDenied:
    return PermissionDenied(f"Your role does not allow this ({action}).")


# --- preview ----------------------------------------------------------------------------------


def _report_csp(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """The report's own policy: nothing but its inline style, framed by this site only.

    The hash source is computed per response (from the report's style sheet), which is
    why this is not a static ``csp`` decorator.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        response = view(*args, **kwargs)
        response._csp_config = {
            "default-src": ["'none'"],
            "style-src": [report_style_csp_source()],
            "img-src": ["data:"],
            "form-action": ["'none'"],
            "base-uri": ["'none'"],
            "frame-ancestors": ["'self'"],
        }
        return response

    return wrapper


@role_required("view")
@require_GET
@xframe_options_sameorigin
@_report_csp
def review_preview(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """report.html exactly as the subject would get it from the current selection, streamed
    (a report of 100,000 records is never held in memory)."""
    privacy_request = _get_request(pk)
    response = StreamingHttpResponse(
        approval.review_preview_stream(privacy_request), content_type="text/html; charset=utf-8"
    )
    add_never_cache_headers(response)
    response["X-Robots-Tag"] = "noindex"
    return response


# --- approve, deny, reopen -----------------------------------------------------------------------


@role_required("approve")
@require_POST
def review_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Freeze the selection and build the encrypted report once."""
    privacy_request = _get_request(pk)
    try:
        report = approval.privacy_request_approve(privacy_request, actor=request.user)
    except approval.FourEyesViolation as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(
            request,
            f"Approved. Report round {report.round} holds {report.record_count:,} "
            f"record{'s' if report.record_count != 1 else ''}.",
        )
    return redirect("requests:review", pk=pk)


def _reason_action(
    request: HttpRequest, privacy_request, *, prefix: str, service, done: str
) -> HttpResponse:
    """Run a decision that needs a reason (deny, reopen) from its form on the overview."""
    form = ReviewReasonForm(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            service(privacy_request, actor=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, done)
            return redirect("requests:review", pk=privacy_request.pk)
    return render(
        request,
        "requests_app/review/overview.html",
        _review_context(request, privacy_request, **{f"{prefix}_form": form}),
        status=400,
    )


@role_required("approve")
@require_POST
def review_deny(request: HttpRequest, pk: int) -> HttpResponse:
    return _reason_action(
        request,
        _get_request(pk),
        prefix="deny",
        service=approval.privacy_request_deny,
        done="The request was denied; the reason is recorded.",
    )


@role_required("view")
@require_POST
def review_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    """Back to review before delivery; the approved report is kept, marked superseded."""
    privacy_request = _get_request(pk)
    if not _roles(request, privacy_request)["can_reopen"]:
        raise _forbidden("reopen")
    return _reason_action(
        request,
        privacy_request,
        prefix="reopen",
        service=approval.privacy_request_reopen_review,
        done="Review reopened. The next approval makes a new report.",
    )


# --- download ---------------------------------------------------------------------------------


@role_required("view")
@require_GET
def report_download(request: HttpRequest, pk: int, report_pk: int) -> HttpResponseBase:
    """Stream the approved zip, decrypted on the fly, with its checksum; audited."""
    privacy_request = _get_request(pk)
    if not _roles(request, privacy_request)["can_download"]:
        raise _forbidden("download")
    report = Report.objects.filter(pk=report_pk, request=privacy_request).first()
    if report is None:
        raise Http404("No such report for this request.")
    if not report.is_current:
        raise Http404("This report was superseded by a later review round.")
    blob = approval.report_open(report)
    audit_record(
        action="report.downloaded",
        target=privacy_request,
        actor=request.user,
        details={"report_id": report.pk, "round": report.round, "sha256": report.sha256},
    )
    filename = f"dsar-report-{privacy_request.reference}-round{report.round}.zip"
    return report_response(report, blob, filename)


def _label(object_type: str) -> str:
    return str(object_type).replace("_", " ").capitalize()
