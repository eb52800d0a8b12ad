"""Privacy requests, what each connection returned for them, and the fetched objects."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.crypto import EncryptedSecretField


class RequestType(models.TextChoices):
    ACCESS = "access", "Access"
    DELETION = "deletion", "Deletion"


class Regulation(models.TextChoices):
    GDPR = "gdpr", "GDPR"
    CCPA = "ccpa", "CCPA"
    OTHER = "other", "Other"


class PrivacyRequest(models.Model):
    class Source(models.TextChoices):
        STAFF = "staff", "Staff"
        PUBLIC_FORM = "public_form", "Public form"
        API = "api", "API"

    class Status(models.TextChoices):
        AWAITING_VERIFICATION = "awaiting_verification", "Awaiting verification"
        PROCESSING = "processing", "Processing"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        DELIVERED = "delivered", "Delivered"
        CLOSED = "closed", "Closed"
        PAUSED = "paused", "Paused"
        DENIED = "denied", "Denied"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    OPEN_STATUSES = (
        Status.AWAITING_VERIFICATION,
        Status.PROCESSING,
        Status.IN_REVIEW,
        Status.APPROVED,
        Status.PAUSED,
        Status.FAILED,
    )

    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    request_type = models.CharField(max_length=16, choices=RequestType.choices)
    subject_email = models.EmailField(db_index=True)
    subject_name = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.STAFF)
    regulation = models.CharField(max_length=8, choices=Regulation.choices)
    received_at = models.DateTimeField(default=timezone.now)
    original_due_at = models.DateTimeField()
    due_at = models.DateTimeField(db_index=True)
    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)
    status = models.CharField(
        max_length=24, choices=Status.choices, default=Status.PROCESSING, db_index=True
    )
    # Why the request is paused, denied, cancelled or failed.
    status_reason = models.TextField(blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    possible_duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)
    # Who last changed the review (selection or edits): with REVIEW_FOUR_EYES on,
    # that person may not approve.
    review_last_editor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The regulation-specific wording of a denial, kept for the subject notice.
    denial_notice = models.TextField(blank=True)
    # Set while an approval builds the report outside any transaction: the review is
    # frozen meanwhile, and only the approval holding this token may finish.
    approval_token = models.UUIDField(null=True, blank=True)
    approval_started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.get_request_type_display()} request #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def is_extended(self) -> bool:
        return self.extended_at is not None


class Result(models.Model):
    """What one connection produced for one request: an API fetch or a Direct Contact task."""

    class Workflow(models.TextChoices):
        API = "api", "API fetch"
        DIRECT_CONTACT_ACCESS = "dc_access", "Direct Contact access"
        DIRECT_CONTACT_DELETION = "dc_deletion", "Direct Contact deletion"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        WAITING = "waiting", "Waiting on rate limit"
        PAUSED = "paused", "Paused"
        SUCCEEDED = "succeeded", "Finished"
        NO_DATA = "no_data", "No data found"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    FINISHED_STATUSES = (Status.SUCCEEDED, Status.NO_DATA, Status.FAILED, Status.SKIPPED)

    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="results")
    connection = models.ForeignKey(
        "connectors.Connection", null=True, on_delete=models.SET_NULL, related_name="results"
    )
    # Kept so the result still reads well if the connection is deleted later.
    provider = models.CharField(max_length=16)
    connection_name = models.CharField(max_length=100)
    workflow = models.CharField(max_length=16, choices=Workflow.choices, default=Workflow.API)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    # windows_done/total, pages, records, api_calls, waiting_until, per-object-type notes.
    progress = models.JSONField(default=dict, blank=True)
    # Where a resumed fetch picks up: provider-defined, ids and cursors only.
    checkpoint = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    # Runs started (time slices and resumes included), and failures in a row since the
    # last stored batch: only the latter decides when to give up.
    attempts = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    # The dispatch that owns the current run; a task holding another one stops.
    run_token = models.UUIDField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["connection_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "connection"], name="one_result_per_connection"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection_name} for request #{self.request_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES


class Record(models.Model):
    """One fetched object, exactly as the provider returned it (after data rules)."""

    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="records")
    object_type = models.CharField(max_length=64)
    external_id = models.CharField(max_length=255)
    data = models.JSONField()
    fetched_at = models.DateTimeField(default=timezone.now)
    # Review: None follows the object type's default; True/False is a staff decision.
    included = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["object_type", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["result", "object_type", "external_id"], name="one_record_per_object"
            )
        ]
        indexes = [models.Index(fields=["result", "object_type"])]

    def __str__(self) -> str:
        return f"{self.object_type} {self.external_id}"


class ObjectTypeSelection(models.Model):
    """Staff choices for one object type of one Result; a missing row means the defaults.

    ``included`` None follows the default (released); ``fields`` maps a dotted field
    path to True/False where staff overrode the field's default.
    """

    result = models.ForeignKey(Result, on_delete=models.CASCADE, related_name="selections")
    object_type = models.CharField(max_length=64)
    included = models.BooleanField(null=True, blank=True)
    fields = models.JSONField(default=dict, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["result_id", "object_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["result", "object_type"], name="one_selection_per_object_type"
            )
        ]

    def __str__(self) -> str:
        return f"Selection of {self.object_type} in result #{self.result_id}"


class RecordEdit(models.Model):
    """A staff correction of one value, kept beside the fetched data (never over it).

    ``original`` is the value before the edit, or ``MISSING_ORIGINAL`` when the record
    lacked the path. A reverted edit stays for the record; only one edit per path is
    active at a time.
    """

    MISSING_ORIGINAL = {"__missing__": True}

    record = models.ForeignKey(Record, on_delete=models.CASCADE, related_name="edits")
    path = models.CharField(max_length=255)
    # null=True so that a JSON null (None) can be stored as a value.
    original = models.JSONField(null=True, blank=True)
    value = models.JSONField(null=True, blank=True)
    reason = models.TextField()
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    edited_at = models.DateTimeField(default=timezone.now)
    reverted_at = models.DateTimeField(null=True, blank=True)
    reverted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["record_id", "path", "edited_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "path"],
                condition=models.Q(reverted_at__isnull=True),
                name="one_active_edit_per_path",
            ),
            models.CheckConstraint(condition=~models.Q(reason=""), name="edit_reason_required"),
        ]

    def __str__(self) -> str:
        return f"Edit of {self.path} in record #{self.record_id}"

    @property
    def is_active(self) -> bool:
        return self.reverted_at is None

    @property
    def original_missing(self) -> bool:
        return self.original == self.MISSING_ORIGINAL


class ReportImmutable(Exception):
    """An approved report's content, checksum or approval was about to change."""


