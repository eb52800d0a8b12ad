from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Imported for their side effects: system checks, the MFA signal receivers, the
        # receiver keeping the SQLite files private and the one verifying staff addresses.
        from portal import checks, middleware, private_files, staff_emails  # noqa: F401
