from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Imported for their side effects: system checks, the MFA signal receivers, the
        # receiver keeping the SQLite files private, the one verifying staff addresses and
        # the ones writing sign-ins and two-factor changes to the audit trail.
        from portal import (  # noqa: F401
            audit_receivers,
            checks,
            middleware,
            private_files,
            staff_emails,
        )
