"""The JSON API for review and release: records with their selection and edits,
selection changes, approval, denial and the approved report.

Same token auth, rate limit and error envelope as ``requests_app.api``; the role
checks are the services' own (``portal.roles``), so the API and the staff pages
enforce the same rules. Key shape for object types: ``"<result id>:<object type>"``
(a request may have two connections of one provider), as the README documents.
"""

from __future__ import annotations

import copy
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.db import transaction
from django.http import HttpRequest, JsonResponse

from connectors.providers.field_rules import CREDENTIAL, rule_for
from portal.audit import audit_record
from portal.roles import user_can
from requests_app.api import (
    _MAX_PK,
    _PAGE,
    RECORDS_PAGE_SIZE,
    _get_request,
    _json_object,
    api_view,
    error,
    serialize_request,
)
from requests_app.downloads import report_response
from requests_app.models import PrivacyRequest, Record, RecordEdit, Report, Result
from requests_app.reports import flatten_record
from requests_app.services import approval, review
from requests_app.services.approval import FourEyesViolation
from requests_app.services.review import ReviewLocked

CREDENTIAL_MASK = "[credential withheld]"


def _service_error(exc: Exception) -> JsonResponse:
    """Map a service refusal to the API's error envelope."""
    if isinstance(exc, FourEyesViolation):
        return error(403, "four_eyes", str(exc))
    if isinstance(exc, PermissionDenied):
        return error(403, "forbidden", str(exc) or "Your role does not allow this.")
    if isinstance(exc, ReviewLocked):
        return error(409, "not_in_review", " ".join(exc.messages))
    assert isinstance(exc, ValidationError)
    return error(400, "invalid", " ".join(exc.messages))


def _unstorable(value: Any, where: str = "body") -> str | None:
    """Where ``value`` (a parsed JSON body) holds text no database can store, if anywhere.

    PostgreSQL refuses NUL in text and JSON, and neither database stores a lone
    surrogate (not UTF-8); both would otherwise reach ORM filters and writes as a 500.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return f"{where} contains a NUL character."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where} contains an unpaired surrogate (not UTF-8)."
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if problem := _unstorable(key, where) or _unstorable(item, where):
                return problem
    elif isinstance(value, list):
        for item in value:
            if problem := _unstorable(item, where):
                return problem
    return None


def _storable_body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    """The JSON object body, refused with 400 ``invalid_parameter`` if it holds unstorable text."""
    body = _json_object(request)
    if isinstance(body, JsonResponse):
        return body
    if problem := _unstorable(body):
        return error(400, "invalid_parameter", problem)
    return body


def _id(value: Any) -> bool:
    """A positive whole number that fits a database id (a bigger one overflows the driver)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_PK


def _mask_credentials(provider: str, object_type: str, data: Any) -> tuple[Any, list[str]]:
    """The record with credential values replaced, and the masked paths.

    The records API serves integrations; a working meeting-start link or passcode must
    not leave the portal through it by accident (the review pages show them to staff).
    """
    if not isinstance(data, dict):
        return data, []
    masked: list[str] = []
    for path, value in flatten_record(data).items():
        if _is_credential(provider, object_type, path, value):
            masked.append(path)
    if not masked:
        return data, []
    out = copy.deepcopy(data)
    for path in masked:
        node = out
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = CREDENTIAL_MASK
    return out, masked


def _is_credential(provider: str, object_type: str, path: str, *values: Any) -> bool:
    """Whether ``path`` is a credential rule's field for any of ``values`` (honours ``when``)."""
    rule = rule_for(provider, object_type, path)
    if rule is None or rule.kind != CREDENTIAL:
        return False
    return rule.when is None or any(rule.when(v) for v in values)


def _edit_json(edit: RecordEdit, provider: str, object_type: str) -> dict[str, Any]:
    """One edit; the value and original are masked together where the path is a credential
    (an edited start link is as much a credential as the fetched one)."""
    missing = edit.original == RecordEdit.MISSING_ORIGINAL
    original = None if missing else edit.original
    value = edit.value
    if _is_credential(provider, object_type, edit.path, value, original):
        value = CREDENTIAL_MASK
        original = None if missing else CREDENTIAL_MASK
    return {
        "id": edit.pk,
        "path": edit.path,
        "value": value,
        "original": original,
        "original_missing": missing,
        "reason": edit.reason,
        "edited_by": edit.edited_by.email if edit.edited_by else None,
        "edited_at": edit.edited_at.isoformat(),
    }


