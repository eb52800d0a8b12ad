"""The page a system contact opens from their email: no account, one task, nothing else.

The link (task id and secret) is the only credential. The secret travels as
``?token=`` (the access log redacts query strings): the first visit checks it, keeps
only the task id and the secret's stored hash in the (server-side) session and
redirects to the token-free ``/contact/<task id>/``, so the secret never reaches a
404/400 log line (``django.request`` logs paths), a referrer or another URL. The
page shows what the
contact needs (the request type, the subject's email, the due date) and takes the
answer: data (files and/or label/value fields) or "no data held" for access,
"deleted" or "could not delete" with a reason for deletion. Answers can be
amended until staff accept them.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from portal.client_ip import client_ip
from portal.headers import no_referrer
from requests_app.models import DirectContactTask
from requests_app.services.direct_contact import (
    LinkInvalid,
    direct_contact_answer_access,
    direct_contact_answer_deletion,
    direct_contact_task_for_hash,
    direct_contact_task_for_link,
)
from requests_app.services.subject_links import throttle_hit

BLANK_FIELD_ROWS = 3
# Room for the form's fields and the multipart framing on top of the files themselves.
BODY_MARGIN_BYTES = 2**20
# Session key: {task id (str): hash of the link's secret} for every link opened here.
SESSION_TASKS = "contact_tasks"


def _invalid(request: HttpRequest) -> HttpResponse:
    # One answer for unknown, replaced, expired and closed links: nothing to probe.
    return render(request, "contact/invalid.html", status=404)


def _field_rows(labels: list[str], values: list[str]) -> list[tuple[str, str]]:
    rows = list(zip(labels, values, strict=False))
    return rows + [("", "")] * BLANK_FIELD_ROWS


def _ints(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


def _opened(request: HttpRequest, task_id: int) -> DirectContactTask:
    """The task this browser opened with a still-current link, else ``LinkInvalid``."""
    opened = request.session.get(SESSION_TASKS)
    digest = opened.get(str(task_id)) if isinstance(opened, dict) else None
    if not isinstance(digest, str):
        raise LinkInvalid("This browser has not opened this task's link.")
    return direct_contact_task_for_hash(task_id, digest)


def _throttled(request: HttpRequest, task_id: int) -> bool:
    """Count one hit per address and per task (settings ``DIRECT_CONTACT_*_RATE_LIMIT``)."""
    if throttle_hit("contact-ip", client_ip(request), settings.DIRECT_CONTACT_IP_RATE_LIMIT):
        return True
    return throttle_hit("contact-task", str(task_id), settings.DIRECT_CONTACT_TASK_RATE_LIMIT)


def body_limit() -> int:
    """The largest request body the page reads: every allowed file at full size, plus room."""
    max_files = settings.DIRECT_CONTACT_UPLOAD_MAX_FILES
    return max_files * settings.DIRECT_CONTACT_UPLOAD_MAX_BYTES + BODY_MARGIN_BYTES


def _too_large(request: HttpRequest) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > body_limit()
    except ValueError:
        return False


@csrf_exempt  # checked by _contact_task, once the body is known to be of a sane size
@no_referrer
@require_http_methods(["GET", "POST"])
def contact_task(request: HttpRequest, task_id: int) -> HttpResponse:
    """Rate limits and the body's size first: nothing here has parsed the body yet."""
    if _throttled(request, task_id):
        return render(request, "contact/too_many.html", status=429)
    if request.method == "POST" and _too_large(request):
        context = {
            "max_files": settings.DIRECT_CONTACT_UPLOAD_MAX_FILES,
            "max_mb": settings.DIRECT_CONTACT_UPLOAD_MAX_BYTES / 2**20,
        }
        return render(request, "contact/too_large.html", context, status=413)
    return _contact_task(request, task_id)


@csrf_protect
def _contact_task(request: HttpRequest, task_id: int) -> HttpResponse:
    token = request.GET.get("token")
    if token is not None:
        try:
            task = direct_contact_task_for_link(task_id, token)
        except LinkInvalid:
            return _invalid(request)
        opened = request.session.get(SESSION_TASKS)
        opened = dict(opened) if isinstance(opened, dict) else {}
        opened[str(task.pk)] = task.token_hash
        request.session[SESSION_TASKS] = opened
        return redirect("contact:task", task_id=task.pk)
    try:
        task = _opened(request, task_id)
    except LinkInvalid:
        return _invalid(request)
    deletion = task.is_deletion
    errors: list[str] = []
    rows = [(f["label"], f["value"]) for f in task.answer_fields] + [("", "")] * BLANK_FIELD_ROWS
    form = {"outcome": task.answer, "reason": task.answer_note, "note": task.answer_note}
    if request.method == "POST":
        form = {
            "outcome": request.POST.get("outcome", ""),
            "reason": request.POST.get("reason", ""),
            "note": request.POST.get("note", ""),
        }
        try:
            if deletion:
                if form["outcome"] not in ("deleted", "not_deleted"):
                    raise ValidationError("Choose “deleted” or “could not delete”.")
                direct_contact_answer_deletion(
                    task, deleted=form["outcome"] == "deleted", reason=form["reason"]
                )
            else:
                labels = request.POST.getlist("label")
                values = request.POST.getlist("value")
                rows = _field_rows(labels, values)
                direct_contact_answer_access(
                    task,
                    fields=list(zip(labels, values, strict=False)),
                    files=request.FILES.getlist("files"),
                    no_data=request.POST.get("no_data") == "1",
                    note=form["note"],
                    remove_file_ids=_ints(request.POST.getlist("remove_file")),
                )
        except LinkInvalid:
            return _invalid(request)
        except ValidationError as exc:
            errors = exc.messages
        else:
            return redirect(f"{request.path}?saved=1")
    context = {
        "task": task,
        "privacy_request": task.result.request,
        "deletion": deletion,
        "files": list(task.files.all()),
        "rows": rows,
        "form": form,
        "errors": errors,
        "saved": request.GET.get("saved") == "1" and not errors,
        "max_mb": settings.DIRECT_CONTACT_UPLOAD_MAX_BYTES / 2**20,
        "max_files": settings.DIRECT_CONTACT_UPLOAD_MAX_FILES,
        "extensions": ", ".join(settings.DIRECT_CONTACT_UPLOAD_EXTENSIONS),
        "accept": ",".join(f".{e}" for e in settings.DIRECT_CONTACT_UPLOAD_EXTENSIONS),
    }
    return render(request, "contact/task.html", context, status=400 if errors else 200)