class Report(models.Model):
    """The released report of one review round: an encrypted zip and its checksum.

    Immutable once created: only ``superseded_at`` may be set (once), when a new
    review round replaces it. The old row, its blob and its audit stay.
    """

    request = models.ForeignKey(PrivacyRequest, on_delete=models.CASCADE, related_name="reports")
    round = models.PositiveIntegerField()
    storage_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    record_count = models.PositiveIntegerField()
    generated_at = models.DateTimeField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_at = models.DateTimeField()
    superseded_at = models.DateTimeField(null=True, blank=True)
    # What was released: per Result and object type, the selection and the edits applied.
    selection_snapshot = models.JSONField(default=dict, blank=True)

    MUTABLE_FIELDS = frozenset({"superseded_at"})

    class Meta:
        ordering = ["request_id", "-round"]
        constraints = [
            models.UniqueConstraint(fields=["request", "round"], name="one_report_per_round")
        ]

    def __str__(self) -> str:
        return f"Report round {self.round} of request #{self.request_id}"

    def save(self, *args, **kwargs) -> None:
        """Create once; afterwards only a first ``superseded_at`` may be written."""
        if not self._state.adding and self.pk is not None:
            stored = Report.objects.filter(pk=self.pk).values().first()
            if stored is None:
                raise ReportImmutable("The report no longer exists.")
            changed = {
                f.attname
                for f in self._meta.concrete_fields
                if stored[f.attname] != getattr(self, f.attname)
            }
            if changed - self.MUTABLE_FIELDS:
                raise ReportImmutable("An approved report cannot change.")
            if "superseded_at" in changed and stored["superseded_at"] is not None:
                raise ReportImmutable("The report is already superseded.")
        super().save(*args, **kwargs)

    @property
    def is_current(self) -> bool:
        return self.superseded_at is None


