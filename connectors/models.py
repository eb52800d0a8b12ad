"""A connection to one Webex or Zoom account, authorised through OAuth 2.0."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from portal.crypto import EncryptedSecretField

# Sane bounds for the Direct Contact numbers: the database (SQLite) would store any
# integer, and a request must be answered within months, not centuries.
REMINDER_DAYS_BOUNDS = (1, 90)
ESCALATION_DAYS_BOUNDS = (1, 365)


def _bounded(bounds: tuple[int, int]) -> list:
    return [MinValueValidator(bounds[0]), MaxValueValidator(bounds[1])]


class Provider(models.TextChoices):
    WEBEX = "webex", "Webex"
    ZOOM = "zoom", "Zoom"


class Connection(models.Model):
    class Status(models.TextChoices):
        NOT_CONNECTED = "not_connected", "Not connected"
        ACTIVE = "active", "Active"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"
        ERROR = "error", "Verification failed"
        DISCONNECTED = "disconnected", "Disconnected"

    class AccessMode(models.TextChoices):
        API = "api", "Fetch through the API"
        DIRECT_CONTACT = "direct_contact", "Direct Contact only"

    class EscalationPolicy(models.TextChoices):
        SKIP = "skip", "Skip this system"
        BLOCK = "block", "Block the request"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    name = models.CharField(max_length=100, unique=True)
    client_id = models.CharField(max_length=255)
    client_secret = EncryptedSecretField()
    access_token = EncryptedSecretField(null=True, blank=True)
    refresh_token = EncryptedSecretField(null=True, blank=True)
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    # Seconds the provider said the access token lives (``expires_in``): the refresh
    # margin is at most half of it, so short-lived tokens are not refreshed on every call.
    access_token_lifetime = models.PositiveIntegerField(null=True, blank=True)
    # Incremented on every token write, so a worker can tell another one refreshed.
    token_generation = models.PositiveIntegerField(default=0)
    granted_scopes = models.JSONField(default=list, blank=True)
    # Zoom names a regional API host in its token response.
    api_base_url = models.URLField(blank=True)
    access_mode = models.CharField(
        max_length=16, choices=AccessMode.choices, default=AccessMode.API
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.NOT_CONNECTED, db_index=True
    )
    status_changed_at = models.DateTimeField(default=timezone.now)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # Advice from the last verification that does not stop the connection working.
    verification_notes = models.TextField(blank=True)
    # Products the last verification found missing from the account ("Zoom Phone"): their
    # scopes may be granted and still read nothing.
    missing_products = models.JSONField(default=list, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    authorised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    authorised_at = models.DateTimeField(null=True, blank=True)
    # The provider account that granted access (Webex person / Zoom user), for the record.
    authorised_account = models.CharField(max_length=255, blank=True)
    contact_email = models.EmailField(
        "Direct Contact address",
        blank=True,
        help_text="The person who owns this system and answers Direct Contact tasks.",
    )
    escalation_policy = models.CharField(
        max_length=8, choices=EscalationPolicy.choices, default=EscalationPolicy.BLOCK
    )
    reminder_days = models.PositiveSmallIntegerField(
        default=5, validators=_bounded(REMINDER_DAYS_BOUNDS)
    )
    escalation_days = models.PositiveSmallIntegerField(
        default=14, validators=_bounded(ESCALATION_DAYS_BOUNDS)
    )
    owners = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="owned_connections",
        help_text="Staff told when this connection needs attention.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"


class WebexParticipantIndex(models.Model):
    """One connection's Webex participant index: what it covers, who built it, the lease.

    The entries (``WebexIndexedInstance``) hold instance ids, start times and keyed
    hashes of participants' emails, never an email or a name; see
    ``connectors/participant_index.py`` and ``connectors/providers/webex_index.py``.
    """

    connection = models.OneToOneField(
        Connection, on_delete=models.CASCADE, related_name="webex_participant_index"
    )
    version = models.PositiveSmallIntegerField(default=0)
    # What the index was built for: another organisation, scopes or key means a rebuild.
    org_id = models.CharField(max_length=255, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    key_id = models.CharField(max_length=32, blank=True)
    # Instances starting in [covered_from, watermark) are indexed.
    covered_from = models.DateTimeField(null=True, blank=True)
    watermark = models.DateTimeField(null=True, blank=True)
    # The position of an unfinished build or top-up (windows and page cursor only).
    scan = models.JSONField(null=True, blank=True)
    # Single flight: whoever holds an unexpired lease scans; the others wait.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Webex participant index of connection {self.connection_id}"


class WebexIndexedInstance(models.Model):
    """One ended or in-progress meeting instance: its id, start and whether it settled."""

    index = models.ForeignKey(
        WebexParticipantIndex, on_delete=models.CASCADE, related_name="instances"
    )
    instance_id = models.CharField(max_length=255)
    start = models.DateTimeField()
    # Ended for long enough when read that Webex will add no more participants.
    settled = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["index", "instance_id"], name="webex_index_instance")
        ]
        indexes = [models.Index(fields=["index", "start"], name="webex_index_start")]

    def __str__(self) -> str:
        return f"Webex instance {self.instance_id}"


class WebexIndexedParticipant(models.Model):
    """A keyed hash (HMAC-SHA256, truncated) of one participant's normalised email."""

    instance = models.ForeignKey(
        WebexIndexedInstance, on_delete=models.CASCADE, related_name="participants"
    )
    email_hash = models.CharField(max_length=32, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "email_hash"], name="webex_index_participant"
            )
        ]

    def __str__(self) -> str:
        return f"participant hash {self.email_hash[:8]}..."
