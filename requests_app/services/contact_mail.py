"""Emails about Direct Contact tasks: to system contacts, to staff, and the subject's
"deletion done" notice.

Every email is sent after the transaction that decided it commits, so a rollback
never mails anyone. A send that fails does not block anything: the failure (the
error class only) is recorded on the task, and the scheduled tick
(``direct_contact_tick``) sends it again (with the same link while it works).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from portal.audit import audit_record
from portal.models import AuditEvent, User
from portal.roles import Role
from requests_app.models import DirectContactTask, PrivacyRequest, Result
from requests_app.services import notifications

logger = logging.getLogger(__name__)

# Which templates each kind of contact email uses (templates/emails/contact_<kind>.txt/.html).
CONTACT_KINDS = ("request", "reminder")


def contact_link(task: DirectContactTask, token: str) -> str:
    """The absolute URL of the contact page for this task and secret."""
    path = reverse("contact:task", kwargs={"task_id": task.pk})
    # In the query string, which access logs redact; the page redirects to the bare path.
    return f"{settings.PORTAL_BASE_URL}{path}?token={token}"


def _contact_context(task: DirectContactTask, token: str, new_link: bool) -> dict:
    result = task.result
    privacy_request = result.request
    return {
        "task": task,
        "system": result.connection_name,
        "is_deletion": result.workflow == Result.Workflow.DIRECT_CONTACT_DELETION,
        "request_type": privacy_request.get_request_type_display().lower(),
        "subject_email": privacy_request.subject_email,
        "due_at": privacy_request.due_at,
        "link": contact_link(task, token),
        "expires_at": task.token_expires_at,
        "reminder_count": task.reminder_count,
        # False when a reminder repeats the link of the earlier email (still working).
        "link_is_new": new_link,
    }


def contact_mail_send(task_id: int, kind: str, token: str, *, new_link: bool = True) -> bool:
    """Send one contact email now; on failure record it on the task and return False."""
    if kind not in CONTACT_KINDS:
        raise ValueError(f"Unknown contact email kind {kind!r}.")
    task = DirectContactTask.objects.select_related("result__request").get(pk=task_id)
    if not task.contact_email:
        return False
    context = _contact_context(task, token, new_link)
    verb = "Reminder: " if kind == "reminder" else ""
    action = "confirm a deletion" if context["is_deletion"] else "send personal data"
    subject = (
        f"{verb}Please {action} for {context['system']} (due {task.result.request.due_at:%d %b %Y})"
    )
    try:
        message = EmailMultiAlternatives(
            subject=subject,
            body=render_to_string(f"emails/contact_{kind}.txt", context),
            to=[task.contact_email],
        )
        message.attach_alternative(
            render_to_string(f"emails/contact_{kind}.html", context), "text/html"
        )
        message.send()
    except Exception as exc:
        DirectContactTask.objects.filter(pk=task_id).update(
            mail_pending=kind, mail_error=type(exc).__name__, mail_failed_at=timezone.now()
        )
        audit_record(
            action="direct_contact.mail_failed",
            target=task.result,
            details={"kind": kind, "error_class": type(exc).__name__},
        )
        logger.warning(
            "could not email a system contact",
            extra={"task_id": task_id, "error_class": type(exc).__name__},
        )
        return False
    DirectContactTask.objects.filter(pk=task_id).update(
        mail_pending="", mail_error="", mail_failed_at=None
    )
    return True


def contact_mail_on_commit(task_id: int, kind: str, token: str, *, new_link: bool = True) -> None:
    """Send the contact email once the current transaction commits."""
    transaction.on_commit(lambda: contact_mail_send(task_id, kind, token, new_link=new_link))


# --- staff -------------------------------------------------------------------------------


def _staff_recipients(result: Result) -> list[str]:
    """The connection's owners and the request's creator; else every reviewer."""
    emails: set[str] = set()
    if result.connection_id:
        emails.update(
            result.connection.owners.filter(is_active=True).values_list("email", flat=True)
        )
    creator = result.request.created_by
    if creator is not None and creator.is_active:
        emails.add(creator.email)
    if not emails:
        emails.update(
            User.objects.filter(is_active=True, is_staff=True, groups__name=Role.REVIEWER.value)
            .values_list("email", flat=True)
            .distinct()
        )
    return sorted(e for e in emails if e)


def staff_mail_blocked(result_id: int) -> None:
    """Tell staff a task escalated and now blocks its request (best effort)."""
    try:
        result = Result.objects.select_related("request", "connection").get(pk=result_id)
        recipients = _staff_recipients(result)
        if not recipients:
            return
        url = settings.PORTAL_BASE_URL + reverse(
            "requests:detail", kwargs={"pk": result.request_id}
        )
        send_mail(
            subject=f"Request #{result.request_id} is blocked: "
            f"{result.connection_name} did not answer",
            message=render_to_string(
                "emails/contact_blocked_staff.txt", {"result": result, "url": url}
            ),
            from_email=None,
            recipient_list=recipients,
        )
    except Exception as exc:
        logger.error(
            "could not email staff about a blocked request",
            extra={"result_id": result_id, "error_class": type(exc).__name__},
        )


def staff_mail_blocked_on_commit(result_id: int) -> None:
    transaction.on_commit(lambda: staff_mail_blocked(result_id))


# --- the subject's "deletion done" notice -------------------------------------------------


@dataclass(frozen=True)
class SystemOutcome:
    """What happened in one system for a deletion request, as the subject is told."""

    name: str
    deleted: bool
    reason: str = ""


def deletion_outcomes(privacy_request: PrivacyRequest) -> list[SystemOutcome]:
    """Per Direct Contact deletion task: deleted, or not with the reason."""
    outcomes = []
    results = privacy_request.results.filter(
        workflow=Result.Workflow.DIRECT_CONTACT_DELETION
    ).select_related("direct_contact")
    for result in results.order_by("connection_name", "id"):
        task = getattr(result, "direct_contact", None)
        if result.status == Result.Status.SUCCEEDED:
            outcomes.append(SystemOutcome(result.connection_name, True))
        elif task is not None and task.answer == DirectContactTask.Answer.NOT_DELETED:
            outcomes.append(SystemOutcome(result.connection_name, False, task.answer_note))
        elif result.status == Result.Status.SKIPPED:
            outcomes.append(
                SystemOutcome(
                    result.connection_name,
                    False,
                    "The owner of this system did not confirm the deletion in time.",
                )
            )
        else:
            outcomes.append(
                SystemOutcome(result.connection_name, False, "The deletion was not confirmed.")
            )
    return outcomes


def deletion_done_notify(privacy_request: PrivacyRequest, systems: list[SystemOutcome]) -> None:
    """Tell the subject the deletion request is complete, system by system.

    Goes through the subject emails (editable template ``deletion_done``), which
    record, retry and show the message on the request page; never raises.
    """
    outcomes = [{"name": s.name, "deleted": s.deleted, "reason": s.reason} for s in systems]
    notifications.notify_deletion_done(privacy_request, outcomes)
    audit_record(
        action="request.deletion_notice_queued",
        target=privacy_request,
        actor_type=AuditEvent.ActorType.SYSTEM,
        details={"systems": len(systems), "not_deleted": sum(not s.deleted for s in systems)},
    )


def deletion_done_notify_on_commit(request_id: int) -> None:
    """After the closing transaction commits, send the notice with the final outcomes."""

    def send() -> None:
        privacy_request = PrivacyRequest.objects.get(pk=request_id)
        deletion_done_notify(privacy_request, deletion_outcomes(privacy_request))

    transaction.on_commit(send)
