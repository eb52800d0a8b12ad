from django.urls import path

from connectors import views

app_name = "connectors"

urlpatterns = [
    path("", views.connection_list, name="list"),
    path("new/", views.connection_create, name="create"),
    path("oauth/<slug:provider>/callback/", views.oauth_callback, name="oauth_callback"),
    path("<int:pk>/", views.connection_detail, name="detail"),
    path("<int:pk>/edit/", views.connection_edit, name="edit"),
    path("<int:pk>/connect/", views.connection_connect, name="connect"),
    path("<int:pk>/verify/", views.connection_verify, name="verify"),
    path("<int:pk>/disconnect/", views.connection_disconnect, name="disconnect"),
    path("<int:pk>/delete/", views.connection_delete, name="delete"),
]
