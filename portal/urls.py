from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from portal import views_audit

# The admin signs in through allauth (and so through MFA and throttling) too;
# signed-in non-staff get a 403 rather than Django's own login form.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "DSAR portal administration"
admin.site.site_title = "DSAR portal administration"

urlpatterns = [
    # The dashboard is about requests; requests_app serves it at the root.
    path("", include("requests_app.dashboard_urls")),
    path("accounts/", include("allauth.urls")),
    path("requests/", include("requests_app.urls")),
    path("connections/", include("connectors.urls")),
    path("audit/", views_audit.audit_log, name="audit_log"),
    path("api/v1/", include("requests_app.api_urls")),
    # Public pages for data subjects: a stable address linked from privacy notices.
    path("privacy/", include("requests_app.subject_urls")),
    path("contact/", include("requests_app.contact_urls")),
    path(settings.ADMIN_URL, admin.site.urls),
]

handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
handler429 = "portal.views.too_many_requests"
