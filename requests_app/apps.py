from django.apps import AppConfig


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = "Privacy requests"

    def ready(self) -> None:
        from connectors.signals import connection_retired, connection_usable
        from portal.report_storage import blob_owner_register
        from requests_app import blob_owners, receivers

        blob_owner_register(
            "requests_app.Report", blob_owners.report_blob_names, blob_owners.report_blob_renamed
        )
        blob_owner_register(
            "requests_app.DirectContactFile",
            blob_owners.contact_file_blob_names,
            blob_owners.contact_file_blob_renamed,
        )

        connection_usable.connect(
            receivers.resume_fetches_on_connection_usable,
            dispatch_uid="requests_app.resume_fetches_on_connection_usable",
        )
        connection_retired.connect(
            receivers.end_fetches_on_connection_retired,
            dispatch_uid="requests_app.end_fetches_on_connection_retired",
        )
