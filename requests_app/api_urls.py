from django.urls import path, re_path

from requests_app import api

urlpatterns = [
    path("requests", api.requests_collection, name="api_requests"),
    path("requests/<int:pk>", api.request_detail, name="api_request"),
    path("requests/<int:pk>/records", api.request_records, name="api_request_records"),
    path("connections", api.connections, name="api_connections"),
    re_path(r"^.*$", api.not_found),
]
