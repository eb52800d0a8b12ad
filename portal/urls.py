from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path

from portal import views

# The admin signs in through allauth (and so through MFA and throttling) too.
admin.site.login = login_required(admin.site.login)
admin.site.site_header = "DSAR portal administration"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("accounts/", include("allauth.urls")),
    path("requests/", include("requests_app.urls")),
    path("connections/", include("connectors.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
]

handler403 = "portal.views.permission_denied"
handler404 = "portal.views.page_not_found"
handler500 = "portal.views.server_error"
