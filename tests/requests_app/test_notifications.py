"""Subject emails: editable templates with preview and refusal, sending, retries, notices."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from portal.models import AuditEvent
from portal.roles import Role
from requests_app.models import EmailTemplate, OutboundEmail, PrivacyRequest
from requests_app.services import notifications
from requests_app.services.approval import privacy_request_deny
from tests.factories import PrivacyRequestFactory, StaffFactory, in_review_result

pytestmark = pytest.mark.django_db
START = dt.datetime(2026, 5, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def approver():
    return StaffFactory(roles=[Role.APPROVER])


@pytest.fixture
def approver_client(approver):
    client = Client()
    client.force_login(approver)
    return client


def edit_url(key: str) -> str:
    return reverse("requests:email_template_edit", args=[key])


def parts(**overrides) -> dict:
    return {**notifications.template_default("received"), **overrides}


@pytest.mark.parametrize("key", list(notifications.EMAILS))
def test_every_default_template_is_valid(key):
    notifications.template_validate(key, notifications.template_default(key))
    rendered = notifications.email_preview(key, notifications.template_default(key))
    assert rendered.subject and rendered.text_body.strip() and "<p>" in rendered.html_body


@pytest.mark.parametrize(
    ("part", "source", "message"),
    [
        ("text_body", "Hello {{ subject_name }", "does not compile"),
        ("text_body", "{% if due_at %}unclosed", "does not compile"),
        ("subject", "Hi {{ first_name }}", "Unknown variable(s): first_name"),
        ("html_body", "{% if secret_flag %}x{% endif %}", "Unknown variable(s): secret_flag"),
        ("text_body", "{{ company_name.nope }}", "Unknown variable(s)"),
        ("html_body", "{% load static %}{% static 'x' %}", "does not compile"),
        ("text_body", "{% include 'base.html' %}", "fails to render"),
        ("text_body", "   ", "cannot be empty"),
    ],
)
def test_a_broken_template_is_refused_with_a_clear_error(approver, part, source, message):
    with pytest.raises(ValidationError) as caught:
        notifications.template_save("received", parts(**{part: source}), actor=approver)
    assert message in " ".join(caught.value.message_dict[part])
    assert not EmailTemplate.objects.exists()


@pytest.mark.parametrize(
    "source",
    [
        "<p>{{ subject_name|safe }}</p>",
        "<p>{{ subject_name | safe }}</p>",
        "{% for c in subject_name|make_list|safeseq %}{{ c }}{% endfor %}",
        "{% autoescape off %}<p>{{ subject_name }}</p>{% endautoescape %}",
        "{% autoescape on %}<p>{{ subject_name }}</p>{% endautoescape %}",
        "{% with n=subject_name|safe %}{{ n }}{% endwith %}",
    ],
)
def test_the_html_part_may_not_turn_escaping_off(approver, source):
    with pytest.raises(ValidationError) as caught:
        notifications.template_save("received", parts(html_body=source), actor=approver)
    assert "may not turn escaping off" in " ".join(caught.value.message_dict["html_body"])
    assert not EmailTemplate.objects.exists()


def test_safe_in_the_plain_text_part_is_harmless_and_allowed(approver):
    # The plain-text part is never escaped, so |safe changes nothing there.
    notifications.template_save(
        "received", parts(text_body="Hi {{ subject_name|safe }}"), actor=approver
    )


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("verify", "verify_url"),
        ("report_ready", "download_url"),
        ("download_code", "code"),
        ("deletion_done", "systems"),
        ("denied", "denial_notice"),
    ],
)
@pytest.mark.parametrize("part", ["text_body", "html_body"])
def test_a_template_without_its_required_variable_is_refused(approver, key, name, part):
    default = notifications.template_default(key)
    assert name in notifications.EMAILS[key].required
    without = {**default, part: "<p>Hello from {{ company_name }}.</p>"}
    with pytest.raises(ValidationError) as caught:
        notifications.template_save(key, without, actor=approver)
    message = " ".join(caught.value.message_dict[part])
    assert f"must include {{{{ {name} }}}}" in message
    assert not EmailTemplate.objects.exists()
    # Printing it, anywhere and filtered, is enough.
    kept = {**default, part: f"<p>{{% if {name} %}}{{{{ {name}|default:'' }}}}{{% endif %}}</p>"}
    if name == "systems":
        kept[part] = "<p>{% for s in systems %}{{ s.name }}{% endfor %}</p>"
    notifications.template_save(key, kept, actor=approver)


def test_staff_edit_preview_save_and_reset(approver_client, approver, commit):
    listing = approver_client.get(reverse("requests:email_templates"))
    assert listing.status_code == 200 and b"Request received" in listing.content
    page = approver_client.get(edit_url("received")).content.decode()
    assert "status_url" in page and "company_name" in page  # variables listed

    custom = parts(text_body="Dear {{ subject_name }}, ref {{ reference }}. <b>kept</b>")
    preview = approver_client.post(edit_url("received"), {**custom, "action": "preview"})
    assert preview.status_code == 200 and b"Dear Alex Example, ref" in preview.content
    assert not EmailTemplate.objects.exists()  # a preview saves nothing

    broken = approver_client.post(
        edit_url("received"), {**parts(subject="{{ oops"), "action": "save"}
    )
    assert broken.status_code == 400 and b"does not compile" in broken.content
    assert not EmailTemplate.objects.exists()

    saved = approver_client.post(edit_url("received"), {**custom, "action": "save"})
    assert saved.status_code == 302 and EmailTemplate.objects.get().updated_by == approver
    request = PrivacyRequestFactory(subject_name="Robin <R>")
    with commit():
        notifications.notify_received(request)
    assert mail.outbox[-1].body.startswith("Dear Robin <R>, ref ")  # plain text: not escaped
    assert AuditEvent.objects.filter(action="email_template.updated").exists()

    reset = approver_client.post(reverse("requests:email_template_reset", args=["received"]))
    assert reset.status_code == 302 and not EmailTemplate.objects.exists()
    assert notifications.template_source("received") == notifications.template_default("received")


def test_html_values_are_escaped(commit):
    request = PrivacyRequestFactory(subject_name="<script>x</script>")
    with commit():
        notifications.notify_received(request)
    html = mail.outbox[-1].alternatives[0][0]
    assert "<script>x" not in html and "&lt;script&gt;x" in html


def test_only_approvers_edit_templates(approver):
    reviewer = StaffFactory(roles=[Role.REVIEWER])
    client = Client()
    client.force_login(reviewer)
    assert client.get(reverse("requests:email_templates")).status_code == 403
    assert client.post(edit_url("received"), {**parts(), "action": "save"}).status_code == 403
    with pytest.raises(PermissionDenied):
        notifications.template_save("received", parts(), actor=reviewer)
    assert b"Emails" not in client.get("/").content.split(b"<main")[0]


def test_a_failed_send_is_retried_and_never_blocks_the_staff_action(
    approver, commit, monkeypatch, settings
):
    settings.SUBJECT_EMAIL_MAX_ATTEMPTS = 3
    result = in_review_result("zoom", subject_email="denied@example.com")
    request = result.request

    def broken_send(self, fail_silently=False):
        raise ConnectionRefusedError("smtp down for denied@example.com")

    with time_machine.travel(START, tick=False) as clock:
        monkeypatch.setattr("django.core.mail.EmailMessage.send", broken_send)
        with commit():
            privacy_request_deny(request, actor=approver, reason="Manifestly unfounded")
        request.refresh_from_db()
        assert request.status == PrivacyRequest.Status.DENIED  # the action stands
        email = OutboundEmail.objects.get(template_key="denied")
        assert (email.status, email.attempts) == (OutboundEmail.Status.RETRYING, 1)
        assert email.last_error == "ConnectionRefusedError"  # no address in the error
        assert email.text_body  # kept (encrypted) for the retry
        assert notifications.email_sweep() == 0  # not due yet
        clock.shift(dt.timedelta(minutes=1, seconds=1))
        assert notifications.email_sweep() == 1
        email.refresh_from_db()
        assert email.attempts == 2
        monkeypatch.undo()
        clock.shift(dt.timedelta(minutes=2, seconds=1))
        notifications.email_sweep()
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.SENT and email.text_body == ""
    assert mail.outbox[-1].to == ["denied@example.com"]
    assert "Manifestly unfounded" in mail.outbox[-1].body
    staff = Client()
    staff.force_login(approver)
    page = staff.get(reverse("requests:detail", args=[request.pk])).content.decode()
    assert "Request denied" in page and "Sent" in page
    actions = list(AuditEvent.objects.values_list("action", flat=True))
    assert actions.count("email.failed") == 2 and "email.sent" in actions


def test_an_email_is_given_up_after_the_last_attempt(commit, monkeypatch, settings):
    settings.SUBJECT_EMAIL_MAX_ATTEMPTS = 1
    monkeypatch.setattr(
        "django.core.mail.EmailMessage.send",
        lambda self, fail_silently=False: (_ for _ in ()).throw(OSError("down")),
    )
    with commit():
        email = notifications.notify_deletion_done(PrivacyRequestFactory(), [])
    email.refresh_from_db()
    assert email.status == OutboundEmail.Status.FAILED and email.to_address == ""
    assert notifications.email_sweep() == 0


def test_the_deletion_notice_and_stored_content_is_encrypted(commit):
    request = PrivacyRequestFactory(subject_email="gone@example.com")
    systems = [{"name": "Zoom", "deleted": True, "reason": ""}]
    email = notifications.notify_deletion_done(request, systems)  # queued, not yet sent
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT to_address, text_body FROM requests_app_outboundemail WHERE id = %s",
            [email.pk],
        )
        raw = cursor.fetchone()
    assert "gone@example.com" not in raw[0] and "deleted" not in raw[1]
    notifications.email_send(email.pk)
    assert mail.outbox[-1].subject == "Your data was deleted"


def test_an_edit_saved_before_todays_rules_is_not_sent_raw(commit):
    from requests_app.models import EmailTemplate

    defaults = notifications.template_default("denied")
    EmailTemplate.objects.create(
        key="denied",
        subject=defaults["subject"],
        text_body=defaults["text_body"],
        html_body="<p>{{ subject_name|safe }}</p>{{ denial_notice }}",
    )
    request = PrivacyRequestFactory(subject_name='<img src=x onerror="alert(1)">')
    message = notifications.email_render("denied", notifications.request_context(request))
    assert "<img" not in message.html_body
    assert message.html_body.startswith(
        notifications.email_render(
            "denied", notifications.request_context(request), parts=defaults
        ).html_body[:20]
    )
