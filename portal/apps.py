from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Imported for their side effects: system checks, the MFA signal receivers and
        # the receiver keeping the SQLite files private.
        from portal import checks, middleware, private_files  # noqa: F401