class IntakeLock(models.Model):
    """A row to lock while checking a new request against open ones for the same email.

    Emails hash to one of a fixed number of slots, so the table holds no personal
    data and stays small; two emails sharing a slot only wait for each other.
    """

    slot = models.PositiveIntegerField(primary_key=True)

    def __str__(self) -> str:
        return f"intake lock {self.slot}"


class IdempotencyKey(models.Model):
    """A client's key for one request creation: the same key and body replay its result.

    Keys belong to the user who sent them (API keys and staff form tokens are kept
    apart by a prefix) and expire; ``fingerprint`` is a digest of the body.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=300)
    fingerprint = models.CharField(max_length=64)
    privacy_request = models.ForeignKey(
        PrivacyRequest, null=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")
        ]

    def __str__(self) -> str:
        return f"idempotency key {self.pk} of user {self.user_id}"


# --- The data subject's side: links, messages, emails (see services/verification.py,
# services/delivery.py and services/notifications.py) ------------------------------------


class SubjectLink(models.Model):
    """A link mailed to the data subject: email verification, status page or download.

    Only the SHA-256 of the token is stored; the token itself appears in one email and
    nowhere else. A download link also carries the current one-time code (hashed with
    a server key), its expiry and the wrong tries so far.
    """

    class Purpose(models.TextChoices):
        VERIFY = "verify", "Email verification"
        STATUS = "status", "Status page"
        DOWNLOAD = "download", "Report download"

    request = models.ForeignKey(
        PrivacyRequest, on_delete=models.CASCADE, related_name="subject_links"
    )
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    report = models.ForeignKey(
        Report, null=True, blank=True, on_delete=models.CASCADE, related_name="links"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    max_downloads = models.PositiveIntegerField(default=0)
    download_count = models.PositiveIntegerField(default=0)
    code_hash = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["request", "purpose"])]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} link #{self.pk} of request #{self.request_id}"


class SubjectMessage(models.Model):
    """The optional free text a subject wrote on the public form (personal data)."""

    request = models.OneToOneField(
        PrivacyRequest, on_delete=models.CASCADE, related_name="subject_message"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Message on request #{self.request_id}"


class EmailTemplate(models.Model):
    """A staff edit of one subject email; without a row the file default applies."""

    key = models.CharField(max_length=32, unique=True)
    subject = models.CharField(max_length=200)
    text_body = models.TextField()
    html_body = models.TextField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"Email template {self.key}"


class OutboundEmail(models.Model):
    """One email to a data subject and how sending it went.

    The rendered message (it may hold a link or a code) is kept encrypted only until
    it is sent or given up on, then wiped; the row and its status stay.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        RETRYING = "retrying", "Failed, will retry"
        FAILED = "failed", "Failed"

    request = models.ForeignKey(
        PrivacyRequest, on_delete=models.CASCADE, related_name="outbound_emails"
    )
    template_key = models.CharField(max_length=32)
    to_address = EncryptedSecretField(blank=True)
    subject = EncryptedSecretField(blank=True)
    text_body = EncryptedSecretField(blank=True)
    html_body = EncryptedSecretField(blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.template_key} email #{self.pk} of request #{self.request_id}"


