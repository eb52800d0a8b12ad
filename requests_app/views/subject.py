"""The data subject's public pages: request form, email verification, status, download.

No staff account is involved. Every page that a mailed link opens takes the token
from ``?token=`` once, keeps only the link's id in the (server-side) session and
redirects to the same address without it, so the token never appears in another
URL, a referrer or a log line. Any failure (unknown, expired, used, used up, wrong
request) gets the same "not found or expired" page and status, so nobody can learn
whether a request exists. Rate limits apply per IP and per token.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from connectors.emails import email_normalize
from portal.client_ip import client_ip
from portal.headers import no_referrer
from requests_app.downloads import report_response
from requests_app.models import PrivacyRequest, SubjectLink, SubjectMessage
from requests_app.services import delivery, verification
from requests_app.services.intake import privacy_request_create
from requests_app.services.subject_links import (
    link_find,
    link_is_live,
    throttle_hit,
    token_hash,
)
from requests_app.subject_forms import HONEYPOT_FIELD, CodeForm, SubjectRequestForm

logger = logging.getLogger(__name__)

SESSION_VERIFY = "privacy_verify"
SESSION_STATUS = "privacy_status"
SESSION_DOWNLOAD = "privacy_download"
STATUS_SESSION_MINUTES = 60
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_DEFAULT_ACCENT = "#0b5cad"


# --- helpers --------------------------------------------------------------------------------


def brand() -> dict[str, str]:
    """Company name, contact, logo and colour of the public pages (README: configuration)."""
    logo = settings.PRIVACY_LOGO_PATH
    if logo and not logo.startswith("/"):
        logo = static(logo)
    return {
        "company_name": settings.PRIVACY_COMPANY_NAME,
        "privacy_contact": settings.PRIVACY_CONTACT_EMAIL,
        "logo_url": logo,
    }


def _page(request: HttpRequest, template: str, context: dict | None = None, status: int = 200):
    response = render(request, template, {**brand(), **(context or {})}, status=status)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _not_found(request: HttpRequest) -> HttpResponse:
    """The one answer to every failure of a mailed link: nothing tells them apart."""
    return _page(request, "privacy/not_found.html", status=404)


def _too_many(request: HttpRequest) -> HttpResponse:
    return _page(request, "privacy/too_many.html", status=429)


def _link_throttled(request: HttpRequest, token: str | None) -> bool:
    """Count a hit on a link page: per IP always, per token when one is presented."""
    if throttle_hit("link-ip", client_ip(request), settings.SUBJECT_LINK_RATE_LIMIT):
        return True
    return bool(token) and throttle_hit(
        "link-token", token_hash(token), settings.SUBJECT_LINK_TOKEN_RATE_LIMIT
    )


def _until(minutes: int) -> str:
    return (timezone.now() + timedelta(minutes=minutes)).isoformat()


def _still(value: str | None) -> bool:
    if not value:
        return False
    try:
        return datetime.fromisoformat(value) > timezone.now()
    except ValueError:
        return False


def _session_link(request: HttpRequest, key: str, purpose: str) -> SubjectLink | None:
    state = request.session.get(key) or {}
    link_id = state.get("link") if isinstance(state, dict) else None
    if not isinstance(link_id, int):
        return None
    link = (
        SubjectLink.objects.select_related("request", "report")
        .filter(pk=link_id, purpose=purpose)
        .first()
    )
    return link if link is not None and link_is_live(link) else None


def _grant_status(request: HttpRequest, privacy_request: PrivacyRequest) -> None:
    request.session[SESSION_STATUS] = {
        "request": privacy_request.pk,
        "until": _until(STATUS_SESSION_MINUTES),
    }


# --- the form -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def request_form(request: HttpRequest) -> HttpResponse:
    """Ask for access or deletion. The answer is the same whoever the email belongs to."""
    form = SubjectRequestForm(request.POST or None)
    if request.method == "POST":
        if throttle_hit("form-ip", client_ip(request), settings.SUBJECT_FORM_RATE_LIMIT):
            return _too_many(request)
        if request.POST.get(HONEYPOT_FIELD):
            logger.info("public form: honeypot filled; nothing stored")
            return redirect("privacy:sent")
        if form.is_valid():
            data = form.cleaned_data
            email_key = email_normalize(data["email"])
            if throttle_hit("form-email", email_key, settings.SUBJECT_FORM_EMAIL_RATE_LIMIT):
                logger.info("public form: per-email limit reached; nothing stored")
                return redirect("privacy:sent")
            try:
                _create(data)
            except ValidationError as exc:
                errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
                for field, messages_ in errors.items():
                    form.add_error(field if field in form.fields else None, messages_)
            else:
                return redirect("privacy:sent")
    status = 400 if form.is_bound and form.errors else 200
    return _page(request, "privacy/form.html", {"form": form}, status=status)


def _create(data: dict) -> PrivacyRequest:
    """Store the request, the subject's message and the verification email, all or nothing."""
    with transaction.atomic():
        privacy_request = privacy_request_create(
            request_type=data["request_type"],
            email=data["email"],
            name=data["name"],
            regulation=data["regulation"],
            source=PrivacyRequest.Source.PUBLIC_FORM,
        )
        if data["message"].strip():
            SubjectMessage.objects.create(request=privacy_request, body=data["message"].strip())
        verification.verification_send(privacy_request)
    return privacy_request