def record_json(record: Record, result: Result) -> dict[str, Any]:
    data, masked = _mask_credentials(result.provider, record.object_type, record.data)
    edits = [e for e in record.edits.all() if e.reverted_at is None]
    return {
        "id": record.pk,
        "result_id": result.pk,
        "provider": result.provider,
        "connection": result.connection_name,
        "object_type": record.object_type,
        "external_id": record.external_id,
        "fetched_at": record.fetched_at.isoformat(),
        "included": record.included,
        "data": data,
        "masked_credentials": masked,
        "edits": [
            _edit_json(e, result.provider, record.object_type)
            for e in sorted(edits, key=lambda e: e.pk)
        ],
    }


@api_view(("GET",))
def request_records(request: HttpRequest, pk: int) -> JsonResponse:
    """The fetched records as stored, with their review state; credentials masked."""
    privacy_request = _get_request(pk)
    if privacy_request is None:
        return error(404, "not_found", "No such request.")
    records = (
        Record.objects.filter(result__request=privacy_request)
        .select_related("result")
        .prefetch_related("edits__edited_by")
    )
    filters = {"provider": "result__provider", "object_type": "object_type"}
    for param, lookup in filters.items():
        if value := request.GET.get(param):
            if "\x00" in value:  # PostgreSQL cannot compare with a NUL character
                return error(400, "invalid_parameter", f"{param} contains a NUL character.")
            records = records.filter(**{lookup: value})
    page_param = request.GET.get("page", "1")
    if not _PAGE.fullmatch(page_param) or int(page_param) < 1:
        return error(400, "invalid_page", "page must be a positive whole number (ASCII digits).")
    paginator = Paginator(records.order_by("result_id", "object_type", "id"), RECORDS_PAGE_SIZE)
    try:
        page = paginator.page(int(page_param))
    except EmptyPage:
        return error(404, "page_out_of_range", f"There are {paginator.num_pages} pages.")
    return JsonResponse(
        {
            "request": privacy_request.pk,
            "page": page.number,
            "pages": paginator.num_pages,
            "count": paginator.count,
            "records": [record_json(r, r.result) for r in page.object_list],
        }
    )


@api_view(("PATCH",))
def record_update(request: HttpRequest, pk: int, record_pk: int) -> JsonResponse:
    """``{"included": true|false|null}``, ``{"edits": [{"path", "value", "reason"}]}``
    and/or ``{"revert": [edit id, ...]}``; all or nothing."""
    privacy_request = _get_request(pk)
    if privacy_request is None:
        return error(404, "not_found", "No such request.")
    record = Record.objects.filter(pk=record_pk, result__request=privacy_request).first()
    if record is None:
        return error(404, "not_found", "No such record in this request.")
    body = _storable_body(request)
    if isinstance(body, JsonResponse):
        return body
    unknown = set(body) - {"included", "edits", "revert"}
    if unknown or not body:
        return error(400, "invalid", "Send included, edits and/or revert (and nothing else).")
    edits = body.get("edits", [])
    reverts = body.get("revert", [])
    if not isinstance(edits, list) or not all(
        isinstance(e, dict) and set(e) <= {"path", "value", "reason"} and "path" in e for e in edits
    ):
        return error(400, "invalid", "edits must be a list of {path, value, reason} objects.")
    if not isinstance(reverts, list) or not all(_id(i) for i in reverts):
        return error(400, "invalid", "revert must be a list of edit ids.")
    try:
        with transaction.atomic():
            if "included" in body:
                review.record_set_included(
                    privacy_request, record, body["included"], actor=request.user
                )
            for edit_id in reverts:
                edit = RecordEdit.objects.filter(pk=edit_id, record=record).first()
                if edit is None:
                    raise ValidationError(f"Record {record.pk} has no edit {edit_id}.")
                review.record_edit_revert(privacy_request, edit, actor=request.user)
            for item in edits:
                review.record_edit(
                    privacy_request,
                    record,
                    item["path"],
                    item.get("value"),
                    item.get("reason", ""),
                    actor=request.user,
                )
    except (PermissionDenied, ValidationError) as exc:
        return _service_error(exc)
    record = (
        Record.objects.select_related("result")
        .prefetch_related("edits__edited_by")
        .get(pk=record.pk)
    )
    return JsonResponse(record_json(record, record.result))


def _type_key(privacy_request: PrivacyRequest, key: Any) -> tuple[Result, str]:
    """``"<result id>:<object type>"`` -> the request's Result and the type."""
    head, sep, object_type = str(key).partition(":")
    if not sep or not _PAGE.fullmatch(head) or not object_type or not _id(int(head)):
        raise ValidationError(f"{key!r} is not '<result id>:<object type>'.")
    result = privacy_request.results.filter(pk=int(head)).first()
    if result is None:
        raise ValidationError(f"Result {head} is not part of this request.")
    return result, object_type


