"""Admin for staff accounts and the audit trail.

Administrators create staff here without a password: the new account gets an
email (allauth's password reset) to choose one, so no password ever travels.
"""

from __future__ import annotations

from allauth.account.forms import ResetPasswordForm
from allauth.core.context import request_context
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.http import HttpRequest

from portal.api_tokens import api_token_revoke
from portal.audit import audit_record
from portal.models import ApiToken, AuditEvent, User
from portal.staff_emails import staff_email_address_ensure


def staff_invitation_send(*, request: HttpRequest, user: User) -> None:
    """Email ``user`` a link to set their password (allauth's password-reset mail)."""
    form = ResetPasswordForm(data={"email": user.email})
    if not form.is_valid():
        raise ValueError("The invitation could not be sent to this address.")
    # allauth builds the link from the current request; on_commit may run outside it.
    with request_context(request):
        form.save(request)


def staff_invite(*, request: HttpRequest, user: User) -> None:
    """Make sure allauth knows the address as verified, then send the invitation."""
    staff_email_address_ensure(user)
    staff_invitation_send(request=request, user=user)


class StaffCreationForm(forms.ModelForm):
    """Add form: who they are, not a password (they set it from the invitation)."""

    class Meta:
        model = User
        fields = ("email", "first_name", "last_name", "is_superuser")
        help_texts = {
            "is_superuser": "Administrators manage staff accounts and can use the Django admin.",
        }


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = StaffCreationForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "first_name", "last_name", "is_superuser"),
                "description": (
                    "The new staff member receives an email with a link to set their "
                    "password. They enrol in two-factor authentication when they first sign in."
                ),
            },
        ),
    )
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Name", {"fields": ("first_name", "last_name")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ("last_login", "date_joined")
    list_display = ("email", "first_name", "last_name", "is_staff", "is_superuser", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    actions = ["send_invitation"]

    def save_model(self, request, obj, form, change):
        if not change:
            # Staff accounts start without a usable password: the invitation sets it.
            obj.email = obj.email.strip().lower()
            obj.is_staff = True
            obj.set_unusable_password()
        super().save_model(request, obj, form, change)
        if not change:
            transaction.on_commit(lambda: staff_invite(request=request, user=obj))
            self.message_user(request, f"Invitation sent to {obj.email}.", messages.SUCCESS)

    @admin.action(description="Send a password-set invitation email")
    def send_invitation(self, request, queryset):
        sent = 0
        for user in queryset.filter(is_active=True):
            staff_invite(request=request, user=user)
            sent += 1
        self.message_user(request, f"{sent} invitation(s) sent.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit trail is written by services, never edited."""

    list_display = ("created_at", "action", "actor", "actor_type", "target_type", "target_id")
    list_filter = ("action", "actor_type", "target_type")
    search_fields = ("action", "target_id")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are issued by ``create_api_token``; here they are seen, renamed and revoked.

    Revocation is an action and cannot be undone: ``revoked_at`` is never editable
    and a revoked token is entirely read-only. Every change is audited.
    """

    list_display = (
        "prefix",
        "name",
        "user",
        "read_only",
        "status",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    fields = (
        "prefix",
        "name",
        "user",
        "read_only",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = (
        "prefix",
        "user",
        "read_only",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("read_only", "revoked_at", "expires_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # Revoke instead: the row and its audit trail stay.
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.revoked_at is not None:
            return self.fields
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            audit_record(
                action="api_token.changed",
                target=obj,
                actor=request.user,
                details={"fields": sorted(form.changed_data)},
            )

    @admin.action(description="Revoke selected tokens (cannot be undone)")
    def revoke(self, request, queryset):
        revoked = sum(api_token_revoke(token=t, actor=request.user) for t in queryset)
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)