@require_GET
def request_sent(request: HttpRequest) -> HttpResponse:
    return _page(request, "privacy/sent.html")


# --- verification ---------------------------------------------------------------------------


@no_referrer
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Confirm the email address: the link opens a page whose button confirms it.

    A button rather than the link itself, so mail scanners that open links do not
    use the single-use link up.
    """
    token = request.GET.get("token")
    if _link_throttled(request, token):
        return _too_many(request)
    if token is not None:
        link = link_find(token, SubjectLink.Purpose.VERIFY)
        if link is None:
            return _not_found(request)
        request.session[SESSION_VERIFY] = {"link": link.pk}
        return redirect("privacy:verify")
    link = _session_link(request, SESSION_VERIFY, SubjectLink.Purpose.VERIFY)
    if link is None:
        return _not_found(request)
    if request.method == "POST":
        privacy_request = verification.verification_confirm_link(link.pk)
        request.session.pop(SESSION_VERIFY, None)
        if privacy_request is None:
            return _not_found(request)
        _grant_status(request, privacy_request)
        messages.success(request, "Thank you: your email address is confirmed.")
        return redirect("privacy:status")
    return _page(request, "privacy/verify.html", {"privacy_request": link.request})


# --- status ---------------------------------------------------------------------------------


STEPS = (
    ("received", "Received"),
    ("verified", "Email confirmed"),
    ("in_progress", "In progress"),
    ("ready", "Ready"),
    ("done", "Done"),
)


def status_view(privacy_request: PrivacyRequest) -> dict:
    """What the status page says, from the request's status (no personal data)."""
    s = PrivacyRequest.Status
    status = privacy_request.status
    if status == s.AWAITING_VERIFICATION:
        current, text = "received", "Waiting for you to confirm your email address."
    elif status in (s.PROCESSING, s.PAUSED, s.FAILED, s.IN_REVIEW):
        current, text = "in_progress", "We are collecting and reviewing your data."
    elif status == s.APPROVED:
        current, text = "ready", "Your report is ready: we emailed you a download link."
    elif status in (s.DELIVERED, s.CLOSED):
        current, text = "done", "Your request is complete."
    elif status == s.DENIED:
        current, text = "denied", "We could not act on your request."
    else:
        current, text = "cancelled", "This request was closed."
    order = [key for key, _ in STEPS]
    reached = order.index(current) if current in order else -1
    steps = [
        {"key": key, "label": label, "done": i < reached, "current": i == reached}
        for i, (key, label) in enumerate(STEPS)
    ]
    return {"current": current, "text": text, "steps": steps}