# =========================================================================================
# Direct Contact tasks and the retention purge
# =========================================================================================
#
# A Direct Contact task is a Result (workflow ``dc_access`` or ``dc_deletion``): the
# request page, the API and the dashboard show it beside the API fetches. What only a
# task has (the contact, the link, the answers) lives in ``DirectContactTask``, one to
# one with its Result; its history is the audit trail of the Result.


class DirectContactTask(models.Model):
    """The contact-facing half of a Direct Contact Result: link, timing, answers."""

    class State(models.TextChoices):
        NOT_SENT = "not_sent", "Not sent"
        SENT = "sent", "Sent, waiting for the contact"
        ANSWERED = "answered", "Answered, waiting for staff"
        BLOCKED = "blocked", "Escalated, blocking the request"
        ACCEPTED = "accepted", "Accepted"
        HANDLED = "handled", "Handled by staff"
        SKIPPED = "skipped", "Escalated, system skipped"

    OPEN_STATES = (State.NOT_SENT, State.SENT, State.ANSWERED, State.BLOCKED)

    class Answer(models.TextChoices):
        DATA = "data", "Data sent"
        NO_DATA = "no_data", "No data held"
        DELETED = "deleted", "Deleted"
        NOT_DELETED = "not_deleted", "Could not delete"

    result = models.OneToOneField(Result, on_delete=models.CASCADE, related_name="direct_contact")
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.NOT_SENT, db_index=True
    )
    # Copied from the connection when the task is made; staff may change it per task.
    contact_email = models.EmailField(blank=True)
    # SHA-256 (hex) of the link's secret: what a presented link is checked against.
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # The live secret itself, encrypted (FIELD_ENCRYPTION_KEY), so a reminder repeats the
    # link the first email promised instead of replacing it; blanked when the link ends.
    token_secret = EncryptedSecretField(blank=True, default="")
    token_expires_at = models.DateTimeField(null=True, blank=True)
    first_sent_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    # Reminders and escalation count from here (first send, or a change of contact).
    clock_started_at = models.DateTimeField(null=True, blank=True)
    next_reminder_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reminder_count = models.PositiveIntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)
    answer = models.CharField(max_length=16, choices=Answer.choices, blank=True)
    # "Could not delete" needs a reason; other answers may carry a note.
    answer_note = models.TextField(blank=True)
    # [{"label": ..., "value": ...}, ...] for an access answer.
    answer_fields = models.JSONField(default=list, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    staff_note = models.TextField(blank=True)
    # The last email that could not be sent (kind, error class), retried by the tick.
    mail_pending = models.CharField(max_length=16, blank=True)
    mail_error = models.CharField(max_length=200, blank=True)
    mail_failed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["result_id"]

    def __str__(self) -> str:
        return f"Direct Contact task of result #{self.result_id}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    @property
    def is_deletion(self) -> bool:
        return self.result.workflow == Result.Workflow.DIRECT_CONTACT_DELETION


class DirectContactFile(models.Model):
    """A file a contact uploaded, stored encrypted under ``contact-files/``."""

    task = models.ForeignKey(DirectContactTask, on_delete=models.CASCADE, related_name="files")
    storage_name = models.CharField(max_length=255, unique=True)
    file_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["task_id", "uploaded_at", "id"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.size} bytes)"


class DirectContactReminder(models.Model):
    """One reminder per task and day: the unique row is the claim two workers race for."""

    task = models.ForeignKey(DirectContactTask, on_delete=models.CASCADE, related_name="reminders")
    day = models.DateField()
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["task_id", "day"]
        constraints = [
            models.UniqueConstraint(fields=["task", "day"], name="one_reminder_per_task_and_day")
        ]

    def __str__(self) -> str:
        return f"Reminder of task #{self.task_id} on {self.day}"


class RequestPurge(models.Model):
    """The retention purge of one request: started, then finished (``purged_at``).

    A purge that stopped midway (``finished_at`` empty) is finished by the next run.
    """

    request = models.OneToOneField(PrivacyRequest, on_delete=models.CASCADE, related_name="purge")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Per step name, what it removed (counts only).
    steps = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Purge of request #{self.request_id}"
