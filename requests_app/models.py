"""Privacy requests, what each connection returned for them, and the fetched objects."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


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