@no_referrer
@require_GET
def status(request: HttpRequest) -> HttpResponse:
    """Where the request stands: received, confirmed, in progress, extended, ready, done."""
    token = request.GET.get("token")
    if _link_throttled(request, token):
        return _too_many(request)
    if token is not None:
        link = link_find(token, SubjectLink.Purpose.STATUS)
        if link is None:
            return _not_found(request)
        _grant_status(request, link.request)
        return redirect("privacy:status")
    state = request.session.get(SESSION_STATUS) or {}
    if not isinstance(state, dict) or not _still(state.get("until")):
        return _not_found(request)
    privacy_request = PrivacyRequest.objects.filter(pk=state.get("request")).first()
    if privacy_request is None or privacy_request.purged_at is not None:
        return _not_found(request)
    return _page(
        request,
        "privacy/status.html",
        {"privacy_request": privacy_request, **status_view(privacy_request)},
    )


# --- download -------------------------------------------------------------------------------


def _granted(request: HttpRequest, link: SubjectLink) -> bool:
    state = request.session.get(SESSION_DOWNLOAD) or {}
    return state.get("link") == link.pk and _still(state.get("until"))


@no_referrer
@require_http_methods(["GET", "POST"])
def download(request: HttpRequest) -> HttpResponse:
    """Opening the link mails a code; the right code shows the report and its download."""
    token = request.GET.get("token")
    if _link_throttled(request, token):
        return _too_many(request)
    if token is not None:
        link = link_find(token, SubjectLink.Purpose.DOWNLOAD)
        if link is None:
            return _not_found(request)
        request.session[SESSION_DOWNLOAD] = {"link": link.pk}
        if not delivery.code_is_pending(link):
            delivery.code_send(link)
        return redirect("privacy:download")
    link = _session_link(request, SESSION_DOWNLOAD, SubjectLink.Purpose.DOWNLOAD)
    if link is None:
        return _not_found(request)
    if _granted(request, link):
        return _page(
            request,
            "privacy/download.html",
            {"link": link, "report": link.report, "downloads_left": _left(link)},
        )
    form = CodeForm(request.POST or None)
    status_code = 200
    if request.method == "POST":
        if request.POST.get("action") == "resend":
            if delivery.code_send(link):
                messages.success(request, "We sent a new code to your email address.")
            else:
                messages.error(request, "Too many codes were sent. Wait a while, then try again.")
            return redirect("privacy:download")
        if form.is_valid():
            outcome = delivery.code_check(link.pk, form.cleaned_data["code"])
            if outcome.result == delivery.CodeCheck.ACCEPTED:
                request.session.cycle_key()
                request.session[SESSION_DOWNLOAD] = {
                    "link": link.pk,
                    "until": _until(settings.SUBJECT_DOWNLOAD_SESSION_MINUTES),
                }
                return redirect("privacy:download")
            if outcome.result == delivery.CodeCheck.WRONG:
                left = outcome.tries_left
                form.add_error(
                    "code", f"That code is not right. {left} tr{'y' if left == 1 else 'ies'} left."
                )
            else:
                form.add_error("code", "This code can no longer be used. Ask for a new code below.")
        status_code = 400
    return _page(
        request,
        "privacy/code.html",
        {"form": form, "code_pending": delivery.code_is_pending(link)},
        status=status_code,
    )


def _left(link: SubjectLink) -> int:
    return max(link.max_downloads - link.download_count, 0)


@no_referrer
@require_GET
def download_file(request: HttpRequest) -> HttpResponseBase:
    """The zip, decrypted as it streams; counted, and the first one marks it delivered."""
    if _link_throttled(request, None):
        return _too_many(request)
    link = _session_link(request, SESSION_DOWNLOAD, SubjectLink.Purpose.DOWNLOAD)
    if link is None or not _granted(request, link):
        return _not_found(request)
    opened = delivery.download_open(link.pk)
    if opened is None:
        return _not_found(request)
    report, blob = opened
    filename = f"{settings.PRIVACY_COMPANY_NAME}-data-report-{report.generated_at:%Y-%m-%d}.zip"
    response = report_response(report, blob, filename)
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- branding -------------------------------------------------------------------------------


@require_GET
def brand_css(request: HttpRequest) -> HttpResponse:
    """The accent colour as a style sheet (the policy allows no inline styles)."""
    colour = settings.PRIVACY_ACCENT_COLOUR
    if not _COLOUR.match(colour or ""):
        colour = _DEFAULT_ACCENT
    return HttpResponse(f":root {{ --privacy-accent: {colour}; }}\n", content_type="text/css")
