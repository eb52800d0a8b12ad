"""The system contacts' pages (no staff account): included at /contact/ by portal/urls.py."""

from django.urls import path

from requests_app.views import contact

app_name = "contact"

urlpatterns = [
    path("<int:task_id>/", contact.contact_task, name="task"),
]
