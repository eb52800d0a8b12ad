from django.urls import path, re_path

from requests_app import api, api_review

urlpatterns = [
    path("requests", api.requests_collection, name="api_requests"),
    path("requests/<int:pk>", api.request_detail, name="api_request"),
    path("requests/<int:pk>/records", api_review.request_records, name="api_request_records"),
    path(
        "requests/<int:pk>/records/<int:record_pk>",
        api_review.record_update,
        name="api_request_record",
    ),
    path("requests/<int:pk>/selection", api_review.request_selection, name="api_selection"),
    path("requests/<int:pk>/approve", api_review.request_approve, name="api_approve"),
    path("requests/<int:pk>/deny", api_review.request_deny, name="api_deny"),
    path("requests/<int:pk>/report", api_review.request_report, name="api_report"),
    path("connections", api.connections, name="api_connections"),
    re_path(r"^.*$", api.not_found),
]
