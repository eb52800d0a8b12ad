from django.apps import AppConfig


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = "Privacy requests"

    def ready(self) -> None:
        from connectors.signals import connection_retired, connection_usable
        from requests_app import receivers

        connection_usable.connect(
            receivers.resume_fetches_on_connection_usable,
            dispatch_uid="requests_app.resume_fetches_on_connection_usable",
        )
        connection_retired.connect(
            receivers.end_fetches_on_connection_retired,
            dispatch_uid="requests_app.end_fetches_on_connection_retired",
        )
