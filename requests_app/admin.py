"""Admin views of requests and results: read-mostly, changes go through the staff portal."""

from __future__ import annotations

from django.contrib import admin

from requests_app.models import PrivacyRequest, Result


class ResultInline(admin.TabularInline):
    model = Result
    fields = ("connection_name", "provider", "workflow", "status", "error_code", "finished_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PrivacyRequest)
class PrivacyRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "request_type", "regulation", "status", "source", "due_at")
    list_filter = ("status", "request_type", "regulation", "source")
    search_fields = ("subject_email", "reference")
    date_hierarchy = "received_at"
    inlines = [ResultInline]
    readonly_fields = [f.name for f in PrivacyRequest._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Result)
class ResultAdmin(admin.ModelAdmin):
    list_display = ("id", "request", "connection_name", "provider", "status", "attempts")
    list_filter = ("status", "provider", "workflow")
    readonly_fields = [f.name for f in Result._meta.fields if f.name != "checkpoint"]
    exclude = ("checkpoint",)

    def has_add_permission(self, request):
        return False
