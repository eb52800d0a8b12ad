"""Emails to data subjects: editable templates, an outbound record per message, retries.

Each email has a key (``EMAILS``) and three parts: a subject line, a plain-text body
and an HTML body. The files ``templates/emails/<key>.subject.txt``, ``<key>.txt`` and
``<key>.html`` are the defaults; staff with the approve role may override them
(``EmailTemplate``) and reset back. Templates are rendered from the stored string by
an isolated Django template engine (no loaders, no tag libraries), and a template is
refused on save if it does not compile, names a variable the email does not have,
leaves out a variable the email exists for (the link, the code: ``EmailSpec.required``)
or turns HTML escaping off (``|safe``, ``|safeseq``, ``{% autoescape %}``: the values
come from the request and from the public form): nothing is ever sent half-rendered.

Sending: ``email_queue`` renders the message and stores it encrypted on an
``OutboundEmail`` (the message may hold a link or a code); a django-q2 task sends it
after the transaction commits, through Django's email backend (``EMAIL_URL``). A
failure is recorded and retried by the periodic sweep with growing waits; it never
raises into the caller, so a staff action is never blocked by email. Once sent (or
given up on), the stored message is wiped. Audit events name the email's id and key,
never the address, link or code.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template import Context, Engine, TemplateSyntaxError
from django.template.base import TextNode, VariableNode
from django.template.defaulttags import ForNode
from django.template.loader import get_template
from django.utils import timezone

from portal.audit import audit_record
from portal.models import User
from portal.roles import require_role
from requests_app.models import EmailTemplate, OutboundEmail, PrivacyRequest, SubjectLink
from requests_app.services.subject_links import link_create, link_url

logger = logging.getLogger(__name__)

TASK_PATH = "requests_app.tasks.subject_email_send"
SUBJECT_MAX = EmailTemplate._meta.get_field("subject").max_length
BODY_MAX = 50_000
PARTS = ("subject", "text_body", "html_body")
_PART_FILES = {"subject": "subject.txt", "text_body": "txt", "html_body": "html"}
_LEASE = timedelta(minutes=10)

COMMON_VARIABLES: dict[str, str] = {
    "company_name": "Your company's name (setting PRIVACY_COMPANY_NAME)",
    "privacy_contact": "The privacy contact address (setting PRIVACY_CONTACT_EMAIL)",
    "subject_name": "The name the person gave (may be empty)",
    "reference": "The request's reference (a UUID)",
    "request_type": "Access or Deletion",
    "regulation": "GDPR, CCPA or Other",
    "received_at": "When the request was received (a date and time)",
    "due_at": "The current due date",
    "status_url": "A link to the request's status page",
}


@dataclass(frozen=True)
class EmailSpec:
    """One kind of email: its name for staff and the variables its templates may use."""

    label: str
    description: str
    variables: dict[str, str]
    # Variables the plain-text and HTML bodies must print: the email is useless without them.
    required: tuple[str, ...] = ()
    # Common variables this email must not have (its templates cannot name them).
    withheld: tuple[str, ...] = ()

    @property
    def all_variables(self) -> dict[str, str]:
        common = {k: v for k, v in COMMON_VARIABLES.items() if k not in self.withheld}
        return {**common, **self.variables}


EMAILS: dict[str, EmailSpec] = {
    "verify": EmailSpec(
        "Confirm your email",
        "Sent when a request arrives through the public form (or when staff send it).",
        {
            "verify_url": "The confirmation link (single use)",
            "verify_expires_at": "When the confirmation link expires",
        },
        required=("verify_url",),
        # Anyone can type any address and any name into the public form: until the
        # address is confirmed, the name is a stranger's words and must not be relayed.
        withheld=("subject_name",),
    ),
    "received": EmailSpec(
        "Request received",
        "Sent once the address is confirmed: the request is being processed.",
        {},
    ),
    "extension": EmailSpec(
        "Deadline extended",
        "Sent when staff extend the due date.",
        {
            "extension_reason": "Why the deadline was extended",
            "original_due_at": "The due date before the extension",
        },
        required=("due_at", "extension_reason"),
    ),
    "report_ready": EmailSpec(
        "Your report is ready",
        "Sent when the report is approved, or when staff re-issue the link.",
        {
            "download_url": "The download link",
            "link_expires_at": "When the download link expires",
            "max_downloads": "How many downloads the link allows",
        },
        required=("download_url",),
    ),
    "download_code": EmailSpec(
        "Your one-time code",
        "Sent when the download link is opened.",
        {"code": "The six-digit code", "code_minutes": "Minutes the code is valid"},
        required=("code",),
    ),
    "denied": EmailSpec(
        "Request denied",
        "Sent when staff deny the request.",
        {
            "denial_reason": "The reason staff gave",
            "denial_notice": "The regulation's wording, with the reason",
        },
        required=("denial_notice",),
    ),
    "deletion_done": EmailSpec(
        "Deletion completed",
        "Sent when every system has answered a deletion request.",
        {
            "systems": "Each system: {{ system.name }}, {{ system.deleted }} (true or false)"
            " and {{ system.reason }} (why it could not delete)",
            "not_deleted": "The systems that could not delete (empty when all did)",
        },
        required=("systems",),
    ),
}


# What the strict engine prints for a name it cannot resolve, to find it afterwards.
_UNKNOWN = "\x00UNKNOWN:%s\x00"


def _engine(*, strict: bool = False) -> Engine:
    """Templates from staff: default tags and filters only, nothing loaded from disk."""
    return Engine(
        dirs=[],
        app_dirs=False,
        loaders=[],
        libraries={},
        autoescape=True,
        string_if_invalid=_UNKNOWN if strict else "",
    )


_ENGINE = _engine()
_STRICT_ENGINE = _engine(strict=True)


class _RecordingContext(Context):
    """A context that remembers every top-level name looked up and not found."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.missing: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        try:
            return super().__getitem__(key)
        except KeyError:
            self.missing.add(key)
            raise


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text_body: str
    html_body: str


