"""The dashboard at the site root, under its un-namespaced name ``dashboard``."""

from django.urls import path

from requests_app.views import dashboard

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
]
