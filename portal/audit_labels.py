"""Readable names for audit actions and what an event changed: one table for every page.

The audit trail stores short codes (``request.status_changed``); people read the
words below. An action missing from the table still reads as words (its code with
the punctuation taken out), so a new action never shows a raw code, but it should
be added here.
"""

from __future__ import annotations

from typing import Any

# Every action the product writes, in plain words. Grouped by what the event is about.
AUDIT_ACTION_LABELS: dict[str, str] = {
    # Staff accounts
    "user.signed_in": "Signed in",
    "user.signed_out": "Signed out",
    "user.password_changed": "Password changed",
    "user.password_reset": "Password reset",
    "mfa.enrolled": "Two-factor authentication set up",
    "mfa.removed": "Two-factor authentication method removed",
    "mfa.recovery_codes_reset": "Two-factor recovery codes replaced",
    "api_token.created": "API token created",
    "api_token.changed": "API token changed",
    "api_token.revoked": "API token revoked",
    # Connections
    "connection.created": "Connection created",
    "connection.updated": "Connection settings changed",
    "connection.authorised": "Connection authorised",
    "connection.verified": "Connection checked: works",
    "connection.verify_failed": "Connection check failed",
    "connection.needs_reauth": "Connection needs to be reconnected",
    "connection.disconnected": "Connection disconnected",
    "connection.deleted": "Connection deleted",
    # Requests
    "request.created": "Request received",
    "request.status_changed": "Status changed",
    "request.fetch_started": "Fetching started",
    "request.extended": "Due date extended",
    "request.verification_sent": "Verification email sent",
    "request.verified": "Identity verified",
    "request.approved": "Approved",
    "request.denied": "Denied",
    "request.review_reopened": "Review reopened",
    "request.purged": "Personal data purged",
    "request.unconfirmed_cancelled": "Cancelled: email address never confirmed",
    "request.purge_started": "Retention purge started",
    "request.system_skipped": "System skipped (no answer in time)",
    "request.deletion_completed": "Deletion completed in every system",
    "request.deletion_notice_queued": "Deletion notice sent to the person",
    # Fetches (one per connection and request)
    "result.finished": "Fetch finished",
    "result.paused": "Fetch paused",
    "result.skipped": "Fetch skipped",
    "result.resumed": "Fetch resumed",
    "result.retried": "Fetch retried",
    "result.recovered": "Fetch restarted after a worker stopped",
    # Direct Contact tasks (a system's contact answers by email link)
    "direct_contact.created": "Direct Contact task created",
    "direct_contact.replaces_fetch": "Direct Contact task replaces the API fetch",
    "direct_contact.resent": "Direct Contact link sent again",
    "direct_contact.reminded": "Direct Contact reminder sent",
    "direct_contact.escalated": "Direct Contact task escalated",
    "direct_contact.answered": "System contact answered",
    "direct_contact.accepted": "System contact's answer accepted",
    "direct_contact.handled": "Direct Contact task handled by staff",
    "direct_contact.handled_note": "Note on a Direct Contact task",
    "direct_contact.contact_changed": "System contact changed",
    "direct_contact.file_downloaded": "Uploaded file opened by staff",
    "direct_contact.mail_failed": "Email to the system contact failed",
    "direct_contact.mail_retried": "Email to the system contact sent again",
    # Review and release
    "review.type_selection_changed": "Review: kind of data included or left out",
    "review.field_selection_changed": "Review: field included or left out",
    "review.record_selection_changed": "Review: records included or left out",
    "review.record_edited": "Review: value corrected",
    "review.edit_reverted": "Review: correction undone",
    "report.downloaded": "Report downloaded",
    "delivery.link_issued": "Download link sent",
    "delivery.code_sent": "Download code sent",
    "delivery.code_accepted": "Download code accepted",
    "delivery.code_rejected": "Download code refused",
    # Emails to data subjects
    "email.queued": "Email queued",
    "email.sent": "Email sent",
    "email.failed": "Email failed",
    "email_template.updated": "Email wording changed",
    "email_template.reset": "Email wording reset",
}

# What the event is about, for the audit log's "About" column.
AUDIT_TARGET_LABELS: dict[str, str] = {
    "requests_app.privacyrequest": "Request",
    "requests_app.result": "Fetch",
    "connectors.connection": "Connection",
    "portal.user": "Staff account",
    "portal.apitoken": "API token",
    "requests_app.emailtemplate": "Email wording",
    "requests_app.outboundemail": "Email",
    "requests_app.report": "Report",
    "requests_app.directcontacttask": "Direct Contact task",
}

# Status codes in ``details`` (request, fetch and connection statuses) as words.
_STATUS_WORDS = {
    "succeeded": "finished",
    "no_data": "no data found",
    "needs_reauth": "needs to be reconnected",
    "in_review": "in review",
}


def audit_action_label(action: str) -> str:
    """``request.fetch_started`` → ``Fetching started``; unknown codes still read as words."""
    if action in AUDIT_ACTION_LABELS:
        return AUDIT_ACTION_LABELS[action]
    words = (action or "").replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def audit_target_label(target_type: str) -> str:
    return AUDIT_TARGET_LABELS.get(target_type, target_type.rsplit(".", 1)[-1].capitalize())


def status_words(value: Any) -> str:
    """A stored status code as the words staff see (``in_review`` → ``in review``)."""
    text = str(value or "")
    return _STATUS_WORDS.get(text, text.replace("_", " "))


def audit_change_text(details: dict[str, Any] | None) -> str:
    """What changed, from the ``from`` and ``to`` an event's details carry, else ""."""
    details = details or {}
    if "from" in details and "to" in details:
        return f"Status: {status_words(details['from'])} → {status_words(details['to'])}"
    return ""


def audit_action_choices() -> list[tuple[str, str]]:
    """(code, words) for a filter's drop-down, alphabetical by the words."""
    return sorted(AUDIT_ACTION_LABELS.items(), key=lambda kv: kv[1].casefold())