# --- templates -------------------------------------------------------------------------


def _spec(key: str) -> EmailSpec:
    if key not in EMAILS:
        raise ValueError(f"Unknown email {key!r}.")
    return EMAILS[key]


def template_default(key: str) -> dict[str, str]:
    """The file defaults of one email, under ``templates/emails``."""
    _spec(key)
    return {
        part: get_template(f"emails/{key}.{suffix}").template.source
        for part, suffix in _PART_FILES.items()
    }


def template_source(key: str) -> dict[str, str]:
    """What is in force: the staff edit if there is one, else the file defaults."""
    row = EmailTemplate.objects.filter(key=key).first()
    if row is None:
        return template_default(key)
    return {part: getattr(row, part) for part in PARTS}


def template_for_sending(key: str) -> dict[str, str]:
    """The staff edit if it still passes today's rules, else the file defaults.

    Rules grow (escaping may not be turned off, required links must be printed); an
    edit saved before a rule existed must not send a raw-HTML or link-less email, so
    it is checked again at send time and the default goes out instead.
    """
    source = template_source(key)
    if EmailTemplate.objects.filter(key=key).exists():
        try:
            template_validate(key, source)
        except ValidationError:
            logger.warning("email template %s no longer passes validation; default used", key)
            return template_default(key)
    return source


def sample_context(key: str) -> dict[str, Any]:
    """Invented values for every variable of one email: previews and validation."""
    now = timezone.now()
    values: dict[str, Any] = {
        "company_name": settings.PRIVACY_COMPANY_NAME,
        "privacy_contact": settings.PRIVACY_CONTACT_EMAIL,
        "subject_name": "Alex Example",
        "reference": "3f2c9a1e-0000-4000-8000-000000000000",
        "request_type": "Access",
        "regulation": "GDPR",
        "received_at": now,
        "due_at": now + timedelta(days=30),
        "status_url": f"{settings.PORTAL_BASE_URL}/privacy/status/?token=EXAMPLE",
        "verify_url": f"{settings.PORTAL_BASE_URL}/privacy/verify/?token=EXAMPLE",
        "verify_expires_at": now + timedelta(hours=settings.SUBJECT_VERIFY_LINK_HOURS),
        "extension_reason": "The request covers several years of meetings.",
        "original_due_at": now + timedelta(days=10),
        "download_url": f"{settings.PORTAL_BASE_URL}/privacy/download/?token=EXAMPLE",
        "link_expires_at": now + timedelta(days=settings.SUBJECT_DOWNLOAD_LINK_DAYS),
        "max_downloads": settings.SUBJECT_DOWNLOAD_MAX,
        "code": "123456",
        "code_minutes": settings.SUBJECT_CODE_MINUTES,
        "denial_reason": "We could not confirm your identity.",
        "denial_notice": "We cannot act on your request. Reason: we could not confirm it.",
        "systems": [
            {"name": "Zoom", "deleted": True, "reason": ""},
            {"name": "Webex", "deleted": False, "reason": "Kept for a legal hold until 2027."},
        ],
        "not_deleted": [
            {"name": "Webex", "deleted": False, "reason": "Kept for a legal hold until 2027."}
        ],
    }
    return {name: values[name] for name in _spec(key).all_variables}


