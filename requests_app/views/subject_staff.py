"""Staff actions on the subject side of a request, and the editable subject emails.

Views parse input and call one service (``services.verification``, ``.delivery``,
``.notifications``); the services check roles again, validate, write and audit.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from portal.roles import role_required
from requests_app import selectors
from requests_app.models import EmailTemplate, PrivacyRequest
from requests_app.services import delivery, notifications, verification


def _get_request(pk: int) -> PrivacyRequest:
    try:
        return selectors.privacy_request_get(pk=pk)
    except PrivacyRequest.DoesNotExist as exc:
        raise Http404("No such request.") from exc


def _error(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


@role_required("review")
@require_POST
def request_verify_identity(request: HttpRequest, pk: int) -> HttpResponse:
    """Record that staff verified the subject's identity, and how."""
    privacy_request = _get_request(pk)
    try:
        verification.privacy_request_verify(
            privacy_request, method=request.POST.get("method", ""), actor=request.user
        )
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, "The subject's identity is recorded as verified.")
    return redirect("requests:detail", pk=pk)


@role_required("review")
@require_POST
def request_send_verification(request: HttpRequest, pk: int) -> HttpResponse:
    """Mail the subject a verification link (earlier ones stop working)."""
    privacy_request = _get_request(pk)
    try:
        verification.verification_send(privacy_request, actor=request.user)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, "A verification email is on its way to the subject.")
    return redirect("requests:detail", pk=pk)


@role_required("approve")
@require_POST
def request_reissue_link(request: HttpRequest, pk: int) -> HttpResponse:
    """Mail a fresh download link; the previous one stops working."""
    privacy_request = _get_request(pk)
    try:
        delivery.download_link_reissue(privacy_request, actor=request.user)
    except ValidationError as exc:
        _error(request, exc)
    else:
        messages.success(request, "A new download link was mailed; the old one no longer works.")
    return redirect("requests:detail", pk=pk)


# --- email templates ---------------------------------------------------------------------


@role_required("approve")
def email_template_list(request: HttpRequest) -> HttpResponse:
    edited = {row.key: row for row in EmailTemplate.objects.select_related("updated_by")}
    rows = [
        {"key": key, "spec": spec, "edited": edited.get(key)}
        for key, spec in notifications.EMAILS.items()
    ]
    return render(request, "requests_app/emails/list.html", {"rows": rows})


def _spec_or_404(key: str) -> notifications.EmailSpec:
    if key not in notifications.EMAILS:
        raise Http404("No such email.")
    return notifications.EMAILS[key]


# The preview shows the email's own inline styles inside a sandboxed frame (no scripts).
@role_required("approve")
@require_http_methods(["GET", "POST"])
@csp_update({"style-src": ["'unsafe-inline'"]})
def email_template_edit(request: HttpRequest, key: str) -> HttpResponse:
    """Edit one email: variables listed, a preview with sample values, broken ones refused."""
    spec = _spec_or_404(key)
    parts = notifications.template_source(key)
    errors: dict[str, list[str]] = {}
    preview = None
    status = 200
    if request.method == "POST":
        parts = {part: request.POST.get(part, "") for part in notifications.PARTS}
        try:
            if request.POST.get("action") == "save":
                notifications.template_save(key, parts, actor=request.user)
                messages.success(request, f"“{spec.label}” saved; new emails use it.")
                return redirect("requests:email_template_edit", key=key)
            preview = notifications.email_preview(key, parts)
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
            status = 400
    elif request.GET.get("preview"):
        preview = notifications.email_preview(key, parts)
    return render(
        request,
        "requests_app/emails/edit.html",
        {
            "key": key,
            "spec": spec,
            "parts": parts,
            "errors": errors,
            "preview": preview,
            "edited": EmailTemplate.objects.filter(key=key).select_related("updated_by").first(),
        },
        status=status,
    )


@role_required("approve")
@require_POST
def email_template_reset(request: HttpRequest, key: str) -> HttpResponse:
    """Back to the default from the files under templates/emails."""
    spec = _spec_or_404(key)
    if notifications.template_reset(key, actor=request.user):
        messages.success(request, f"“{spec.label}” is back to the default.")
    else:
        messages.info(request, f"“{spec.label}” already uses the default.")
    return redirect("requests:email_template_edit", key=key)
