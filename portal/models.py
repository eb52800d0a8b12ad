"""Staff accounts and the audit trail."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A staff member or administrator; signs in with email, never a username."""

    username = None
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.get_full_name() or self.email


class AuditEvent(models.Model):
    """One thing somebody (or the system) did. Holds identifiers, never personal data."""

    class ActorType(models.TextChoices):
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System"
        API = "api", "API client"
        SUBJECT = "subject", "Data subject"
        CONTACT = "contact", "System contact"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_events",
    )
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "created_at"])]

    def __str__(self) -> str:
        return f"{self.action} on {self.target_type}:{self.target_id}"


API_TOKEN_DEFAULT_DAYS = 90


def api_token_default_expiry():
    """Tokens expire: an integration leaked or forgotten stops working on its own."""
    return timezone.now() + timedelta(days=API_TOKEN_DEFAULT_DAYS)


class ApiToken(models.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored.

    A revoked token stays revoked: ``save()`` refuses to clear ``revoked_at``.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(default=api_token_default_expiry)
    revoked_at = models.DateTimeField(null=True, blank=True)
    read_only = models.BooleanField(
        default=False, help_text="Read-only tokens may list and read but not create requests."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and self.revoked_at is None:
            stored = ApiToken.objects.filter(pk=self.pk).values_list("revoked_at", flat=True)
            if stored.first() is not None:
                raise ValueError("A revoked API token cannot be reinstated; create a new one.")
        super().save(*args, **kwargs)

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"
