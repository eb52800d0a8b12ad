"""The data subject's public pages, under /privacy/ (a stable address for privacy notices)."""

from django.urls import path

from requests_app.views import subject

app_name = "privacy"

urlpatterns = [
    path("", subject.request_form, name="form"),
    path("sent/", subject.request_sent, name="sent"),
    path("verify/", subject.verify, name="verify"),
    path("status/", subject.status, name="status"),
    path("download/", subject.download, name="download"),
    path("download/file/", subject.download_file, name="download_file"),
    path("brand.css", subject.brand_css, name="brand_css"),
]
