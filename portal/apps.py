from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Imported for their side effects: system checks and the MFA signal receivers.
        from portal import checks, middleware  # noqa: F401
