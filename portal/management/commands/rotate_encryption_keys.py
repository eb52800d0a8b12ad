from django.core.management.base import BaseCommand

from portal.crypto import rotate_encryption


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret and file (reports, Direct Contact uploads) with the "
        "first key in FIELD_ENCRYPTION_KEY. "
        "Run it after putting a new key first; then the old keys can be removed."
    )

    def handle(self, *args, **options):
        count = rotate_encryption()
        self.stdout.write(f"Re-encrypted {count} stored secrets and files with the current key.")
