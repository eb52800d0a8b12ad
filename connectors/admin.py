"""Read-mostly admin for connections: secrets and tokens are never shown or editable.

Connections are created and authorised in the portal (OAuth), not here.
"""

from django.contrib import admin

from connectors.models import Connection

SECRET_FIELDS = ("client_secret", "access_token", "refresh_token")


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "provider", "status", "access_mode", "last_verified_at")
    list_filter = ("provider", "status", "access_mode")
    search_fields = ("name", "client_id")
    exclude = SECRET_FIELDS
    readonly_fields = (
        "provider",
        "client_id",
        "access_token_expires_at",
        "refresh_token_expires_at",
        "token_generation",
        "granted_scopes",
        "api_base_url",
        "status",
        "status_changed_at",
        "last_verified_at",
        "last_error",
        "last_error_at",
        "verification_notes",
        "authorised_by",
        "authorised_at",
        "authorised_account",
        "created_by",
        "created_at",
    )
    filter_horizontal = ("owners",)

    def has_add_permission(self, request) -> bool:
        return False
