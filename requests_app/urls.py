from django.urls import path

from requests_app.views import staff

app_name = "requests"

urlpatterns = [
    path("", staff.request_list, name="list"),
    path("new/", staff.request_new, name="new"),
    path("<int:pk>/", staff.request_detail, name="detail"),
    path("<int:pk>/extend/", staff.request_extend, name="extend"),
    path("<int:pk>/results/", staff.request_results, name="results"),
    path("<int:pk>/fetch/", staff.request_fetch, name="fetch"),
    path("<int:pk>/results/<int:result_pk>/retry/", staff.result_retry, name="result_retry"),
]