def _compile(engine: Engine, source: str):
    """Compile, refusing an unclosed tag (Django would print it as text)."""
    template = engine.from_string(source)
    for node in template.nodelist.get_nodes_by_type(TextNode):
        for opener in ("{{", "{%", "{#"):
            if opener in node.s:
                snippet = node.s[node.s.index(opener) :][:40]
                raise TemplateSyntaxError(
                    f"“{opener}” is not closed in “{snippet}” "
                    "(write {% templatetag openvariable %} for a literal “{{”)."
                )
    return template


def _render_part(engine: Engine, source: str, context: dict[str, Any], *, html: bool):
    template = _compile(engine, source)
    ctx = _RecordingContext(context, autoescape=html)
    return template.render(ctx), ctx.missing


# Ways to turn HTML escaping off: a value from the request would then be sent as markup.
_UNESCAPED = re.compile(r"\|\s*safe(?:seq)?\b|\{%-?\s*autoescape\b")


def _printed_names(template) -> set[str]:
    """Top-level names the template prints (``{{ name... }}``) or loops over."""
    names: set[str] = set()
    expressions = [
        node.filter_expression for node in template.nodelist.get_nodes_by_type(VariableNode)
    ]
    expressions += [node.sequence for node in template.nodelist.get_nodes_by_type(ForNode)]
    for expression in expressions:
        lookups = getattr(expression.var, "lookups", None)
        if lookups:
            names.add(lookups[0])
    return names


def _part_problem(spec: EmailSpec, part: str, source: str) -> str | None:
    """Escaping turned off, or a required variable left out: why the part is refused."""
    if part == "html_body" and _UNESCAPED.search(source):
        return (
            "The HTML part may not turn escaping off (|safe, |safeseq, {% autoescape %}): "
            "values from the request would be sent as raw HTML."
        )
    if part in ("text_body", "html_body") and spec.required:
        missing = [n for n in spec.required if n not in _printed_names(_compile(_ENGINE, source))]
        if missing:
            names = ", ".join(f"{{{{ {n} }}}}" for n in missing)
            return f"This email must include {names}: without it the email is of no use."
    return None


def template_validate(key: str, parts: dict[str, str]) -> None:
    """Raise ``ValidationError`` (per part) unless every part compiles, uses known names,
    prints the email's required variables and keeps HTML escaping on."""
    spec = _spec(key)
    sample = sample_context(key)
    problems: dict[str, str] = {}
    for part in PARTS:
        source = parts.get(part) or ""
        if not source.strip():
            problems[part] = "This part cannot be empty."
            continue
        limit = SUBJECT_MAX if part == "subject" else BODY_MAX
        if len(source) > limit:
            problems[part] = f"Use at most {limit} characters."
            continue
        try:
            output, missing = _render_part(_STRICT_ENGINE, source, sample, html=part == "html_body")
        except TemplateSyntaxError as exc:
            problems[part] = f"The template does not compile: {exc}"
            continue
        except Exception as exc:  # a filter that fails on its input, and the like
            problems[part] = f"The template fails to render: {type(exc).__name__}: {exc}"
            continue
        unknown = set(missing) - set(spec.all_variables) - {"forloop", "block"}
        for marker in output.split("\x00UNKNOWN:")[1:]:
            unknown.add(marker.split("\x00", 1)[0])
        if unknown:
            names = ", ".join(sorted(unknown))
            problems[part] = (
                f"Unknown variable(s): {names}. Available: {', '.join(spec.all_variables)}."
            )
            continue
        problem = _part_problem(spec, part, source)
        if problem:
            problems[part] = problem
    if problems:
        raise ValidationError(problems)


def email_render(key: str, context: dict[str, Any], parts: dict[str, str] | None = None):
    """The three parts of one email, rendered; the subject becomes one line."""
    parts = parts or template_for_sending(key)
    subject, _ = _render_part(_ENGINE, parts["subject"], context, html=False)
    text, _ = _render_part(_ENGINE, parts["text_body"], context, html=False)
    html, _ = _render_part(_ENGINE, parts["html_body"], context, html=True)
    return RenderedEmail(subject=" ".join(subject.split())[:300], text_body=text, html_body=html)


def email_preview(key: str, parts: dict[str, str]) -> RenderedEmail:
    """Validate, then render with the sample values (raises ``ValidationError``)."""
    template_validate(key, parts)
    return email_render(key, sample_context(key), parts)


