"""The JSON API for other systems: bearer-token auth, staff only, JSON errors.

Interface (see docs/architecture.md, 'Data flow'): POST /api/v1/requests, GET /api/v1/requests/{id},
GET /api/v1/requests/{id}/records, GET /api/v1/connections. Tokens expire, may be
read-only and are rate limited; POST takes an ``Idempotency-Key``; every error is a
4xx ``{"error": {"code", "message"}}`` (the README's "JSON API" lists them).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.http import HttpRequest, JsonResponse
from django.utils.crypto import salted_hmac
from django.views.decorators.csrf import csrf_exempt

from connectors.selectors import connection_list, connection_scope_report
from portal.api_tokens import api_token_resolve, api_token_throttle
from portal.roles import user_can
from requests_app.models import PrivacyRequest
from requests_app.selectors import privacy_request_record_counts
from requests_app.services.intake import (
    NAME_MAX_LENGTH,
    IdempotencyKeyReused,
    privacy_request_create,
    privacy_request_create_once,
)

RECORDS_PAGE_SIZE = 100


# The largest id either database stores; a longer number in the path names nothing.
_MAX_PK = 2**63 - 1
_PAGE = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() accepts "²"
_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_FINGERPRINT_SALT = "requests_app.api.idempotency-fingerprint"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def error(status: int, code: str, message: str, **extra: Any) -> JsonResponse:
    """The one error shape: ``{"error": {"code", "message", ...}}``."""
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)


def api_view(methods: tuple[str, ...]) -> Callable:
    """Bearer-token authentication, rate limit, scope, method check and JSON errors.

    In this order: an unusable token (unknown, expired, revoked, owner no longer
    staff) is 401; a token over its budget is 429 with ``Retry-After``; a read-only
    token is 403 on anything but a read; an unsupported method is 405. A body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a JSON 413, not Django's HTML 400.
    """

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> JsonResponse:
            scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
            token = api_token_resolve(raw.strip()) if scheme.lower() == "bearer" else None
            if token is None:
                response = error(401, "unauthenticated", "A valid API token is required.")
                response["WWW-Authenticate"] = 'Bearer realm="api"'
                return response
            if wait := api_token_throttle(token):
                response = error(
                    429, "rate_limited", f"Too many calls with this token; retry in {wait} s."
                )
                response["Retry-After"] = str(wait)
                return response
            if token.read_only and request.method not in _SAFE_METHODS:
                return error(403, "read_only_token", "This token is read-only.")
            if request.method not in methods:
                response = error(405, "method_not_allowed", f"Use {' or '.join(methods)}.")
                response["Allow"] = ", ".join(methods)
                return response
            if any(isinstance(v, int) and v > _MAX_PK for v in kwargs.values()):
                return error(404, "not_found", "No such request.")
            request.user = token.user
            try:
                return view(request, *args, **kwargs)
            except RequestDataTooBig:
                return error(
                    413,
                    "payload_too_large",
                    f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.",
                )

        return wrapper

    return decorator


def _get_request(pk: int) -> PrivacyRequest | None:
    return PrivacyRequest.objects.filter(pk=pk).first()


def serialize_request(privacy_request: PrivacyRequest) -> dict[str, Any]:
    counts = privacy_request_record_counts(privacy_request=privacy_request)
    results = privacy_request.results.all().order_by("id")
    return {
        "id": privacy_request.pk,
        "reference": str(privacy_request.reference),
        "type": privacy_request.request_type,
        "email": privacy_request.subject_email,
        "name": privacy_request.subject_name,
        "regulation": privacy_request.regulation,
        "source": privacy_request.source,
        "status": privacy_request.status,
        "status_reason": privacy_request.status_reason,
        "received_at": privacy_request.received_at.isoformat(),
        "due_at": privacy_request.due_at.isoformat(),
        "extended": privacy_request.is_extended,
        "possible_duplicate_of": privacy_request.possible_duplicate_of_id,
        "results": [
            {
                "connection": r.connection_name,
                "connection_id": r.connection_id,
                "provider": r.provider,
                "workflow": r.workflow,
                "status": r.status,
                "progress": {k: v for k, v in r.progress.items() if k != "api_calls_before"},
                "record_counts": counts.get(r.pk, {}),
                "error": (
                    {"code": r.error_code, "message": r.error_message} if r.error_code else None
                ),
            }
            for r in results
        ],
    }


@api_view(("POST", "GET"))
def requests_collection(request: HttpRequest) -> JsonResponse:
    if request.method == "GET":
        response = error(405, "method_not_allowed", "Listing is not offered; use POST.")
        response["Allow"] = "POST"
        return response
    if not user_can(request.user, "review"):  # creating starts fetches: operator work
        return error(403, "forbidden", "Your role does not allow this (review).")
    body = _json_object(request)
    if isinstance(body, JsonResponse):
        return body
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        return error(
            400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 printable ASCII."
        )
    name = body.get("name")
    fields = {
        "request_type": body.get("type"),
        "email": body.get("email"),
        # Longer names are cut rather than refused, as the API has always done.
        "name": name[:NAME_MAX_LENGTH] if isinstance(name, str) else name,
        "regulation": body.get("regulation"),
        "source": PrivacyRequest.Source.API,
        "created_by": request.user,
    }
    created = True
    try:
        if key is None:
            privacy_request = privacy_request_create(**fields)
        else:
            privacy_request, created = privacy_request_create_once(
                key=f"api:{key}", fingerprint=_fingerprint(body), **fields
            )
    except ValidationError as exc:
        return error(400, "invalid", "Invalid request.", fields=_fields(exc))
    except RecursionError:  # parsed at the edge of the limit, too deep to fingerprint
        return error(400, "invalid_json", "The body is nested too deeply.")
    except IdempotencyKeyReused:
        return error(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was already used with a different body.",
        )
    privacy_request.refresh_from_db()
    response = JsonResponse(serialize_request(privacy_request), status=201 if created else 200)
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


def _fingerprint(body: dict[str, Any]) -> str:
    """The same digest for the same JSON object, whatever its key order or spacing.

    Keyed with SECRET_KEY, so the stored digest cannot be checked against guessed emails.
    """
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return salted_hmac(_FINGERPRINT_SALT, canonical, algorithm="sha256").hexdigest()


def _json_object(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    """The body as a JSON object, or the error answer saying why it is not one."""
    if request.content_type != "application/json":
        return error(415, "unsupported_media_type", "Send a JSON body (application/json).")
    try:
        body = json.loads(request.body)
    except RecursionError:
        return error(400, "invalid_json", "The body is nested too deeply.")
    except ValueError:  # includes undecodable bytes and integers too long to convert
        return error(400, "invalid_json", "The body is not valid JSON.")
    if not isinstance(body, dict):
        return error(400, "invalid_json", "The body must be a JSON object.")
    return body


# The service names its inputs as Python does; the API body says "type".
_API_FIELD_NAMES = {"request_type": "type"}


def _fields(exc: ValidationError) -> dict[str, str]:
    """The service's errors keyed by the body's field names."""
    if not hasattr(exc, "error_dict"):
        return {"__all__": " ".join(exc.messages)}
    return {
        _API_FIELD_NAMES.get(field, field): " ".join(messages)
        for field, messages in exc.message_dict.items()
    }


@api_view(("GET",))
def request_detail(request: HttpRequest, pk: int) -> JsonResponse:
    privacy_request = _get_request(pk)
    if privacy_request is None:
        return error(404, "not_found", "No such request.")
    return JsonResponse(serialize_request(privacy_request))


@api_view(("GET",))
def connections(request: HttpRequest) -> JsonResponse:
    items = []
    for c in connection_list():
        scopes = connection_scope_report(c)
        items.append(
            {
                "id": c.pk,
                "name": c.name,
                "provider": c.provider,
                "status": c.status,
                "access_mode": c.access_mode,
                "granted_scopes": c.granted_scopes,
                "missing_scopes": scopes.missing if c.granted_scopes else [],
                "last_verified_at": c.last_verified_at.isoformat() if c.last_verified_at else None,
                "access_token_expires_at": (
                    c.access_token_expires_at.isoformat() if c.access_token_expires_at else None
                ),
                "last_error": c.last_error,
            }
        )
    return JsonResponse({"connections": items})


@csrf_exempt  # a JSON 404 for every method, not the CSRF failure page
def not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    return error(404, "not_found", "No such endpoint.")
