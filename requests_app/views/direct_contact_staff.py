"""Staff actions on Direct Contact tasks, from the card on the request page."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from connectors.models import Connection
from portal import report_storage
from portal.audit import audit_record
from portal.roles import role_required
from requests_app.models import DirectContactFile, PrivacyRequest, Result
from requests_app.services.direct_contact import (
    DC_WORKFLOWS,
    direct_contact_accept,
    direct_contact_contact_change,
    direct_contact_mark_handled,
    direct_contact_remind,
    direct_contact_send,
    direct_contact_task_add,
)


def _task_result(pk: int, result_pk: int) -> Result:
    return get_object_or_404(Result, pk=result_pk, request_id=pk, workflow__in=DC_WORKFLOWS)


def _run(request: HttpRequest, pk: int, action: Callable[[], str]) -> HttpResponse:
    try:
        done = action()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done)
    return redirect(reverse("requests:detail", kwargs={"pk": pk}) + "#direct-contact")


@role_required("review")
@require_POST
def task_add(request: HttpRequest, pk: int) -> HttpResponse:
    privacy_request = get_object_or_404(PrivacyRequest, pk=pk)
    connection = Connection.objects.filter(pk=request.POST.get("connection") or 0).first()
    if connection is None:
        messages.error(request, "Choose a connection.")
        return redirect(reverse("requests:detail", kwargs={"pk": pk}) + "#direct-contact")
    return _run(
        request,
        pk,
        lambda: (
            direct_contact_task_add(
                privacy_request=privacy_request, connection=connection, actor=request.user
            )
            and f"A Direct Contact task for {connection.name} was added."
        ),
    )


@role_required("review")
@require_POST
def task_remind(request: HttpRequest, pk: int, result_pk: int) -> HttpResponse:
    result = _task_result(pk, result_pk)

    def remind() -> str:
        if direct_contact_remind(result=result, actor=request.user):
            return f"The contact for {result.connection_name} was reminded with a new link."
        return "A reminder already went out today; nothing was sent."

    return _run(request, pk, remind)


@role_required("review")
@require_POST
def task_resend(request: HttpRequest, pk: int, result_pk: int) -> HttpResponse:
    result = _task_result(pk, result_pk)
    return _run(
        request,
        pk,
        lambda: (
            direct_contact_send(result=result, actor=request.user)
            and f"Sent to the contact for {result.connection_name}; earlier links no longer work."
        ),
    )


@role_required("review")
@require_POST
def task_handled(request: HttpRequest, pk: int, result_pk: int) -> HttpResponse:
    result = _task_result(pk, result_pk)
    return _run(
        request,
        pk,
        lambda: (
            direct_contact_mark_handled(
                result=result, actor=request.user, note=request.POST.get("note", "")
            )
            and f"{result.connection_name} is marked as handled by staff."
        ),
    )


@role_required("review")
@require_POST
def task_contact(request: HttpRequest, pk: int, result_pk: int) -> HttpResponse:
    result = _task_result(pk, result_pk)
    return _run(
        request,
        pk,
        lambda: (
            direct_contact_contact_change(
                result=result, email=request.POST.get("email", ""), actor=request.user
            )
            and f"The task for {result.connection_name} was sent to the new contact."
        ),
    )


@role_required("review")
@require_POST
def task_accept(request: HttpRequest, pk: int, result_pk: int) -> HttpResponse:
    result = _task_result(pk, result_pk)
    return _run(
        request,
        pk,
        lambda: (
            direct_contact_accept(result=result, actor=request.user)
            and f"The answer for {result.connection_name} was accepted."
        ),
    )


@role_required("review")
@require_GET
def task_file(request: HttpRequest, pk: int, result_pk: int, file_pk: int) -> HttpResponse:
    """A file the contact uploaded, decrypted, for staff to check before accepting."""
    result = _task_result(pk, result_pk)
    upload = DirectContactFile.objects.filter(pk=file_pk, task__result=result).first()
    if upload is None:
        raise Http404("No such file.")
    audit_record(
        action="direct_contact.file_downloaded",
        target=result,
        actor=request.user,
        details={"file_id": upload.pk},
    )
    response = StreamingHttpResponse(
        report_storage.open_decrypted(upload.storage_name), content_type="application/octet-stream"
    )
    response["Content-Disposition"] = f'attachment; filename="contact-file-{upload.pk}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