def template_save(key: str, parts: dict[str, str], *, actor: User) -> EmailTemplate:
    """Store a staff edit of one email after validating it; audited."""
    require_role(actor, "approve")
    template_validate(key, parts)
    row, _ = EmailTemplate.objects.update_or_create(
        key=key,
        defaults={
            **{part: parts[part] for part in PARTS},
            "updated_by": actor,
            "updated_at": timezone.now(),
        },
    )
    audit_record(action="email_template.updated", target=row, actor=actor, details={"key": key})
    return row


def template_reset(key: str, *, actor: User) -> bool:
    """Go back to the file defaults; audited. False if there was no edit."""
    require_role(actor, "approve")
    _spec(key)
    row = EmailTemplate.objects.filter(key=key).first()
    if row is None:
        return False
    audit_record(action="email_template.reset", target=row, actor=actor, details={"key": key})
    row.delete()
    return True


# --- queueing and sending ---------------------------------------------------------------


def _status_url(request: PrivacyRequest) -> str:
    _, token = link_create(
        request,
        SubjectLink.Purpose.STATUS,
        expires_at=timezone.now() + timedelta(days=settings.SUBJECT_STATUS_LINK_DAYS),
    )
    return link_url(SubjectLink.Purpose.STATUS, token)


def request_context(request: PrivacyRequest) -> dict[str, Any]:
    """The variables every email has, for one request (mints a fresh status link)."""
    return {
        "company_name": settings.PRIVACY_COMPANY_NAME,
        "privacy_contact": settings.PRIVACY_CONTACT_EMAIL,
        "subject_name": request.subject_name,
        "reference": str(request.reference),
        "request_type": request.get_request_type_display(),
        "regulation": request.get_regulation_display(),
        "received_at": request.received_at,
        "due_at": request.due_at,
        "status_url": _status_url(request),
    }


def _enqueue(outbound_id: int) -> None:
    from django_q.tasks import async_task

    try:
        async_task(TASK_PATH, outbound_id, task_name=f"subject-email-{outbound_id}")
    except Exception as exc:  # the broker is down: the sweep sends it later
        logger.warning("email %s not enqueued (%s); the sweep retries it", outbound_id, exc)


def email_queue(
    request: PrivacyRequest, key: str, extra: dict[str, Any] | None = None
) -> OutboundEmail:
    """Render one email for the request's subject, store it, send it after commit.

    Never raises for a rendering or sending problem: the email is recorded as failed
    and shown on the request page instead.
    """
    spec = _spec(key)
    with transaction.atomic():
        outbound = OutboundEmail.objects.create(request=request, template_key=key)
        try:
            unknown = set(extra or {}) - set(spec.all_variables)
            if unknown:
                raise ValueError(f"unexpected variables {sorted(unknown)}")
            common = {k: v for k, v in request_context(request).items() if k in spec.all_variables}
            context = {**common, **(extra or {})}
            message = email_render(key, context)
        except Exception as exc:
            outbound.status = OutboundEmail.Status.FAILED
            outbound.last_error = f"Could not render the template ({type(exc).__name__})."
            outbound.save(update_fields=["status", "last_error"])
            logger.error("email %s (%s) failed to render: %s", outbound.pk, key, type(exc))
            audit_record(
                action="email.failed",
                target=request,
                details={"email_id": outbound.pk, "template": key, "error": "render"},
            )
            return outbound
        outbound.to_address = request.subject_email
        outbound.subject = message.subject
        outbound.text_body = message.text_body
        outbound.html_body = message.html_body
        outbound.save(update_fields=["to_address", "subject", "text_body", "html_body"])
        audit_record(
            action="email.queued",
            target=request,
            details={"email_id": outbound.pk, "template": key},
        )
        pk = outbound.pk
        transaction.on_commit(lambda: _enqueue(pk), robust=True)
    return outbound


def _wipe(outbound: OutboundEmail) -> None:
    outbound.to_address = ""
    outbound.subject = ""
    outbound.text_body = ""
    outbound.html_body = ""


def _due(now: datetime) -> Q:
    """Emails whose next try is due (or never scheduled)."""
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def _retry_wait(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** (attempts - 1), 60))