def selection_json(privacy_request: PrivacyRequest) -> dict[str, Any]:
    types = review.review_object_types(privacy_request)
    return {
        "object_types": {
            f"{t.result.pk}:{t.object_type}": {
                "provider": t.result.provider,
                "connection": t.result.connection_name,
                "label": t.label,
                "records": t.record_count,
                "included": t.included,
                "is_default": t.is_default,
                "fields": {
                    f.path: {
                        "selected": f.selected,
                        "is_default": f.is_default,
                        "rule": (
                            {"kind": f.rule.kind, "reason": f.rule.reason} if f.rule else None
                        ),
                    }
                    for f in t.fields
                },
            }
            for t in types
        }
    }


@api_view(("GET", "PATCH"))
def request_selection(request: HttpRequest, pk: int) -> JsonResponse:
    """GET the selection; PATCH ``{"object_types": {key: bool|null}, "fields": {key:
    {path: bool|null}}}`` (null returns to the default); all or nothing."""
    privacy_request = _get_request(pk)
    if privacy_request is None:
        return error(404, "not_found", "No such request.")
    if request.method == "PATCH":
        body = _storable_body(request)
        if isinstance(body, JsonResponse):
            return body
        types = body.get("object_types", {})
        fields = body.get("fields", {})
        if set(body) - {"object_types", "fields"} or not body:
            return error(400, "invalid", "Send object_types and/or fields (and nothing else).")
        if not isinstance(types, dict) or not isinstance(fields, dict):
            return error(400, "invalid", "object_types and fields must be objects.")
        try:
            with transaction.atomic():
                for key, included in types.items():
                    result, object_type = _type_key(privacy_request, key)
                    review.object_type_set_included(
                        privacy_request, result, object_type, included, actor=request.user
                    )
                for key, paths in fields.items():
                    result, object_type = _type_key(privacy_request, key)
                    if not isinstance(paths, dict):
                        raise ValidationError(f"fields[{key!r}] must map paths to true/false/null.")
                    for path, selected in paths.items():
                        review.field_set_selected(
                            privacy_request, result, object_type, path, selected, actor=request.user
                        )
        except (PermissionDenied, ValidationError) as exc:
            return _service_error(exc)
    return JsonResponse(selection_json(privacy_request))


def report_json(report: Report) -> dict[str, Any]:
    return {
        "id": report.pk,
        "round": report.round,
        "sha256": report.sha256,
        "size": report.size,
        "record_count": report.record_count,
        "generated_at": report.generated_at.isoformat(),
        "approved_at": report.approved_at.isoformat() if report.approved_at else None,
    }


@api_view(("POST",))
def request_approve(request: HttpRequest, pk: int) -> JsonResponse:
    """Freeze the review and build the report; answers the request and its report."""
    privacy_request = _get_request(pk)
    if privacy_request is None:
        return error(404, "not_found", "No such request.")
    try:
        report = approval.privacy_request_approve(privacy_request, actor=request.user)
    except (PermissionDenied, ValidationError) as exc:
        return _service_error(exc)
    privacy_request.refresh_from_db()
    return JsonResponse({**serialize_request(privacy_request), "report": report_json(report)})


@api_view(("POST",))
def request_deny(request: HttpRequest, pk: int) -> JsonResponse:
    """Deny with ``{"reason"}``."""
    privacy_request = _get_request(pk)
    if privacy_request is None:
        return error(404, "not_found", "No such request.")
    body = _storable_body(request)
    if isinstance(body, JsonResponse):
        return body
    reason = body.get("reason")
    if not isinstance(reason, str):
        return error(400, "invalid", "reason is required (a string).")
    try:
        approval.privacy_request_deny(privacy_request, actor=request.user, reason=reason)
    except (PermissionDenied, ValidationError) as exc:
        return _service_error(exc)
    privacy_request.refresh_from_db()
    return JsonResponse(serialize_request(privacy_request))


@api_view(("GET",))
def request_report(request: HttpRequest, pk: int):
    """Stream the current approved report (decrypted) with its checksum; audited.

    Needs the review or approve role, as the staff download does: a Viewer or a staff
    member without a role reads the review, not the subject's whole report.
    """
    if not (user_can(request.user, "review") or user_can(request.user, "approve")):
        return error(403, "forbidden", "Your role does not allow this (download).")
    privacy_request = _get_request(pk)
    if privacy_request is None:
        return error(404, "not_found", "No such request.")
    report = approval.report_current(privacy_request)
    if report is None:
        return error(404, "no_report", "This request has no approved report.")
    blob = approval.report_open(report)
    audit_record(
        action="report.downloaded",
        target=privacy_request,
        actor=request.user,
        details={"report_id": report.pk, "round": report.round, "sha256": report.sha256},
    )
    filename = f"dsar-report-{privacy_request.reference}-round{report.round}.zip"
    return report_response(report, blob, filename)
