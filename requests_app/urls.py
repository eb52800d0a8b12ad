from django.urls import path

from requests_app.views import direct_contact_staff, review, staff, subject_staff

app_name = "requests"

urlpatterns = [
    path("", staff.request_list, name="list"),
    path("new/", staff.request_new, name="new"),
    path("<int:pk>/", staff.request_detail, name="detail"),
    path("<int:pk>/extend/", staff.request_extend, name="extend"),
    path("<int:pk>/results/", staff.request_results, name="results"),
    path("<int:pk>/fetch/", staff.request_fetch, name="fetch"),
    path("<int:pk>/results/<int:result_pk>/retry/", staff.result_retry, name="result_retry"),
    # Review and release.
    path("<int:pk>/review/", review.review_overview, name="review"),
    path("<int:pk>/review/preview/", review.review_preview, name="preview"),
    path("<int:pk>/review/approve/", review.review_approve, name="approve"),
    path("<int:pk>/review/deny/", review.review_deny, name="deny"),
    path("<int:pk>/review/reopen/", review.review_reopen, name="reopen"),
    path(
        "<int:pk>/review/reports/<int:report_pk>/download/",
        review.report_download,
        name="report_download",
    ),
    path("<int:pk>/review/records/<int:record_pk>/edit/", review.record_edit, name="record_edit"),
    path(
        "<int:pk>/review/edits/<int:edit_pk>/revert/",
        review.record_edit_revert,
        name="record_edit_revert",
    ),
    path(
        "<int:pk>/review/<int:result_pk>/<str:object_type>/",
        review.review_type,
        name="review_type",
    ),
    path(
        "<int:pk>/review/<int:result_pk>/<str:object_type>/include/",
        review.review_type_toggle,
        name="review_type_toggle",
    ),
    path(
        "<int:pk>/review/<int:result_pk>/<str:object_type>/field/",
        review.review_field_toggle,
        name="review_field_toggle",
    ),
    path(
        "<int:pk>/review/<int:result_pk>/<str:object_type>/records/",
        review.records_include,
        name="records_include",
    ),
    # The data subject's side: verification, delivery, editable emails.
    path(
        "<int:pk>/verify-identity/",
        subject_staff.request_verify_identity,
        name="verify_identity",
    ),
    path(
        "<int:pk>/send-verification/",
        subject_staff.request_send_verification,
        name="send_verification",
    ),
    path("<int:pk>/reissue-link/", subject_staff.request_reissue_link, name="reissue_link"),
    path("emails/", subject_staff.email_template_list, name="email_templates"),
    path("emails/<slug:key>/", subject_staff.email_template_edit, name="email_template_edit"),
    path(
        "emails/<slug:key>/reset/",
        subject_staff.email_template_reset,
        name="email_template_reset",
    ),
    # Direct Contact tasks.
    path("<int:pk>/direct-contact/add/", direct_contact_staff.task_add, name="dc_add"),
    path(
        "<int:pk>/direct-contact/<int:result_pk>/remind/",
        direct_contact_staff.task_remind,
        name="dc_remind",
    ),
    path(
        "<int:pk>/direct-contact/<int:result_pk>/resend/",
        direct_contact_staff.task_resend,
        name="dc_resend",
    ),
    path(
        "<int:pk>/direct-contact/<int:result_pk>/handled/",
        direct_contact_staff.task_handled,
        name="dc_handled",
    ),
    path(
        "<int:pk>/direct-contact/<int:result_pk>/contact/",
        direct_contact_staff.task_contact,
        name="dc_contact",
    ),
    path(
        "<int:pk>/direct-contact/<int:result_pk>/accept/",
        direct_contact_staff.task_accept,
        name="dc_accept",
    ),
    path(
        "<int:pk>/direct-contact/<int:result_pk>/files/<int:file_pk>/",
        direct_contact_staff.task_file,
        name="dc_file",
    ),
]