def email_send(outbound_id: int) -> str:
    """Send one queued email now (a task); returns its status afterwards.

    Claims the row with a short lease first, so the task and the sweep never send the
    same email twice at once. A failure schedules the next try (the sweep picks it up)
    until ``SUBJECT_EMAIL_MAX_ATTEMPTS``, then marks it failed for good.
    """
    now = timezone.now()
    claimed = (
        OutboundEmail.objects.filter(
            pk=outbound_id,
            status__in=(OutboundEmail.Status.QUEUED, OutboundEmail.Status.RETRYING),
        )
        .filter(_due(now))
        .update(next_attempt_at=now + _LEASE)
    )
    if not claimed:
        return "skipped"
    outbound = OutboundEmail.objects.select_related("request").get(pk=outbound_id)
    outbound.attempts += 1
    try:
        message = EmailMultiAlternatives(
            subject=outbound.subject,
            body=outbound.text_body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[outbound.to_address],
            reply_to=[settings.PRIVACY_CONTACT_EMAIL],
        )
        message.attach_alternative(outbound.html_body, "text/html")
        message.send(fail_silently=False)
    except Exception as exc:
        outbound.last_error = f"{type(exc).__name__}"[:200]
        give_up = outbound.attempts >= settings.SUBJECT_EMAIL_MAX_ATTEMPTS
        if give_up:
            outbound.status = OutboundEmail.Status.FAILED
            outbound.next_attempt_at = None
            _wipe(outbound)
        else:
            outbound.status = OutboundEmail.Status.RETRYING
            outbound.next_attempt_at = timezone.now() + _retry_wait(outbound.attempts)
        outbound.save()
        logger.warning("email %s attempt %s failed: %s", outbound.pk, outbound.attempts, type(exc))
        audit_record(
            action="email.failed",
            target=outbound.request,
            details={
                "email_id": outbound.pk,
                "template": outbound.template_key,
                "attempts": outbound.attempts,
                "final": give_up,
            },
        )
        return outbound.status
    outbound.status = OutboundEmail.Status.SENT
    outbound.sent_at = timezone.now()
    outbound.next_attempt_at = None
    outbound.last_error = ""
    _wipe(outbound)
    outbound.save()
    audit_record(
        action="email.sent",
        target=outbound.request,
        details={"email_id": outbound.pk, "template": outbound.template_key},
    )
    return outbound.status


def email_sweep() -> int:
    """Send every queued or failed email that is due; returns how many were tried."""
    now = timezone.now()
    ids = list(
        OutboundEmail.objects.filter(
            status__in=(OutboundEmail.Status.QUEUED, OutboundEmail.Status.RETRYING),
        )
        .filter(_due(now))
        .values_list("pk", flat=True)[:200]
    )
    for pk in ids:
        email_send(pk)
    return len(ids)


# --- the notices ---------------------------------------------------------------------------


def notify_verify(request: PrivacyRequest, *, verify_url: str, expires_at: datetime):
    return email_queue(
        request, "verify", {"verify_url": verify_url, "verify_expires_at": expires_at}
    )


def notify_received(request: PrivacyRequest) -> OutboundEmail:
    return email_queue(request, "received")


def notify_extension(request: PrivacyRequest) -> OutboundEmail:
    return email_queue(
        request,
        "extension",
        {
            "extension_reason": request.extension_reason,
            "original_due_at": request.original_due_at,
        },
    )


def notify_report_ready(
    request: PrivacyRequest, *, download_url: str, link: SubjectLink
) -> OutboundEmail:
    return email_queue(
        request,
        "report_ready",
        {
            "download_url": download_url,
            "link_expires_at": link.expires_at,
            "max_downloads": link.max_downloads,
        },
    )


def notify_download_code(request: PrivacyRequest, *, code: str) -> OutboundEmail:
    return email_queue(
        request, "download_code", {"code": code, "code_minutes": settings.SUBJECT_CODE_MINUTES}
    )


def notify_denied(request: PrivacyRequest) -> OutboundEmail:
    return email_queue(
        request,
        "denied",
        {"denial_reason": request.status_reason, "denial_notice": request.denial_notice},
    )


def notify_deletion_done(request: PrivacyRequest, systems: list[dict[str, Any]]) -> OutboundEmail:
    """Tell the subject the deletion request is complete, system by system.

    ``systems``: ``{"name", "deleted", "reason"}`` per system (the Direct Contact
    workflow's outcomes).
    """
    return email_queue(
        request,
        "deletion_done",
        {"systems": systems, "not_deleted": [s for s in systems if not s["deleted"]]},
    )


def notify_after_commit(func, request_id: int) -> None:
    """Run ``func(request)`` once the current transaction commits; failures are logged only."""

    def run() -> None:
        try:
            func(PrivacyRequest.objects.get(pk=request_id))
        except Exception:
            logger.exception("subject notice %s for request %s failed", func.__name__, request_id)

    transaction.on_commit(run, robust=True)
