"""Create the demo administrator once, and print how to sign in every time.

``make run`` calls this on each start. The generated password is kept in
DATA_DIR/demo-admin-password (mode 600) so it can be printed again later.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from portal.models import User

DEMO_ADMIN_EMAIL = "admin@example.com"
PASSWORD_FILE_NAME = "demo-admin-password"


def _password_file() -> Path:
    return Path(settings.DATA_DIR) / PASSWORD_FILE_NAME


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def demo_admin_ensure() -> tuple[User, str | None]:
    """The demo superuser and its password if we know it; creates both when absent."""
    path = _password_file()
    stored = path.read_text().strip() if path.exists() else ""
    with transaction.atomic():
        user = User.objects.filter(email=DEMO_ADMIN_EMAIL).first()
        if user is None:
            password = stored or secrets.token_urlsafe(18)
            user = User.objects.create_superuser(email=DEMO_ADMIN_EMAIL, password=password)
            if not stored:
                _write_private(path, password + "\n")
            stored = password
        EmailAddress.objects.get_or_create(
            user=user, email=user.email, defaults={"primary": True, "verified": True}
        )
    if stored and user.check_password(stored):
        return user, stored
    return user, None


class Command(BaseCommand):
    help = "Create admin@example.com as a superuser with a random password if absent."

    def handle(self, *args, **options) -> None:
        user, password = demo_admin_ensure()
        if password:
            self.stdout.write(f"Sign in: {user.email} / {password}")
        else:
            self.stdout.write(
                f"Sign in: {user.email} (its password was changed; it is no longer "
                f"stored in {_password_file()})"
            )
