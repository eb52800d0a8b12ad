from django.urls import path

from requests_app.views import staff

app_name = "requests"

urlpatterns = [
    path("", staff.request_list, name="list"),
]
